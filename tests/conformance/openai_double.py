"""The conformance suite's adapter over the local OpenAI-compatible server.

The server answers from a FIFO queue or, when that is empty, from its
``handler``. ``send_batch`` sends concurrently, so a queue would hand replies
to whichever request arrives first; this adapter installs a handler that keys
each arranged reply by the request's last user text instead (the suite makes
that text unique per request).
"""

from __future__ import annotations

import collections
import json
import threading
from typing import Any

from servers import openai_compat as wire

from ai_core.testing import ConformanceDouble, JsonReply, TextReply, ToolCallReply, request_key
from ai_core.testing.doubles import Reply
from ai_core.types import ChatRequest

__all__ = ["OpenAICompatDouble"]


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        return "".join(part.get("text", "") for part in content or [] if part.get("type") == "text")
    return ""


def _server_reply(reply: Reply, call_number: int) -> wire.Reply:
    if isinstance(reply, TextReply):
        # Several short chunks, so a stream really is a sequence of deltas.
        return wire.Completion(text=reply.text, chunk_size=5, usage=wire.Usage(prompt_tokens=21, completion_tokens=6))
    if isinstance(reply, JsonReply):
        return wire.Completion(text=json.dumps(reply.data), chunk_size=7)
    if isinstance(reply, ToolCallReply):
        call = wire.ToolCall(name=reply.name, arguments=reply.arguments, id=f"call_conf{call_number}")
        return wire.Completion(text="", tool_calls=[call], chunk_size=6)
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
        self._lock = threading.Lock()
        self._count = 0
        server.handler = self._answer

    def arrange(self, request: ChatRequest, reply: Reply) -> ChatRequest:
        with self._lock:
            self._count += 1
            self._replies[request_key(request)].append(_server_reply(reply, self._count))
        return request

    def _answer(self, recorded: wire.RecordedRequest) -> wire.Reply:
        key = _last_user_text(recorded.json or {})
        with self._lock:
            queue = self._replies.get(key)
            if queue:
                return queue.popleft()
        return wire.ErrorReply(400, f"conformance double: no reply arranged for {key!r}", "invalid_request_error")
