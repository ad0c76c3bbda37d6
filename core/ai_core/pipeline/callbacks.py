"""Per-conversation callbacks: application code that acts in line with a send.

``.before_send(fn)`` runs before every model call of the conversation with the
:class:`~ai_core.types.ChatRequest` about to be sent; returning a request sends
that one instead, returning ``None`` sends it as it is, raising stops the call.
``.on_success(fn)`` runs with the final response of each send, ``.on_error(fn)``
with the error of a send that failed, before it reaches the caller. Each may be
a plain or an ``async`` function. Unlike event listeners, which run in the
background, these run in the send itself, so keep them quick.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from ai_core.logging import get_logger
from ai_core.pipeline.middleware import Call, Middleware
from ai_core.types import ChatRequest

__all__ = ["BeforeSend", "run_callbacks", "run_error_callbacks"]

log = get_logger("ai_core.callbacks")


async def _invoke(callback: Callable[..., Any], value: Any) -> Any:
    result = callback(value)
    if inspect.isawaitable(result):
        result = await result
    return result


async def run_callbacks(callbacks: Sequence[Callable[..., Any]], value: Any) -> None:
    """Call each callback with ``value``, in order; an exception stops the send."""
    for callback in callbacks:
        await _invoke(callback, value)


async def run_error_callbacks(callbacks: Sequence[Callable[..., Any]], error: BaseException) -> None:
    """Call each ``on_error`` callback; one that fails is logged, and the send's
    own error is still what the caller gets."""
    for callback in callbacks:
        try:
            await _invoke(callback, error)
        except Exception as exc:
            log.error(
                "on_error_callback_failed",
                callback=getattr(callback, "__name__", repr(callback)),
                error=f"{type(exc).__name__}: {exc}",
            )


class BeforeSend(Middleware):
    """The conversation's ``before_send`` callbacks, innermost (just before the provider)."""

    name = "before-send"
    order = 10_000

    def __init__(self, callbacks: Sequence[Callable[..., Any]]) -> None:
        self.callbacks = list(callbacks)

    async def rewrite(self, call: Call) -> Call:
        for callback in self.callbacks:
            replaced = await _invoke(callback, call.request)
            if replaced is not None:
                if not isinstance(replaced, ChatRequest):
                    from ai_core.errors import RequestValidationError

                    raise RequestValidationError(
                        f"before_send callback {getattr(callback, '__name__', callback)!r} returned "
                        f"{type(replaced).__name__}; return a ChatRequest or None"
                    )
                call = call.with_request(replaced)
        return call
