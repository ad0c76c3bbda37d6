"""The conformance suite's adapter over the local Gemini server."""

from __future__ import annotations

import json
from typing import Any

from pydantic import SecretStr
from servers.gemini_server import Answer, GeminiServer, Refusal, prompt_tokens

from ai_core import ChatRequest
from ai_core.drivers.base import ProviderConfig
from ai_core.testing import (
    CachedReply,
    ConformanceDouble,
    ErrorReply,
    JsonReply,
    Received,
    StreamErrorReply,
    TextReply,
    ToolCallReply,
    request_key,
)

API_KEY = "AIza-test-0123456789abcdef"


def gemini_config(server: GeminiServer, key: str = API_KEY, **overrides: Any) -> ProviderConfig:
    fields: dict[str, Any] = {"provider": "gemini", "api_key": SecretStr(key), "base_url": server.base_url,
                              "timeout": 5.0, "stream_idle_timeout": 5.0, **overrides}  # fmt: skip
    return ProviderConfig(**fields)


class GeminiDouble(ConformanceDouble):
    exact_errors = True

    def __init__(self, server: GeminiServer) -> None:
        self.server = server
        self.calls = 0

    def arrange(self, request: ChatRequest, reply: Any) -> ChatRequest:
        self.calls += 1
        self.server.arrange(request_key(request), self._answer(reply))
        return request

    def _answer(self, reply: Any) -> Answer | Refusal:
        if isinstance(reply, TextReply):
            return Answer(text=reply.text)
        if isinstance(reply, JsonReply):
            return Answer(text=json.dumps(reply.data))
        if isinstance(reply, ToolCallReply):  # Gemini 2.x sends calls without ids: the driver makes them
            return Answer(calls=[{"name": reply.name, "args": reply.arguments}])
        if isinstance(reply, CachedReply):  # Gemini's promptTokenCount includes the cached part
            usage = {"prompt": reply.input_tokens, "cached": reply.cached_tokens, "candidates": reply.output_tokens}
            return Answer(text=reply.text, usage=usage)
        if isinstance(reply, StreamErrorReply):
            error = Refusal.of(reply.status, reply.message)
            return Answer(text=reply.text, usage={"prompt": reply.input_tokens}, fault="error", fault_after=2,
                          error=error)  # fmt: skip
        assert isinstance(reply, ErrorReply)
        refusal = Refusal.of(reply.status, reply.message)
        if reply.retry_after is not None:
            refusal.retry_delay = f"{reply.retry_after:g}s"
        return refusal

    def expected_input_tokens(self, request: ChatRequest, reply: Any) -> int | None:
        if isinstance(reply, CachedReply):
            return reply.input_tokens
        if isinstance(reply, StreamErrorReply):
            return reply.input_tokens
        body = self.server.received(request_key(request))
        return prompt_tokens(body) if body is not None else None

    def received(self, request: ChatRequest) -> Received | None:
        body = self.server.received(request_key(request))
        if body is None:
            return Received()
        system = body.get("systemInstruction")
        calls: list[tuple[str, str, dict[str, Any]]] = []
        results: list[tuple[str, str]] = []
        for content in body.get("contents") or []:
            for part in content.get("parts") or []:
                if "functionCall" in part and content.get("role") == "model":
                    call = part["functionCall"]
                    calls.append((call.get("id", ""), call["name"], call.get("args") or {}))
                elif "functionResponse" in part:
                    response = part["functionResponse"]
                    results.append((response.get("id", ""), str((response.get("response") or {}).get("result"))))
        return Received(
            system="".join(p.get("text", "") for p in system["parts"]) if system else None,
            tool_calls=tuple(calls),
            tool_results=tuple(results),
        )
