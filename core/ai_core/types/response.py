"""The one response shape every call ends in, streamed or not."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ai_core.types.messages import Message, ToolCallPart
from ai_core.types.usage import Cost, TokenUsage

__all__ = ["ChatResponse", "FinishReason"]

FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "error", "other"]


class ChatResponse(BaseModel):
    """A finished model turn with its usage, cost and latency."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    id: str | None = None
    provider: str
    model: str
    message: Message
    finish_reason: FinishReason = "stop"
    usage: TokenUsage = Field(default_factory=TokenUsage)
    cost: Cost | None = None
    latency_ms: float | None = None
    raw: dict[str, Any] | None = Field(default=None, description="the provider's payload, when asked for")
    parsed: Any = Field(default=None, description="structured output parsed into the requested model")
    conversation_id: str | None = None
    message_id: str | None = None
    provider_fields: dict[str, Any] = Field(default_factory=dict, description="extra fields a provider returns")
    capped_max_tokens: int | None = Field(
        default=None, description="max_tokens a budget set because the request had none (the answer may be cut)"
    )
    cached: bool = Field(default=False, description="answered from the response cache, without the provider")

    @property
    def text(self) -> str:
        return self.message.text

    @property
    def tool_calls(self) -> list[ToolCallPart]:
        return self.message.tool_calls

    @property
    def reasoning(self) -> str | None:
        return self.message.reasoning
