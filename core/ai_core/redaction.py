"""Keep secrets out of logs, reprs and error messages.

Secrets reach text in two ways: a known key value (we hold it, so we can blank
it exactly) and a provider echoing a key back in an error body (we only know its
shape). Both are handled here so every other module has one function to call.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["REDACTED", "forget_secret", "redact", "redact_headers", "remember_secret"]

REDACTED = "***"

_KEY_SHAPES = re.compile(
    r"(sk-(?:proj-|ant-)?[A-Za-z0-9_\-]{8,}"  # OpenAI / Anthropic style
    r"|xai-[A-Za-z0-9_\-]{8,}"  # xAI
    r"|AIza[0-9A-Za-z_\-]{20,}"  # Google API keys
    r"|(?i:bearer)\s+[A-Za-z0-9._\-~+/]{8,}=*)"
)
_SENSITIVE_HEADERS = frozenset(
    {"authorization", "x-api-key", "x-goog-api-key", "api-key", "proxy-authorization", "cookie"}
)

_known: set[str] = set()
_lock = threading.Lock()


def remember_secret(value: str | None) -> None:
    """Register a secret value so :func:`redact` blanks it wherever it appears."""
    if value and len(value) >= 6:
        with _lock:
            _known.add(value)


def forget_secret(value: str) -> None:
    with _lock:
        _known.discard(value)


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
    """Recursively redact strings inside dicts/lists (used for log event dicts)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {
            k: (
                REDACTED
                if isinstance(k, str)
                and k.lower() in _SENSITIVE_HEADERS | {"api_key", "apikey", "key", "secret", "password"}
                else redact_value(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v) for v in value)
    return value
