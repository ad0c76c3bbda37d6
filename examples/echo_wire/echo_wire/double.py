"""The conformance suite's adapter over the local server (used by the plugin's own tests).

The suite says which reply a request must get; this turns each into the server's
:class:`~echo_wire.server.Answer` or :class:`~echo_wire.server.Refusal`, keyed by
the request's last user text (unique per request in the suite), and reads back
what the server received.
"""

from __future__ import annotations

import json
from typing import Any

from ai_core import ChatRequest
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
from echo_wire.server import Answer, EchoWireServer, Refusal


class EchoWireDouble(ConformanceDouble):
    exact_errors = True  # statuses and Retry-After arrive exactly as arranged

    def __init__(self, server: EchoWireServer) -> None:
        self.server = server
        self.calls = 0

    def arrange(self, request: ChatRequest, reply: Any) -> ChatRequest:
        self.calls += 1
        self.server.arrange(request_key(request), self._answer(reply))
        return request

    def _answer(self, reply: Any) -> Answer | Refusal:
        if isinstance(reply, TextReply):
            return Answer(text=reply.text, meter={"fresh": 21, "cache_read": 0, "out": 6})
        if isinstance(reply, JsonReply):
            return Answer(text=json.dumps(reply.data))
        if isinstance(reply, ToolCallReply):
            return Answer(calls=[{"ref": f"call_{self.calls}", "tool": reply.name, "input": reply.arguments}])
        if isinstance(reply, CachedReply):  # Echo Wire reports cache reads apart from "fresh" tokens
            fresh = reply.input_tokens - reply.cached_tokens
            return Answer(text=reply.text, meter={"fresh": fresh, "cache_read": reply.cached_tokens,
                                                  "out": reply.output_tokens})  # fmt: skip
        if isinstance(reply, StreamErrorReply):
            fault = {"status": reply.status, "message": reply.message}
            return Answer(text=reply.text, meter={"fresh": reply.input_tokens, "out": 9}, fault_after=2, fault=fault)
        assert isinstance(reply, ErrorReply)
        return Refusal(reply.status, reply.message, retry_after=reply.retry_after)

    def received(self, request: ChatRequest) -> Received | None:
        body = self.server.received(request_key(request))
        if body is None:
            return Received()
        turns = body.get("turns") or []
        return Received(
            system=body.get("instructions"),
            tool_calls=tuple(
                (c["ref"], c["tool"], c["input"]) for t in turns if t["from"] == "model" for c in t.get("calls", [])
            ),
            tool_results=tuple((t["ref"], t["output"]) for t in turns if t["from"] == "tool"),
        )
