"""Stream events: light slotted dataclasses, because a stream makes many.

A driver yields deltas as they arrive and ends with exactly one
:class:`StreamCompleted` carrying the same :class:`ChatResponse` the unstreamed
call would have returned (usage and cost included).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ai_core.types.response import ChatResponse
    from ai_core.types.usage import TokenUsage

__all__ = [
    "ReasoningDelta",
    "StreamCompleted",
    "StreamEvent",
    "TextDelta",
    "ToolCallDelta",
    "UsageReported",
]


@dataclass(slots=True, frozen=True)
class TextDelta:
    text: str


@dataclass(slots=True, frozen=True)
class ReasoningDelta:
    text: str


@dataclass(slots=True, frozen=True)
class ToolCallDelta:
    """A fragment of a tool call; ``index`` ties fragments of one call together."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(slots=True, frozen=True)
class UsageReported:
    usage: TokenUsage


@dataclass(slots=True, frozen=True)
class StreamCompleted:
    response: ChatResponse


StreamEvent = TextDelta | ReasoningDelta | ToolCallDelta | UsageReported | StreamCompleted
