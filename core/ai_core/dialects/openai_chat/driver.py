"""The HTTP side of the Chat Completions dialect: send, stream, list models.

One class serves every provider of the dialect; a provider plugin subclasses
it only to set its :class:`ChatProfile` and default base URL (or passes them
to the constructor). All translation is in :mod:`.wire`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, ClassVar, cast

import anyio

from ai_core import errors
from ai_core.dialects.openai_chat import wire
from ai_core.dialects.openai_chat.profile import COMPATIBLE, ChatProfile
from ai_core.drivers.base import HTTPDriver, ProviderConfig
from ai_core.drivers.streaming import iter_sse
from ai_core.types import (
    Capabilities,
    ChatRequest,
    ChatResponse,
    ModelInfo,
    StreamCompleted,
    StreamEvent,
    UsageReported,
)

__all__ = ["OpenAIChatDriver"]


class OpenAIChatDriver(HTTPDriver):
    """A driver for any server speaking OpenAI Chat Completions.

    ``profile`` and ``default_base_url`` are class attributes so a provider
    plugin is a three-line subclass, and constructor arguments so a test or an
    application can point one at a compatible server without a plugin.
    """

    profile: ChatProfile = COMPATIBLE
    default_base_url: str = "http://127.0.0.1:8000/v1"
    capabilities = Capabilities(
        streaming=True, tools=True, tool_streaming=True, vision=True, json_schema=True, reasoning=True, list_models=True
    )

    def __init__(
        self, config: ProviderConfig, *, profile: ChatProfile | None = None, base_url: str | None = None
    ) -> None:
        super().__init__(config)
        if profile is not None:
            self.profile = profile
        if base_url is not None:
            self.default_base_url = base_url

    async def send(self, request: ChatRequest) -> ChatResponse:
        body = wire.build_body(request, self.profile)
        payload = await self.post_json("/chat/completions", body)
        return wire.parse_response(payload, provider=self.provider, model=request.model, profile=self.profile)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Yield deltas as they arrive, then the usage, then the full response.

        The stream is priced by core once, from the final response; a stream
        cut off before ``[DONE]`` raises :class:`~ai_core.errors.StreamInterruptedError`
        and one that stalls raises :class:`~ai_core.errors.ProviderTimeoutError`.
        """
        body = wire.build_body(request, self.profile, stream=True)
        reader = wire.ChunkReader(self.provider, request.model, self.profile)
        feed = reader.feed
        # stream_lines is an async generator (typed as its AsyncIterator interface); we close it below.
        lines = cast(AsyncGenerator[str, None], self.stream_lines("/chat/completions", body))
        events = cast(AsyncGenerator[Any, None], iter_sse(lines))
        try:
            try:
                async for event in events:
                    if event.event == "error":
                        raise self._stream_error(event.data)
                    for delta in feed(event.data):
                        yield delta
                    if reader.done:
                        await self._drain(events)
                        break
            finally:
                # Close both generators now, not at garbage collection, so the
                # connection goes back to the pool (and trio sees no stray generator).
                await events.aclose()
                await lines.aclose()
            response = reader.finish()
        except errors.ProviderError:
            # Cut or failed part-way: pass on the usage the server reported so
            # far, so what was delivered is charged what it cost.
            usage = reader.reported_usage()
            if usage is not None:
                yield UsageReported(usage)
            raise
        yield UsageReported(response.usage)
        yield StreamCompleted(response)

    async def _drain(self, events: AsyncIterator[Any]) -> None:
        """Read what follows ``[DONE]`` (normally just the end of the body), briefly.

        A response read to its end leaves its connection in the pool; one
        closed early is dropped (httpx2 does that), costing a new connection per
        stream. A server that keeps the body open after ``[DONE]`` is not
        waited for: the answer is complete, so a failure here is ignored.
        """
        with anyio.move_on_after(self.drain_seconds):
            try:
                async for _ in events:
                    pass
            except errors.ProviderError:
                pass

    drain_seconds: ClassVar[float] = 0.5

    def _stream_error(self, data: str) -> errors.ProviderError:
        """An ``event: error`` SSE event: its data is an error object, or text."""
        import json

        try:
            payload: Any = json.loads(data)
        except ValueError:
            payload = data
        if isinstance(payload, dict) and "error" in payload:
            payload = payload["error"]
        return wire.error_from_payload(payload, self.provider)

    async def list_models(self) -> list[ModelInfo]:
        payload = await self.get_json("/models")
        return wire.parse_model_list(payload, provider=self.provider, profile=self.profile)

    async def validate_credentials(self) -> bool:
        """Ask ``GET /models``: free, and it needs a valid key.

        True for an accepted key, False for a rejected one (401/403); any
        other failure (server down, timeout) is raised, since it says nothing
        about the key.
        """
        self.config.require_key()
        try:
            await self.get_json("/models")
        except (errors.AuthenticationError, errors.PermissionDeniedError):
            return False
        return True
