"""The typed error for an ``{"error": ...}`` object a server sends.

Such an object can arrive inside a stream or a 200 body, where the HTTP status
says nothing, so its ``type`` and ``code`` markers pick the error class. Some
servers also send a bare 400 whose message alone says what it is (a rejected
key, a prompt too long): :func:`named_by_message` reads those.
"""

from __future__ import annotations

from typing import Any

from ai_core import errors
from ai_core.drivers.base import error_for_status

__all__ = ["error_from_payload", "named_by_message"]

# Error ``type``/``code`` markers, most specific first, and the HTTP status they stand for.
_ERROR_MARKERS = (
    ("context_length", 400),
    ("insufficient_quota", 429),
    ("rate_limit", 429),
    ("invalid_api_key", 401),
    ("authentication", 401),
    ("permission", 403),
    ("not_found", 404),
    ("content_filter", 400),
    ("content_policy", 400),
    ("invalid_request", 400),
    ("timeout", 408),
)

# Messages that say what a bare "bad request" really is. xAI answers a bad key with
# HTTP 400 and OpenAI's 401 wording ("Incorrect API key provided: xa***23. ..."),
# and a context overflow with a 400 and no code ("This model's maximum prompt length
# is 131072 but the request contains 150000 tokens."): ../shared/specs/README.md, "xAI".
_NAMED_BY_MESSAGE: tuple[tuple[str, type[errors.ProviderError]], ...] = (
    ("incorrect api key", errors.AuthenticationError),
    ("maximum prompt length", errors.ContextLengthExceededError),
)


def _kind_named_by(message: str) -> type[errors.ProviderError] | None:
    lowered = message.lower()
    return next((kind for marker, kind in _NAMED_BY_MESSAGE if marker in lowered), None)


def named_by_message(error: errors.ProviderError) -> errors.ProviderError:
    """``error`` as the class its message names, where its status said only "bad request".

    Only a plain :class:`~ai_core.errors.InvalidRequestError` is retyped: a 401,
    429 or 5xx already says what happened. Message, status, code, body and
    request id stay what the provider sent.
    """
    if type(error) is not errors.InvalidRequestError:
        return error
    kind = _kind_named_by(error.message)
    if kind is None:
        return error
    prefix = f"{error.provider}: " if error.provider else ""
    return kind(
        error.message.removeprefix(prefix),
        provider=error.provider,
        status_code=error.status_code,
        code=error.code,
        request_id=error.request_id,
        body=error.body,
    )


def error_from_payload(error: Any, provider: str, status: int | None = None) -> errors.ProviderError:
    """The typed error for an ``{"error": ...}`` object (in a stream, or a 200 body).

    In a stream the HTTP status is already 200, so the error's ``type`` and
    ``code`` say which class it is, else its message (:func:`named_by_message`);
    an unknown kind counts as a server error.
    """
    if isinstance(error, dict):
        message = str(error.get("message") or "the provider reported an error")
        code = error.get("code")
        kind = error.get("type")
        given = error.get("status") if isinstance(error.get("status"), int) else None
    else:
        message, code, kind, given = str(error), None, None, None
    label = str(code if code is not None else kind) if (code is not None or kind is not None) else None
    if status is None:
        status = given
    if status is None and isinstance(code, int):
        status = code
    if status is None:
        markers = f"{code or ''} {kind or ''}".lower()
        fallback = 400 if _kind_named_by(message) is not None else 500
        status = next((value for marker, value in _ERROR_MARKERS if marker in markers), fallback)
    typed = error_for_status(status, message, provider=provider, status_code=status, code=label, body={"error": error})
    return named_by_message(typed)
