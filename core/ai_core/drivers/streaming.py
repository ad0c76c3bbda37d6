"""Assemble stream deltas into the final response, and parse SSE lines.

Drivers feed every delta they yield into a :class:`StreamAccumulator` and end the
stream with ``StreamCompleted(acc.build())``, so streamed and unstreamed calls
end in the same :class:`~ai_core.types.ChatResponse` by construction.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from ai_core import errors
from ai_core.types import (
    ChatResponse,
    FinishReason,
    Message,
    ReasoningPart,
    TextPart,
    TokenUsage,
    ToolCallDelta,
    ToolCallPart,
)

__all__ = ["UNREPORTED_USAGE", "ServerSentEvent", "StreamAccumulator", "iter_sse"]

UNREPORTED_USAGE = TokenUsage(estimated=True)
"""The usage of a call whose provider reported none: the pipeline estimates it (never a zero)."""


class StreamAccumulator:
    """Collect deltas; ``build()`` returns the full response."""

    __slots__ = (
        "_reasoning",
        "_text",
        "_tools",
        "finish_reason",
        "id",
        "model",
        "provider",
        "provider_fields",
        "usage",
    )

    def __init__(self, provider: str, model: str) -> None:
        self.provider = provider
        self.model = model
        self.id: str | None = None
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._tools: dict[int, list[Any]] = {}
        self.usage: TokenUsage | None = None
        self.finish_reason: FinishReason | None = None
        self.provider_fields: dict[str, Any] = {}

    def add_text(self, text: str) -> None:
        self._text.append(text)

    def add_reasoning(self, text: str) -> None:
        self._reasoning.append(text)

    def add_tool_delta(self, delta: ToolCallDelta) -> None:
        slot = self._tools.get(delta.index)
        if slot is None:
            slot = self._tools[delta.index] = [delta.id, delta.name, []]
        if delta.id:
            slot[0] = delta.id
        if delta.name:
            slot[1] = delta.name
        if delta.arguments:
            slot[2].append(delta.arguments)

    @property
    def text(self) -> str:
        return "".join(self._text)

    @property
    def reasoning(self) -> str:
        return "".join(self._reasoning)

    @property
    def empty(self) -> bool:
        """Nothing arrived: no text, reasoning, tool call, finish reason or usage."""
        return not (self._text or self._reasoning or self._tools or self.finish_reason or self.usage)

    def build(self) -> ChatResponse:
        """The whole response. Raises :class:`~ai_core.errors.MalformedResponseError`
        when nothing arrived (a stream of only ``[DONE]``). Usage the provider never
        sent is ``TokenUsage(estimated=True)``: the pipeline estimates it from the
        text, and it is never a false zero."""
        if self.empty:
            raise errors.MalformedResponseError(
                "the response ended without any content, finish reason or usage", provider=self.provider
            )
        parts: list[Any] = []
        if self._reasoning:
            parts.append(ReasoningPart(text="".join(self._reasoning)))
        text = "".join(self._text)
        if text or not self._tools:
            parts.append(TextPart(text=text))
        for index in sorted(self._tools):
            call_id, name, fragments = self._tools[index]
            parts.append(tool_call_part(call_id or f"call_{index}", name, "".join(fragments), self.provider))
        return ChatResponse(
            id=self.id,
            provider=self.provider,
            model=self.model,
            message=Message(role="assistant", parts=parts),
            finish_reason=self.finish_reason or ("tool_calls" if self._tools else "stop"),
            usage=self.usage or UNREPORTED_USAGE,
            provider_fields=self.provider_fields,
        )


def tool_call_part(call_id: str, name: str | None, arguments: str | dict[str, Any], provider: str) -> ToolCallPart:
    """Build a tool call, parsing JSON arguments; bad JSON is a typed error."""
    if not name:
        raise errors.MalformedResponseError("tool call without a function name", provider=provider)
    if isinstance(arguments, dict):
        parsed: Any = arguments
    else:
        try:
            parsed = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as exc:
            raise errors.MalformedResponseError(
                f"tool call {name!r} has arguments that are not JSON: {arguments[:200]!r}", provider=provider
            ) from exc
    if not isinstance(parsed, dict):
        raise errors.MalformedResponseError(f"tool call {name!r} arguments are not a JSON object", provider=provider)
    return ToolCallPart(id=call_id, name=name, arguments=parsed)


class ServerSentEvent:
    """One SSE event; a plain slotted object, since streams make thousands."""

    __slots__ = ("data", "event", "id")

    def __init__(self, event: str, data: str, id: str | None) -> None:
        self.event = event
        self.data = data
        self.id = id

    def json(self) -> Any:
        return json.loads(self.data)


async def iter_sse(lines: AsyncIterator[str]) -> AsyncIterator[ServerSentEvent]:
    """Group text lines into events per the SSE spec (WHATWG HTML §9.2.6).

    Handles multi-line ``data:``, comments and ``event:``/``id:`` fields; retry
    hints are ignored because drivers do their own retrying.
    """
    event = "message"
    data: list[str] = []
    last_id: str | None = None
    async for line in lines:
        if not line:
            if data:
                yield ServerSentEvent(event, "\n".join(data), last_id)
            event, data = "message", []
            continue
        if line[0] == ":":
            continue
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id":
            last_id = value
    if data:
        yield ServerSentEvent(event, "\n".join(data), last_id)
