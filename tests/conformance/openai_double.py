"""The conformance suite's adapter over the local OpenAI-compatible server.

The server answers from a FIFO queue or, when that is empty, from its
``handler``. ``send_batch`` sends concurrently, so a queue would hand replies
to whichever request arrives first; this adapter installs a handler that keys
each arranged reply by the request's last user text instead (the suite makes
that text unique per request), and keeps the body each key arrived with, so
:meth:`received` can say what reached the server.
"""

from __future__ import annotations

import collections
import json
import threading
from typing import Any

from servers import openai_compat as wire

from ai_core.testing import (
    CachedReply,
    ConformanceDouble,
    JsonReply,
    Received,
    StreamErrorReply,
    TextReply,
    ToolCallReply,
    request_key,
)
from ai_core.testing.doubles import Reply
from ai_core.types import ChatRequest

__all__ = ["OpenAICompatDouble"]


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content or [] if part.get("type") == "text")


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            return _text(message.get("content"))
    return ""


def _received(body: dict[str, Any]) -> Received:
    """Read the system prompt, tool calls and tool results back out of a Chat Completions body."""
    messages = body.get("messages") or []
    systems = [_text(m.get("content")) for m in messages if m.get("role") in ("system", "developer")]
    calls = tuple(
        (call["id"], call["function"]["name"], json.loads(call["function"]["arguments"] or "{}"))
        for m in messages
        if m.get("role") == "assistant"
        for call in m.get("tool_calls") or []
    )
    results = tuple((m["tool_call_id"], _text(m.get("content"))) for m in messages if m.get("role") == "tool")
    return Received(system="\n".join(systems) if systems else None, tool_calls=calls, tool_results=results)


def _server_reply(reply: Reply, call_number: int) -> wire.Reply:
    if isinstance(reply, TextReply):
        # Several short chunks, so a stream really is a sequence of deltas.
        return wire.Completion(text=reply.text, chunk_size=5, usage=wire.Usage(prompt_tokens=21, completion_tokens=6))
    if isinstance(reply, JsonReply):
        return wire.Completion(text=json.dumps(reply.data), chunk_size=7)
    if isinstance(reply, ToolCallReply):
        call = wire.ToolCall(name=reply.name, arguments=reply.arguments, id=f"call_conf{call_number}")
        return wire.Completion(text="", tool_calls=[call], chunk_size=6)
    if isinstance(reply, CachedReply):
        usage = wire.Usage(
            prompt_tokens=reply.input_tokens, completion_tokens=reply.output_tokens, cached_tokens=reply.cached_tokens
        )
        return wire.Completion(text=reply.text, chunk_size=5, usage=usage)
    if isinstance(reply, StreamErrorReply):
        # The role chunk and two text chunks, then an error event (the status is already 200).
        error = wire.ErrorReply(reply.status, reply.message, "server_error", "overloaded")
        return wire.Completion(
            text=reply.text,
            chunk_size=5,
            usage=wire.Usage(prompt_tokens=reply.input_tokens, completion_tokens=6),
            fault=wire.Fault.error_event(after=3, error=error),
        )
    if reply.status == 401:
        return wire.ErrorReply.unauthorized()
    if reply.status == 429:
        return wire.ErrorReply.rate_limited(retry_after=reply.retry_after)
    if reply.status >= 500:
        return wire.ErrorReply.server_error(reply.status)
    return wire.ErrorReply(reply.status, reply.message, "invalid_request_error")


class OpenAICompatDouble(ConformanceDouble):
    exact_errors = True

    def __init__(self, server: wire.OpenAICompatServer) -> None:
        self.server = server
        self._replies: dict[str, collections.deque[wire.Reply]] = collections.defaultdict(collections.deque)
        self._bodies: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._count = 0
        server.handler = self._answer

    def arrange(self, request: ChatRequest, reply: Reply) -> ChatRequest:
        with self._lock:
            self._count += 1
            self._replies[request_key(request)].append(_server_reply(reply, self._count))
        return request

    def received(self, request: ChatRequest) -> Received | None:
        with self._lock:
            body = self._bodies.get(request_key(request))
        return _received(body) if body is not None else Received()

    def _answer(self, recorded: wire.RecordedRequest) -> wire.Reply:
        body = recorded.json or {}
        key = _last_user_text(body)
        with self._lock:
            self._bodies[key] = body
            queue = self._replies.get(key)
            if queue:
                return queue.popleft()
        return wire.ErrorReply(400, f"conformance double: no reply arranged for {key!r}", "invalid_request_error")
