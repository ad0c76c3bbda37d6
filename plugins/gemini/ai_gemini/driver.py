"""The Gemini driver: the Generative Language API v1beta over :class:`~ai_core.HTTPDriver`.

Imported only when a ``gemini/...`` model is first used (the plugin names it as
a string), since it loads the HTTP stack. All translation is in :mod:`ai_gemini.wire`;
this module only moves bytes:

- ``POST /v1beta/models/{model}:generateContent``
- ``POST /v1beta/models/{model}:streamGenerateContent?alt=sse``
- ``POST /v1beta/models/{model}:countTokens``
- ``GET /v1beta/models?pageSize=...&pageToken=...``

The key travels in the ``x-goog-api-key`` header, never in a URL.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, cast
from urllib.parse import quote

from ai_core import (
    AuthenticationError,
    ChatRequest,
    ChatResponse,
    ContentFilteredError,
    HTTPDriver,
    MalformedResponseError,
    ModelInfo,
    PermissionDeniedError,
    ProviderError,
    StreamCompleted,
    StreamEvent,
    UsageReported,
)
from ai_gemini import wire

__all__ = ["DEFAULT_BASE_URL", "KEY_VARIABLES", "GeminiDriver"]

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
KEY_VARIABLES = ("AI_GEMINI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY")
API_VERSION = "/v1beta"
PAGE_SIZE = 1000  # the most Google returns per page
MAX_PAGES = 50  # a server that pages forever is not followed forever


class GeminiDriver(HTTPDriver):
    """Gemini through the Generative Language API (``generateContent`` and friends)."""

    default_base_url = DEFAULT_BASE_URL

    @property
    def base_url(self) -> str:
        """The server root: a configured base that already ends in ``/v1beta`` is taken without it."""
        url = (self.config.base_url or self.default_base_url).rstrip("/")
        return url.removesuffix(API_VERSION)

    def auth_headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.config.require_key(KEY_VARIABLES)}

    @staticmethod
    def _path(model: str, method: str) -> str:
        return f"{API_VERSION}/{quote(wire.model_path(model), safe='/')}:{method}"

    def error_from_response(self, status: int, body: bytes, headers: Any) -> ProviderError:
        import json

        try:
            payload: Any = json.loads(body) if body else None
        except (ValueError, UnicodeDecodeError):
            payload = None
        return wire.error_from_google(payload, self.provider, status=status, headers=headers, raw=body)

    async def send(self, request: ChatRequest) -> ChatResponse:
        payload = await self.post_json(self._path(request.model, "generateContent"), wire.build_body(request))
        return wire.parse_response(payload, provider=self.provider, model=request.model)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Yield deltas as chunks arrive, then the usage, then the full response.

        The response is the chunks merged and parsed as :meth:`send` parses its
        one body, so both end alike. A stream cut before the finish reason raises
        :class:`~ai_core.StreamInterruptedError`, after passing on the
        usage Gemini reported so far (it repeats it on every chunk).
        """
        reader = wire.StreamReader(self.provider, request.model)
        feed = reader.feed
        path = self._path(request.model, "streamGenerateContent") + "?alt=sse"
        lines = cast(AsyncGenerator[str, None], self.stream_lines(path, wire.build_body(request)))
        try:
            try:
                # Server-sent events read in line, not through ai_core.iter_sse: one async
                # generator less per line is a few µs per chunk. Gemini sends only ``data:``
                # lines; comments and other fields are ignored as the SSE rules say.
                data: list[str] = []
                async for line in lines:
                    if line:
                        if line.startswith("data:"):
                            data.append(line[6:] if line.startswith("data: ") else line[5:])
                        continue
                    if data:
                        payload, data = data[0] if len(data) == 1 else "\n".join(data), []
                        for delta in feed(payload):
                            yield delta
                if data:  # the last event, without its blank line
                    for delta in feed("\n".join(data)):
                        yield delta
            finally:
                await lines.aclose()
            response = reader.finish_response()
        except ContentFilteredError:
            raise  # a refusal with nothing delivered, as send() raises it: no usage to pass on
        except ProviderError:
            usage = reader.reported_usage()
            if usage is not None:
                yield UsageReported(usage)  # what was delivered is charged what it cost
            raise
        yield UsageReported(response.usage)
        yield StreamCompleted(response)

    async def count_tokens(self, request: ChatRequest) -> int:
        """The prompt's tokens by Gemini's own tokenizer (``countTokens``, free of charge)."""
        payload = await self.post_json(
            self._path(request.model, "countTokens"), wire.count_tokens_body(request, request.model)
        )
        if not isinstance(payload, dict) or not isinstance(payload.get("totalTokens", 0), int):
            raise MalformedResponseError(f"unexpected countTokens answer: {payload!r:.200}", provider=self.provider)
        return int(payload.get("totalTokens", 0))

    async def list_models(self) -> list[ModelInfo]:
        """Every model that generates content, following ``nextPageToken`` page by page."""
        found: list[ModelInfo] = []
        token: str | None = None
        for _ in range(MAX_PAGES):
            params: dict[str, Any] = {"pageSize": PAGE_SIZE}
            if token:
                params["pageToken"] = token
            page, token = wire.parse_model_list(
                await self.get_json(f"{API_VERSION}/models", params=params), self.provider
            )
            found.extend(page)
            if not token:
                break
        return found

    async def validate_credentials(self) -> bool:
        """``GET /v1beta/models`` is free and needs a valid key: True when it is accepted."""
        self.config.require_key(KEY_VARIABLES)
        try:
            await self.get_json(f"{API_VERSION}/models", params={"pageSize": 1})
        except (AuthenticationError, PermissionDeniedError):
            return False
        return True
