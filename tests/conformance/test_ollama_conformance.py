"""ai-ollama's driver passes the conformance suite against the local Ollama double.

Ollama reports no prompt-cache reads and its usage only on the last line of a
stream, and a local model costs nothing, so those checks skip (the profile says why).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from servers.ollama_server import Answer, OllamaServer, Refusal
from support.ollama_spec import request_errors

from ai_core import ChatRequest
from ai_core.drivers.base import Driver, ProviderConfig
from ai_core.testing import (
    ConformanceDouble,
    ConformanceProfile,
    DriverConformance,
    ErrorReply,
    JsonReply,
    Received,
    StreamErrorReply,
    TextReply,
    ToolCallReply,
    request_key,
)

KEY = "ollama-proxy-key"


class OllamaDouble(ConformanceDouble):
    exact_errors = True

    def __init__(self, server: OllamaServer) -> None:
        self.server = server

    def arrange(self, request: ChatRequest, reply: Any) -> ChatRequest:
        self.server.arrange(request_key(request), self._answer(reply))
        return request

    @staticmethod
    def _answer(reply: Any) -> Answer | Refusal:
        if isinstance(reply, TextReply):
            return Answer(text=reply.text)
        if isinstance(reply, JsonReply):
            return Answer(text=json.dumps(reply.data))
        if isinstance(reply, ToolCallReply):  # as older servers send it: no id
            return Answer(calls=[{"name": reply.name, "arguments": reply.arguments}])
        if isinstance(reply, StreamErrorReply):
            return Answer(text=reply.text, error_after=2, error=reply.message)
        assert isinstance(reply, ErrorReply), reply
        return Refusal(reply.status, reply.message, retry_after=reply.retry_after)

    def received(self, request: ChatRequest) -> Received | None:
        body = self.server.received(request_key(request))
        if body is None:
            return Received()
        messages = body.get("messages") or []
        system = next((m["content"] for m in messages if m.get("role") == "system"), None)
        return Received(
            system=system,
            tool_calls=tuple(
                (c.get("id"), c["function"]["name"], c["function"]["arguments"])
                for m in messages
                if m.get("role") == "assistant"
                for c in m.get("tool_calls") or []
            ),
            tool_results=tuple((m.get("tool_call_id"), m["content"]) for m in messages if m.get("role") == "tool"),
        )


@pytest.fixture(scope="module")
def _ollama() -> Iterator[OllamaServer]:
    with OllamaServer() as running:
        yield running


def make_driver(server: OllamaServer, key: str | None = KEY) -> Driver:
    from ai_ollama.driver import OllamaDriver

    return OllamaDriver(
        ProviderConfig(
            provider="ollama",
            api_key=SecretStr(key) if key else None,
            base_url=server.base_url,
            timeout=5.0,
            stream_idle_timeout=2.0,
        )
    )


class TestOllamaConformance(DriverConformance):
    @pytest.fixture
    def server(self, _ollama: OllamaServer) -> Iterator[OllamaServer]:
        _ollama.reset()
        _ollama.api_keys = {KEY}  # as behind an authenticating proxy, so bad credentials can be told apart
        yield _ollama
        problems = [p for _, path, body in list(_ollama.requests) for p in request_errors(path, body)]
        assert not problems, "requests do not match ollama-openapi.yaml:\n" + "\n".join(problems)

    @pytest.fixture
    def conformance_double(self, server: OllamaServer) -> OllamaDouble:
        return OllamaDouble(server)

    @pytest.fixture
    def conformance_driver(self, server: OllamaServer) -> Driver:
        return make_driver(server)

    @pytest.fixture
    def conformance_bad_credentials_driver(self, server: OllamaServer) -> Driver:
        return make_driver(server, key="wrong-key")

    @pytest.fixture
    def conformance_profile(self) -> ConformanceProfile:
        # No prompt-cache counts in Ollama's usage; usage only on the last line; local models are free.
        return ConformanceProfile(model="llama3.2", cached_tokens=False, priced=False)
