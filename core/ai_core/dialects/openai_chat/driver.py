"""The HTTP side of the Chat Completions dialect: send, stream, list models.

One class serves every provider of the dialect; a provider plugin subclasses
it only to set its :class:`ChatProfile` and default base URL (or passes them
to the constructor). All translation is in :mod:`.wire`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

from ai_core import errors
from ai_core.dialects.openai_chat import wire
from ai_core.dialects.openai_chat.profile import COMPATIBLE, ChatProfile
from ai_core.drivers import http
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

    profile: ClassVar[ChatProfile] = COMPATIBLE
    default_base_url: str = "http://127.0.0.1:8000/v1"
    capabilities = Capabilities(
        streaming=True, tools=True, tool_streaming=True, vision=True, json_schema=True, reasoning=True, list_models=True
    )

    def __init__(
        self, config: ProviderConfig, *, profile: ChatProfile | None = None, base_url: str | None = None
    ) -> None:
        super().__init__(config)
        if profile is not None:
            self.profile = profile  # type: ignore[misc]
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
        lines = self.stream_lines("/chat/completions", body)
        events = iter_sse(lines)
        try:
            async for event in events:
                if event.event == "error":
                    raise self._stream_error(event.data)
                for delta in feed(event.data):
                    yield delta
                if reader.done:
                    break
        finally:
            # Close both generators now, not at garbage collection, so the
            # connection goes back to the pool (and trio sees no stray generator).
            await events.aclose()
            await lines.aclose()
        response = reader.finish()
        yield UsageReported(response.usage)
        yield StreamCompleted(response)

    async def stream_lines(self, path: str, payload: dict[str, Any]) -> AsyncIterator[str]:
        """POST and yield the response's text lines, with an idle timeout.

        Same contract as :meth:`HTTPDriver.stream_lines`, cheaper per chunk:
        the idle timeout is the transport's per-read timeout (httpx2 and the
        aiohttp transport both enforce ``timeout.read`` on every socket read)
        instead of a cancel scope around every line, which profiling showed to
        be most of a chunk's CPU; and lines are split from the raw bytes in one
        step instead of through httpx2's text and line decoders.
        """
        idle = self.config.stream_idle_timeout
        timeout = http.Timeout(self.config.timeout, connect=min(10.0, self.config.timeout), read=idle)
        try:
            async with self.client.stream("POST", path, json=payload, timeout=timeout) as response:
                if response.status_code >= 400:
                    body = await response.aread()
                    raise self.error_from_response(response.status_code, body, response.headers)
                pending = b""
                async for chunk in response.aiter_bytes():
                    if pending:
                        chunk = pending + chunk
                    if b"\r" in chunk:  # SSE lines may end in CRLF or a lone CR; a CR may end this read
                        held = b"\r" if chunk.endswith(b"\r") else b""
                        chunk = chunk[: len(chunk) - len(held)].replace(b"\r\n", b"\n").replace(b"\r", b"\n")
                    else:
                        held = b""
                    lines = chunk.split(b"\n")
                    pending = lines.pop() + held
                    for line in lines:
                        yield line.decode("utf-8", "replace")
                if pending.rstrip(b"\r"):
                    yield pending.rstrip(b"\r").decode("utf-8", "replace")
        except http.HTTPError as exc:
            # The aiohttp transport reports its read timeout as a ReadError caused by a TimeoutError.
            if isinstance(exc, http.ReadTimeout) or isinstance(exc.__cause__, TimeoutError):
                raise errors.ProviderTimeoutError(
                    f"stream stalled: no data for {idle:g}s", provider=self.provider
                ) from exc
            raise self.error_from_transport(exc, streaming=True) from exc

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
