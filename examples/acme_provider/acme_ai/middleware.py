"""Acme's middleware layer, imported only when core builds its pipeline."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from ai_core import Call, ChatResponse, Middleware, StreamEvent


class AcmeClientTag(Middleware):
    """Tells Acme's server which client called (Acme asks integrators to).

    Order 600: inside core's budget, rate-limit and cache layers, so a cached
    answer never reaches this layer.
    """

    name = "acme-client-tag"
    order = 600

    async def __call__(self, call: Call, call_next: Callable[[Call], Awaitable[ChatResponse]]) -> ChatResponse:
        return await call_next(self._tag(call))

    def stream(self, call: Call, call_next: Callable[[Call], AsyncIterator[StreamEvent]]) -> AsyncIterator[StreamEvent]:
        return call_next(self._tag(call))

    @staticmethod
    def _tag(call: Call) -> Call:
        if call.request.provider != "acme":
            return call
        options = {**call.request.provider_options, "acme_client": "ai-core"}
        return call.with_request(call.request.model_copy(update={"provider_options": options}))
