"""Small checked accessors shared by the response and stream parsers.

Each one either returns the value in the type the caller needs or raises:
a :class:`~ai_core.errors.MalformedResponseError` directly, or one of
:data:`SHAPE_ERRORS`, which the parsers map to it once, at their edge. So
whatever the server sends, parsing never leaks a bare ``KeyError``.
"""

from __future__ import annotations

import json
from typing import Any

from ai_core import errors
from ai_core.types import FinishReason

__all__ = [
    "SHAPE_ERRORS",
    "arguments",
    "content_text",
    "count",
    "finish_reason",
    "malformed",
    "opt_string",
    "string",
]

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}

# Exceptions a malformed body can raise while we walk it; mapped once, at the edge.
SHAPE_ERRORS = (KeyError, TypeError, AttributeError, ValueError, IndexError)


def malformed(provider: str, message: str) -> errors.MalformedResponseError:
    return errors.MalformedResponseError(message, provider=provider or None)


def finish_reason(value: Any) -> FinishReason:
    if value is None:
        return "stop"
    if not isinstance(value, str):
        raise TypeError(f"finish_reason is not a string: {value!r}")
    return _FINISH.get(value, "other")


def count(value: Any, name: str, provider: str) -> int:
    if value is None:
        return 0
    if type(value) is not int or value < 0:
        raise malformed(provider, f"usage {name} is not a non-negative integer: {value!r}")
    return value


def string(value: Any, name: str, provider: str) -> str:
    if type(value) is not str:
        raise malformed(provider, f"{name} is not a string: {type(value).__name__}")
    return value


def opt_string(value: Any, name: str, provider: str) -> str | None:
    if value is None:
        return None
    return string(value, name, provider)


def arguments(value: Any) -> str:
    """Tool-call arguments as JSON text (a few servers send an object)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return json.dumps(value)
    raise TypeError(f"tool call arguments are neither text nor an object: {type(value).__name__}")


def content_text(content: Any, provider: str) -> str:
    """Message content as text: a string, or (some servers) a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            string(part.get("text", ""), "content.text", provider) for part in content if part.get("type") == "text"
        )
    raise malformed(provider, f"message content is neither text nor parts: {type(content).__name__}")
