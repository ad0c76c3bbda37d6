"""Middleware: async layers around every provider call, streamed or not.

A layer receives the :class:`Call` (the request plus who is asking and the
services a layer may need) and ``call_next``. It can change the call, answer
without calling the provider (a cache), change the response, or catch errors.
Layers are ordered by their ``order`` value, lowest outermost, because pluggy's
hook order must not matter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import anyio

from ai_core.types import ChatRequest, ChatResponse, StreamEvent

if TYPE_CHECKING:
    from ai_core.app import Services

__all__ = ["Call", "Middleware", "Next", "StreamNext", "compose", "compose_stream"]


@dataclass
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
    """Base class for a layer; override ``__call__`` and, for streams, ``stream``.

    The defaults pass through, so a layer that only cares about unstreamed calls
    overrides one method.
    """

    name: str = "middleware"
    order: int = 500
    """Lower runs outer. Core's budget layer is 100; leave room around it."""

    async def __call__(self, call: Call, call_next: Next) -> ChatResponse:
        return await call_next(call)

    def stream(self, call: Call, call_next: StreamNext) -> AsyncIterator[StreamEvent]:
        return call_next(call)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} order={self.order}>"


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
    async def handle(call: Call) -> ChatResponse:
        return await layer(call, inner)

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
