"""Middleware: async layers around every provider call, streamed or not.

A layer receives the :class:`Call` (the request plus who is asking and the
services a layer may need) and ``call_next``. It can change the call, answer
without calling the provider (a cache), change the response, or catch errors.
Layers are ordered by their ``order`` value, lowest outermost, because pluggy's
hook order must not matter.

The one-method way to change what is sent is :meth:`Middleware.rewrite`: it
runs for unstreamed and streamed calls alike. A layer that overrides
``__call__`` must override ``stream`` too (``ai chat`` always streams), or say
``unary_only = True``; :func:`check_layer` refuses anything else when the layer
is registered, so a mistake fails at start-up rather than on the first call.

What is stored: the conversation keeps what the caller sent, and each layer's
rewrites reach only the provider, unless the layer says ``stores_rewrite =
True``: then the turn's new messages are stored as its :meth:`rewrite` leaves
them (a PII-scrubbing layer wants that; a layer adding provider hints does not).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import anyio

from ai_core.types import ChatRequest, ChatResponse, StreamEvent

if TYPE_CHECKING:
    from ai_core.app import Services

__all__ = ["Call", "Middleware", "Next", "StreamNext", "check_layer", "compose", "compose_stream"]


@dataclass(slots=True)
class Call:
    """One provider call as it passes through the middleware stack."""

    request: ChatRequest
    services: Services
    conversation_id: str | None = None
    user: str | None = None
    tenant: str | None = None
    tags: tuple[str, ...] = ()
    streaming: bool = False
    state: dict[str, Any] = field(default_factory=dict)
    """Scratch space layers share within one call (e.g. a budget reservation)."""

    def with_request(self, request: ChatRequest) -> Call:
        return replace(self, request=request)


Next = Callable[[Call], Awaitable[ChatResponse]]
StreamNext = Callable[[Call], AsyncIterator[StreamEvent]]


class Middleware:
    """Base class for a layer.

    Override :meth:`rewrite` to change the request (both call forms), or
    ``__call__`` and ``stream`` to act around the call. The defaults pass
    through.
    """

    name: str = "middleware"
    order: int = 500
    """Lower runs outer. Core's budget layer is 100; leave room around it."""
    unary_only: bool = False
    """Set when the layer deliberately acts on unstreamed calls only (it overrides
    ``__call__`` and lets streams pass); otherwise registering it is an error."""
    stores_rewrite: bool = False
    """Store the turn's messages as :meth:`rewrite` leaves them, not as sent."""

    async def rewrite(self, call: Call) -> Call:
        """Return the call to send (``call.with_request(...)`` for a changed request)."""
        return call

    async def __call__(self, call: Call, call_next: Next) -> ChatResponse:
        if type(self).rewrite is not Middleware.rewrite:
            call = await self.rewrite(call)
        return await call_next(call)

    def stream(self, call: Call, call_next: StreamNext) -> AsyncIterator[StreamEvent]:
        if type(self).rewrite is Middleware.rewrite:
            return call_next(call)
        return self._rewritten_stream(call, call_next)

    async def _rewritten_stream(self, call: Call, call_next: StreamNext) -> AsyncIterator[StreamEvent]:
        async for event in call_next(await self.rewrite(call)):
            yield event

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} order={self.order}>"


def check_layer(layer: Any) -> None:
    """Refuse a layer that would fail, or silently do nothing, when called.

    Raises :class:`~ai_core.errors.ConfigurationError` naming every problem:
    a missing name or order, a ``__call__`` that is not ``async def``, a
    ``stream`` written as ``async def`` without ``yield`` (a coroutine, not a
    stream), methods that do not take ``(call, call_next)``, or a layer that
    overrides ``__call__`` but not ``stream`` without ``unary_only = True``.
    """
    from ai_core.errors import ConfigurationError
    from ai_core.plugin_check import middleware_problems

    problems = middleware_problems(layer)
    if problems:
        raise ConfigurationError("; ".join(problems))


def order_layers(layers: Sequence[Middleware]) -> list[Middleware]:
    """Stable sort by ``order`` then name, so registration order never matters."""
    return sorted(layers, key=lambda layer: (layer.order, layer.name))


def compose(layers: Sequence[Middleware], endpoint: Next) -> Next:
    """Wrap ``endpoint`` in ``layers`` (already ordered, outermost first)."""
    handler = endpoint
    for layer in reversed(layers):
        handler = _bind(layer, handler)
    return handler


def _bind(layer: Middleware, inner: Next) -> Next:
    def handle(call: Call) -> Awaitable[ChatResponse]:
        return layer(call, inner)  # the layer's own coroutine: no frame of ours around it

    return handle


def compose_stream(layers: Sequence[Middleware], endpoint: StreamNext) -> StreamNext:
    handler = endpoint
    for layer in reversed(layers):
        handler = _bind_stream(layer, handler)
    return handler


def _bind_stream(layer: Middleware, inner: StreamNext) -> StreamNext:
    def handle(call: Call) -> AsyncIterator[StreamEvent]:
        return _closing(layer, inner, call)

    return handle


async def _closing(layer: Middleware, inner: StreamNext, call: Call) -> AsyncIterator[StreamEvent]:
    """Run ``layer.stream`` and close every stream it opened when it ends.

    A layer written as ``async for event in call_next(call): yield event`` leaves
    the inner stream suspended when its caller stops early; Python would close
    it only when it is garbage collected, so the layers inside (the ledger's
    record of what was delivered, a budget's settlement) would run late. Here
    they run before the caller's ``aclose()`` returns, whatever the layer does.
    """
    opened: list[AsyncIterator[StreamEvent]] = []

    def tracked(inner_call: Call) -> AsyncIterator[StreamEvent]:
        stream = inner(inner_call)
        opened.append(stream)
        return stream

    stream = layer.stream(call, tracked)
    try:
        async for event in stream:
            yield event
    finally:
        with anyio.CancelScope(shield=True):
            for opened_stream in (stream, *opened):
                close = getattr(opened_stream, "aclose", None)
                if close is not None:
                    await close()
