"""The typed error for an ``{"error": ...}`` object a server sends.

Such an object can arrive inside a stream or a 200 body, where the HTTP status
says nothing, so its ``type`` and ``code`` markers pick the error class.
"""

from __future__ import annotations

from typing import Any

from ai_core import errors
from ai_core.drivers.base import error_for_status

__all__ = ["error_from_payload"]

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


def error_from_payload(error: Any, provider: str, status: int | None = None) -> errors.ProviderError:
    """The typed error for an ``{"error": ...}`` object (in a stream, or a 200 body).

    In a stream the HTTP status is already 200, so the error's ``type`` and
    ``code`` say which class it is; an unknown kind counts as a server error.
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
        status = next((value for marker, value in _ERROR_MARKERS if marker in markers), 500)
    return error_for_status(status, message, provider=provider, status_code=status, code=label, body={"error": error})
