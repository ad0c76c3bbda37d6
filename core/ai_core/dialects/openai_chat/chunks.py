"""The stream side: one ``data:`` payload at a time, into deltas and a final response.

Pure translation, no I/O: the driver hands each payload to a
:class:`ChunkReader`, which ends through the same
:class:`~ai_core.drivers.streaming.StreamAccumulator` and
:func:`~ai_core.dialects.openai_chat.response.parse_usage` as an unstreamed
call, so both produce the same :class:`~ai_core.types.ChatResponse`.
"""

from __future__ import annotations

import json
from typing import Any

from ai_core import errors
from ai_core.dialects.openai_chat._coerce import (
    SHAPE_ERRORS,
    arguments,
    content_text,
    finish_reason,
    malformed,
    opt_string,
    string,
)
from ai_core.dialects.openai_chat.error_payload import error_from_payload
from ai_core.dialects.openai_chat.profile import ChatProfile
from ai_core.dialects.openai_chat.response import parse_usage
from ai_core.drivers.streaming import StreamAccumulator
from ai_core.types import ChatResponse, ReasoningDelta, StreamEvent, TextDelta, TokenUsage, ToolCallDelta

__all__ = ["ChunkReader"]


class ChunkReader:
    """Reads one stream's ``data:`` payloads into deltas, and its final response.

    One per stream. Each :meth:`feed` parses one chunk and returns the deltas
    it holds (usually one); nothing is priced or validated per chunk, and the
    usage object, which xAI repeats on every chunk, is parsed once at the end.
    """

    __slots__ = ("_refusal", "_served", "_usage", "acc", "done", "finished", "profile", "provider")

    def __init__(self, provider: str, model: str, profile: ChatProfile) -> None:
        self.acc = StreamAccumulator(provider, model)
        self.provider = provider
        self.profile = profile
        self.done = False
        self.finished = False
        self._refusal: list[str] = []
        self._usage: Any = None
        self._served: Any = None

    def feed(self, data: str) -> list[StreamEvent]:
        """Parse one ``data:`` payload; ``[DONE]`` marks the end of the stream."""
        if data == "[DONE]":
            self.done = True
            return []
        try:
            chunk = json.loads(data)
        except ValueError as exc:
            raise malformed(self.provider, f"stream chunk is not JSON: {data[:200]!r}") from exc
        try:
            return self._read(chunk)
        except errors.AIError:
            raise
        except SHAPE_ERRORS as exc:
            raise malformed(self.provider, f"unexpected stream chunk shape ({type(exc).__name__}: {exc})") from exc

    def _read(self, chunk: Any) -> list[StreamEvent]:
        if type(chunk) is not dict:
            raise malformed(self.provider, f"stream chunk is not an object: {type(chunk).__name__}")
        if chunk.get("error"):
            raise error_from_payload(chunk["error"], self.provider)
        acc = self.acc
        if acc.id is None and "id" in chunk:
            acc.id = opt_string(chunk["id"], "id", self.provider)
        if self._served is None:
            self._served = chunk.get("model")
        usage = chunk.get("usage")
        if usage is not None:
            self._usage = usage
        choices = chunk.get("choices")
        if not choices:
            if choices is None and usage is None:
                raise malformed(self.provider, "stream chunk has neither choices nor usage")
            return []
        events: list[StreamEvent] = []
        for choice in choices:
            if choice.get("index", 0) != 0:  # n > 1 is not supported: read the first choice only
                continue
            delta = choice.get("delta")
            if delta:
                self._read_delta(delta, events)
            reason = choice.get("finish_reason")
            if reason:
                acc.finish_reason = finish_reason(reason)
                self.finished = True
        return events

    def _read_delta(self, delta: dict[str, Any], events: list[StreamEvent]) -> None:
        acc, provider = self.acc, self.provider
        for key in self.profile.reasoning_keys:
            reasoning = delta.get(key)
            if reasoning:
                acc.add_reasoning(string(reasoning, key, provider))
                events.append(ReasoningDelta(reasoning))
        content = delta.get("content")
        if content:
            if type(content) is not str:
                content = content_text(content, provider)
            acc.add_text(content)
            events.append(TextDelta(content))
        refusal = delta.get("refusal")
        if refusal:
            self._refusal.append(string(refusal, "refusal", provider))
        calls = delta.get("tool_calls")
        if calls:
            for position, call in enumerate(calls):
                function = call.get("function") or {}
                index = call.get("index", position)
                if type(index) is not int or index < 0:
                    raise malformed(provider, f"tool call delta has a bad index: {index!r}")
                tool_delta = ToolCallDelta(
                    index,
                    opt_string(call.get("id"), "tool_calls.id", provider),
                    opt_string(function.get("name"), "tool_calls.function.name", provider),
                    arguments(function.get("arguments")),
                )
                acc.add_tool_delta(tool_delta)
                events.append(tool_delta)

    @property
    def complete(self) -> bool:
        """The server said the stream ended: ``[DONE]``, or a finish reason plus the final usage."""
        return self.done or (self.finished and self._usage is not None)

    def reported_usage(self) -> TokenUsage | None:
        """The last usage the server sent, if any (for a stream cut before its end)."""
        if not self._usage:
            return None
        try:
            return parse_usage(self._usage, self.profile, self.provider)[0]
        except errors.AIError:
            return None

    def finish(self) -> ChatResponse:
        """The assembled response; a stream that never said it ended is interrupted."""
        if not self.complete:
            raise errors.StreamInterruptedError(
                "stream ended before the server finished it (no [DONE] and no final usage)", provider=self.provider
            )
        acc = self.acc
        try:
            if self._refusal:
                refusal = "".join(self._refusal)
                if not acc.text:
                    acc.add_text(refusal)
                acc.provider_fields["refusal"] = refusal
            if self._served and self._served != acc.model:
                acc.provider_fields["served_model"] = str(self._served)
            if self._usage:
                acc.usage, extras = parse_usage(self._usage, self.profile, self.provider)
                if extras:
                    acc.provider_fields["usage"] = extras
            return acc.build()
        except errors.AIError:
            raise
        except SHAPE_ERRORS as exc:
            raise malformed(self.provider, f"cannot assemble the streamed response ({exc})") from exc
