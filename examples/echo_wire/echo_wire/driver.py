"""A driver for Echo Wire v1, a small JSON wire format of its own.

Request: ``POST /v1/generate`` with the key in ``X-Echo-Key``::

    {"model": "echo-1", "instructions": "Be brief.", "max_tokens": 100, "stream": false,
     "tools": [{"name": "get_weather", "about": "...", "input_schema": {...}}],
     "turns": [{"from": "user", "text": "Weather in Paris?"},
               {"from": "model", "text": "", "calls": [{"ref": "c1", "tool": "get_weather", "input": {...}}]},
               {"from": "tool", "ref": "c1", "output": "18 degrees", "failed": false}]}

Answer: ``{"id": "gen_1", "text": "...", "calls": [...], "stop": "done" | "limit" | "calls",
"meter": {"fresh": 9, "cache_read": 32, "cache_write": 0, "out": 6}}``. ``fresh`` counts only
the prompt tokens not read from or written to the cache, as Anthropic's ``input_tokens`` does.

Streamed: one JSON object per line: ``{"text": "..."}``, ``{"call": {"slot": 0, "ref": "c1",
"tool": "get_weather"}}`` then ``{"call": {"slot": 0, "input": "<a piece of the JSON input>"}}``,
``{"meter": ...}`` with the running totals (first, and after every piece), and last
``{"stop": "done", "id": ...}``.
An error can arrive at any point as ``{"fault": {"status": 503, "message": "..."}}``; an HTTP
error has the same ``{"fault": ...}`` body.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from ai_core import (
    ChatRequest,
    ChatResponse,
    FinishReason,
    HTTPDriver,
    MalformedResponseError,
    Message,
    ProviderError,
    StreamAccumulator,
    StreamCompleted,
    StreamEvent,
    StreamInterruptedError,
    TextDelta,
    TextPart,
    TokenUsage,
    ToolCallDelta,
    ToolCallPart,
    ToolResultPart,
    UsageReported,
    error_for_status,
)

KEY_VARIABLES = ("AI_ECHOWIRE_API_KEY", "ECHOWIRE_API_KEY")
STOPS: dict[str, FinishReason] = {"done": "stop", "limit": "length", "calls": "tool_calls"}


def to_turns(request: ChatRequest) -> list[dict[str, Any]]:
    """Core's messages as Echo Wire turns (the system prompt travels apart, as ``instructions``)."""
    turns: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role == "user":
            turns.append({"from": "user", "text": message.text})
        elif message.role == "assistant":
            calls = [{"ref": c.id, "tool": c.name, "input": c.arguments} for c in message.tool_calls]
            turns.append({"from": "model", "text": message.text, "calls": calls})
        elif message.role == "tool":
            for part in message.parts:
                if isinstance(part, ToolResultPart):
                    turns.append({"from": "tool", "ref": part.tool_call_id, "output": part.content,
                                  "failed": part.is_error})  # fmt: skip
    return turns


def to_payload(request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    payload: dict[str, Any] = {"model": request.model, "turns": to_turns(request), "stream": stream}
    if request.system:
        payload["instructions"] = request.system
    if request.max_tokens is not None:
        payload["max_tokens"] = request.max_tokens
    if request.tools:
        payload["tools"] = [
            {"name": t.name, "about": t.description, "input_schema": t.parameters} for t in request.tools
        ]
    return payload


def usage_from(meter: Any, provider: str) -> TokenUsage:
    """Echo Wire counts cache reads and writes apart from ``fresh``; core counts them inside ``input_tokens``."""
    if not isinstance(meter, dict):
        raise MalformedResponseError(f"answer without a meter: {meter!r}", provider=provider)
    fresh, read, write = (int(meter.get(name, 0)) for name in ("fresh", "cache_read", "cache_write"))
    return TokenUsage(
        input_tokens=fresh + read + write,
        cached_input_tokens=read,
        cache_write_tokens=write,
        output_tokens=int(meter.get("out", 0)),
    )


class EchoWireDriver(HTTPDriver):
    default_base_url = "http://127.0.0.1:8766"  # the local server double; the URL has no /v1

    def auth_headers(self) -> dict[str, str]:
        return {"X-Echo-Key": self.config.require_key(KEY_VARIABLES)}

    def error_from_response(self, status: int, body: bytes, headers: Any) -> ProviderError:
        """An HTTP error status with its ``{"fault": ...}`` body."""
        try:
            fault = json.loads(body).get("fault")
        except (ValueError, AttributeError):
            fault = None
        if not isinstance(fault, dict):
            fault = {"message": body[:200].decode("utf-8", "replace")}
        return self.fault_error(fault, status, headers)

    def fault_error(self, fault: dict[str, Any], status: int | None = None, headers: Any = None) -> ProviderError:
        """A fault (an HTTP error's body, or a line inside a 200 stream) as the error class of its status."""
        status = status or int(fault.get("status", 500))
        return error_for_status(
            status,
            str(fault.get("message") or f"HTTP {status}"),
            headers=headers,
            provider=self.provider,
            code=fault.get("kind"),
            body={"fault": fault},
            request_id=headers.get("x-request-id") if headers is not None else None,
        )

    async def send(self, request: ChatRequest) -> ChatResponse:
        body = await self.post_json("/v1/generate", to_payload(request, stream=False))
        if not isinstance(body, dict) or "stop" not in body:
            raise MalformedResponseError(f"unexpected answer: {str(body)[:200]}", provider=self.provider)
        parts: list[Any] = [TextPart(text=body.get("text") or "")] if body.get("text") or not body.get("calls") else []
        parts += [ToolCallPart(id=c["ref"], name=c["tool"], arguments=c.get("input") or {}) for c in body["calls"]]
        return ChatResponse(
            id=body.get("id"),
            provider=self.provider,
            model=request.model,
            message=Message(role="assistant", parts=parts),
            finish_reason=STOPS.get(body["stop"], "other"),
            usage=usage_from(body.get("meter"), self.provider),
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        acc = StreamAccumulator(self.provider, request.model)
        try:
            async with aclosing(self.stream_lines("/v1/generate", to_payload(request, stream=True))) as lines:
                async for line in lines:
                    if not line.strip():
                        continue
                    try:
                        chunk = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise MalformedResponseError(f"bad stream line {line[:200]!r}", provider=self.provider) from exc
                    if "fault" in chunk:
                        raise self.fault_error(chunk["fault"] if isinstance(chunk["fault"], dict) else {})
                    if "meter" in chunk:  # running totals: the latest is what was used so far
                        acc.usage = usage_from(chunk["meter"], self.provider)
                    elif "text" in chunk:
                        acc.add_text(chunk["text"])
                        yield TextDelta(chunk["text"])
                    elif "call" in chunk:  # a slot per call: its index ties the call's pieces together
                        call = chunk["call"]
                        delta = ToolCallDelta(call["slot"], call.get("ref"), call.get("tool"), call.get("input", ""))
                        acc.add_tool_delta(delta)
                        yield delta
                    elif "stop" in chunk:
                        acc.id = chunk.get("id")
                        acc.finish_reason = STOPS.get(chunk["stop"], "other")
            if acc.finish_reason is None:
                raise StreamInterruptedError("the stream ended before its stop line", provider=self.provider)
        except ProviderError:
            if acc.usage is not None:
                yield UsageReported(acc.usage)  # the usage reported so far, so the part delivered is charged
            raise
        if acc.usage is not None:
            yield UsageReported(acc.usage)
        yield StreamCompleted(acc.build())

    async def validate_credentials(self) -> bool:
        """``GET /v1/whoami`` costs nothing: True for a key the server accepts."""
        try:
            await self.get_json("/v1/whoami")
        except ProviderError as exc:
            if exc.status_code in (401, 403):
                return False
            raise
        return True
