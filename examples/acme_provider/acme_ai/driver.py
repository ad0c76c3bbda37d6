"""The Acme Chat v1 wire format, over ai-core's pooled HTTP driver.

Request: ``POST /v1/chat`` with ``X-Acme-Key``::

    {"model": "rocket-1", "system": "...", "turns": [{"speaker": "user", "text": "hi"}],
     "max_tokens": 100, "stream": false, "client": "ai-core"}

Answer: ``{"id": "...", "reply": "...", "stop": "done" | "length", "tokens": {"prompt": 3, "reply": 5}}``.
Streamed: one JSON object per line, ``{"piece": "..."}`` then ``{"end": {<the answer without reply>}}``,
or ``{"error": {"status": 429, "message": "..."}}`` at any point.

Translation is shared by ``send`` and ``stream``, so both end in the same response and usage.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from ai_core import (
    ChatRequest,
    ChatResponse,
    HTTPDriver,
    MalformedResponseError,
    Message,
    StreamAccumulator,
    StreamCompleted,
    StreamEvent,
    TextDelta,
    TokenUsage,
    UsageReported,
    error_for_status,
)

_SPEAKERS = {"user": "user", "assistant": "bot"}
_STOPS = {"done": "stop", "length": "length"}


def to_payload(request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    turns = [{"speaker": _SPEAKERS[m.role], "text": m.text} for m in request.messages if m.role in _SPEAKERS and m.text]
    payload: dict[str, Any] = {"model": request.model, "turns": turns, "stream": stream}
    if request.system:
        payload["system"] = request.system
    if request.max_tokens is not None:
        payload["max_tokens"] = request.max_tokens
    if "acme_client" in request.provider_options:
        payload["client"] = request.provider_options["acme_client"]
    return payload


def usage_from(tokens: Any) -> TokenUsage:
    if not isinstance(tokens, dict):
        raise MalformedResponseError("Acme answer without token counts", provider="acme")
    return TokenUsage(input_tokens=int(tokens.get("prompt", 0)), output_tokens=int(tokens.get("reply", 0)))


class AcmeDriver(HTTPDriver):
    default_base_url = "http://127.0.0.1:8765"

    def auth_headers(self) -> dict[str, str]:
        return {"X-Acme-Key": self.config.require_key(("AI_ACME_API_KEY", "ACME_API_KEY"))}

    async def send(self, request: ChatRequest) -> ChatResponse:
        body = await self.post_json("/v1/chat", to_payload(request, stream=False))
        if not isinstance(body, dict) or not isinstance(body.get("reply"), str):
            raise MalformedResponseError(f"unexpected Acme answer: {str(body)[:200]}", provider=self.provider)
        return ChatResponse(
            id=body.get("id"),
            provider=self.provider,
            model=request.model,
            message=Message.assistant(body["reply"]),
            finish_reason=_STOPS.get(body.get("stop", "done"), "stop"),
            usage=usage_from(body.get("tokens")),
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:  # type: ignore[override]
        acc = StreamAccumulator(self.provider, request.model)
        async for line in self.stream_lines("/v1/chat", to_payload(request, stream=True)):
            if not line.strip():
                continue
            try:
                chunk = json.loads(line)
            except json.JSONDecodeError as exc:
                raise MalformedResponseError(f"bad Acme stream line: {line[:200]!r}", provider=self.provider) from exc
            if "error" in chunk:  # an error inside the stream is the same typed error as an HTTP one
                error = chunk["error"]
                raise error_for_status(int(error.get("status", 500)), str(error.get("message")), provider=self.provider)
            if "piece" in chunk:
                acc.add_text(chunk["piece"])
                yield TextDelta(chunk["piece"])
            elif "end" in chunk:
                end = chunk["end"]
                acc.id = end.get("id")
                acc.usage = usage_from(end.get("tokens"))
                acc.finish_reason = _STOPS.get(end.get("stop", "done"), "stop")
                yield UsageReported(acc.usage)
                yield StreamCompleted(acc.build())
                return
        raise MalformedResponseError("Acme stream ended without an end line", provider=self.provider)
