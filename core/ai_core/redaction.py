"""Keep secrets out of logs, reprs and error messages.

Secrets reach text in two ways: a known key value (we hold it, so we can blank
it exactly) and a provider echoing a key back in an error body (we only know its
shape). Both are handled here so every other module has one function to call.

Only values that look like keys are remembered (:func:`looks_like_secret`): at
least :data:`MIN_SECRET_LENGTH` characters, no whitespace, letters and digits
both. Remembering an ordinary word ("temperature") would blank that word in
every later message of the process; a key too short or too plain to remember
is still masked wherever it has a known key shape (``sk-...``, ``xai-...``,
``AIza...``, ``Bearer ...``) and never appears in headers we log.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

__all__ = [
    "KEY_ANCHORS",
    "KEY_SHAPES",
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "forget_secret",
    "isolated_secrets",
    "key_shapes_pattern",
    "looks_like_secret",
    "redact",
    "redact_headers",
    "redact_value",
    "remember_environment_secrets",
    "remember_secret",
]

REDACTED = "***"

MIN_SECRET_LENGTH = 12
"""Shorter values are never remembered as secrets (real API keys are 20 to 100+ characters)."""

KEY_SHAPES: tuple[tuple[str, str, int, int], ...] = (
    # (prefix, body characters, shortest and longest body of a real key); a prefix ending in a
    # space stands for the word, then one to four spaces (log masking: any white space).
    (r"sk-(?:proj-|ant-)?", r"[A-Za-z0-9_\-]", 16, 200),  # OpenAI, Anthropic
    (r"sk_(?:live|test)_", r"[A-Za-z0-9]", 16, 200),  # Stripe
    (r"xai-", r"[A-Za-z0-9_\-]", 16, 200),  # xAI
    (r"AIza", r"[0-9A-Za-z_\-]", 30, 40),  # Google
    (r"AKIA", r"[0-9A-Z]", 16, 16),  # AWS access key ids
    (r"ghp_", r"[A-Za-z0-9]", 30, 60),  # GitHub
    (r"github_pat_", r"[A-Za-z0-9_]", 40, 120),  # GitHub fine-grained
    (r"xox[abprs]-", r"[A-Za-z0-9\-]", 10, 200),  # Slack
    (r"(?i:bearer) ", r"[A-Za-z0-9._\-~+/]", 16, 200),  # bearer tokens (then any "=" padding)
)
"""The API-key shapes, one table for both users: log masking here (:func:`redact`) and the
PII filter's ``secret`` detector (:mod:`ai_core.security.pii`), built by :func:`key_shapes_pattern`."""

KEY_ANCHORS = ("sk-", "sk_", "xai-", "AIza", "AKIA", "ghp_", "github_pat_", "xox", "earer", "EARER")
"""Literals one of which every key-shaped match contains (text holding none is not searched)."""


def key_shapes_pattern(*, exact: bool) -> str:
    """A regular expression matching any of :data:`KEY_SHAPES`.

    ``exact`` (the PII detector): each body within its real length, so a stream
    holds back a bounded amount, and standing alone (not inside a longer token).
    Otherwise (logs, error messages): anything key-shaped of eight characters or
    more, inside other text or not, because over-masking a log line costs nothing.
    """
    forms = []
    for prefix, body, shortest, longest in KEY_SHAPES:
        head = prefix[:-1] + ("[ ]{1,4}" if exact else r"\s+") if prefix.endswith(" ") else prefix
        if not exact:
            size = f"{{{min(shortest, 8)},}}"
        else:
            size = f"{{{shortest}}}" if shortest == longest else f"{{{shortest},{longest}}}"
        tail = "=*" if prefix.endswith(" ") else ""
        forms.append(f"{head}{body}{size}{tail}")
    alternatives = "|".join(forms)
    if exact:
        return rf"(?<![A-Za-z0-9_\-])(?:{alternatives})(?![A-Za-z0-9_\-])"
    return f"(?:{alternatives})"


_KEY_SHAPES = re.compile(key_shapes_pattern(exact=False))
_SENSITIVE_HEADERS = frozenset(
    {"authorization", "x-api-key", "x-goog-api-key", "api-key", "proxy-authorization", "cookie"}
)
_SENSITIVE_KEYS = _SENSITIVE_HEADERS | {"api_key", "apikey", "key", "secret", "password"}

_known: set[str] = set()
_lock = threading.Lock()


def looks_like_secret(value: str | None) -> bool:
    """Whether ``value`` is worth remembering: long enough, no whitespace, letters and digits mixed."""
    if not value or len(value) < MIN_SECRET_LENGTH:
        return False
    if any(c.isspace() for c in value):
        return False
    return any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


def remember_secret(value: str | None) -> bool:
    """Register a secret so :func:`redact` blanks it wherever it appears.

    Returns whether it was remembered: values that do not look like a key
    (see :func:`looks_like_secret`) are ignored, so registering a common word
    can never blank ordinary text.
    """
    if not looks_like_secret(value):
        return False
    with _lock:
        _known.add(value)  # type: ignore[arg-type]
    return True


_SECRET_VARIABLE = re.compile(r"(API_?KEY|_KEY|TOKEN|SECRET|PASSWORD)S?$", re.IGNORECASE)


def remember_environment_secrets(environ: Mapping[str, str] | None = None) -> int:
    """Remember the values of secret-named variables (``*_API_KEY``, ``*_TOKEN``, ``AI_ENCRYPTION_KEY``,
    ...) and the password in ``AI_DATABASE_URL``, so a log line can never show them even when nothing
    has used them yet. Returns how many were remembered."""
    environ = os.environ if environ is None else environ
    count = 0
    for name, value in environ.items():
        if _SECRET_VARIABLE.search(name):
            count += sum(remember_secret(part.strip()) for part in value.split(","))
    url = environ.get("AI_DATABASE_URL", "")
    credentials = url.partition("://")[2].rpartition("@")[0]
    if ":" in credentials:
        count += remember_secret(credentials.split(":", 1)[1])
    return count


def forget_secret(value: str) -> None:
    with _lock:
        _known.discard(value)


@contextlib.contextmanager
def isolated_secrets() -> Iterator[None]:
    """Forget, on exit, every secret remembered inside the block.

    For test suites: one test's keys (or a property test's random strings)
    must never blank text in the next test.
    """
    with _lock:
        before = set(_known)
    try:
        yield
    finally:
        with _lock:
            _known.intersection_update(before)


def redact(text: str) -> str:
    """Return ``text`` with every known secret and every key-shaped token blanked."""
    if not text:
        return text
    for secret in tuple(_known):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return _KEY_SHAPES.sub(REDACTED, text)


def redact_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {k: (REDACTED if k.lower() in _SENSITIVE_HEADERS else redact(v)) for k, v in items}


def redact_value(value: Any) -> Any:
    """Recursively redact strings (and UTF-8 bytes) inside dicts, lists, tuples and sets.

    Values under a key that names a secret (``api_key``, ``authorization``, ...)
    are blanked whole. Other objects are returned as they are.
    """
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes | bytearray):
        text = bytes(value).decode("utf-8", "surrogateescape")
        cleaned = redact(text)
        return value if cleaned == text else type(value)(cleaned.encode("utf-8", "surrogateescape"))
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if isinstance(k, str) and k.lower() in _SENSITIVE_KEYS else redact_value(v))
            for k, v in value.items()
        }
    if isinstance(value, tuple):
        items = [redact_value(v) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    if isinstance(value, list | set | frozenset):
        return type(value)(redact_value(v) for v in value)
    return value
