"""Provider-neutral data types shared by core, drivers and applications."""

from ai_core.types.messages import ImagePart, Message, Part, ReasoningPart, Role, TextPart, ToolCallPart, ToolResultPart
from ai_core.types.models import Capabilities, ModelInfo, ModelPrice, PriceTier
from ai_core.types.request import ChatRequest, ResponseFormat, ToolChoice, ToolSpec
from ai_core.types.response import ChatResponse, FinishReason
from ai_core.types.stream import ReasoningDelta, StreamCompleted, StreamEvent, TextDelta, ToolCallDelta, UsageReported
from ai_core.types.usage import Cost, TokenUsage

__all__ = [
    "Capabilities",
    "ChatRequest",
    "ChatResponse",
    "Cost",
    "FinishReason",
    "ImagePart",
    "Message",
    "ModelInfo",
    "ModelPrice",
    "Part",
    "PriceTier",
    "ReasoningDelta",
    "ReasoningPart",
    "ResponseFormat",
    "Role",
    "StreamCompleted",
    "StreamEvent",
    "TextDelta",
    "TextPart",
    "TokenUsage",
    "ToolCallDelta",
    "ToolCallPart",
    "ToolChoice",
    "ToolResultPart",
    "ToolSpec",
    "UsageReported",
]
