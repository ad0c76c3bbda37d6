"""Token counts for a call whose provider reported none.

A stream cut before its usage chunk, or a server that never sends usage, was
still paid for. Its usage is estimated from what was sent and what arrived, at
:data:`CHARS_PER_TOKEN` characters per token, and marked ``estimated`` in the
response and the ledger. Three characters per token over-counts English prose
(about four) a little and is close for code and most other languages: an
estimate that errs towards charging, since an unknown cost must never pass as
free.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ai_core.types import ImagePart, Message, ReasoningPart, TextPart, TokenUsage, ToolCallPart, ToolResultPart

if TYPE_CHECKING:
    from ai_core.types import ChatRequest

__all__ = ["CHARS_PER_TOKEN", "IMAGE_TOKENS", "MESSAGE_TOKENS", "estimate_tokens", "estimate_usage"]

CHARS_PER_TOKEN = 3
MESSAGE_TOKENS = 4
"""Per message: the role and separators every chat format adds."""
IMAGE_TOKENS = 765
"""A 1024x1024 image at high detail in OpenAI's tiling; providers differ."""


def estimate_tokens(chars: int) -> int:
    return -(-chars // CHARS_PER_TOKEN)


def _message_chars(message: Message) -> tuple[int, int]:
    chars = images = 0
    for part in message.parts:
        if isinstance(part, TextPart | ReasoningPart):
            chars += len(part.text)
        elif isinstance(part, ToolCallPart):
            chars += len(part.name) + len(json.dumps(part.arguments))
        elif isinstance(part, ToolResultPart):
            chars += len(part.content)
        elif isinstance(part, ImagePart):
            images += 1
    return chars, images


def estimate_usage(request: ChatRequest, answer: Message) -> TokenUsage:
    """Estimated usage of ``request`` answered (so far) by ``answer``."""
    chars, images = len(request.system or ""), 0
    for message in request.messages:
        more, pictures = _message_chars(message)
        chars, images = chars + more, images + pictures
    for tool in request.tools or ():
        chars += len(tool.name) + len(tool.description) + len(json.dumps(tool.parameters))
    prompt = estimate_tokens(chars) + MESSAGE_TOKENS * (len(request.messages) + 1) + IMAGE_TOKENS * images
    answer_chars, _ = _message_chars(answer)
    reasoning = estimate_tokens(sum(len(p.text) for p in answer.parts if isinstance(p, ReasoningPart)))
    output = estimate_tokens(answer_chars)
    return TokenUsage(
        input_tokens=prompt, output_tokens=output, reasoning_tokens=min(reasoning, output), estimated=True
    )
