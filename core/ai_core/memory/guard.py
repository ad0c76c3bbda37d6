"""Refuse a request that cannot fit the model's context window, before paying for the provider's 400.

The prompt is estimated at four characters a token (English prose; code and
other languages run denser, so the estimate errs towards letting a borderline
request through to the provider rather than refusing one that fits), plus
a few tokens per message and a fixed amount per image. A request whose estimate
plus its ``max_tokens`` exceeds the model's context window (from the model
catalogue) is refused with :class:`~ai_core.errors.ContextLengthExceededError`
carrying ``estimated_tokens`` and ``context_window``. Models without a known
window pass. A conversation with ``.memory("summary", ...)`` is reduced first
(its layer runs outside this one), so it fits.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ai_core import errors
from ai_core.pipeline.middleware import Call, Middleware
from ai_core.types import ImagePart, ReasoningPart, TextPart, ToolCallPart, ToolResultPart

if TYPE_CHECKING:
    from ai_core.services import Services
    from ai_core.types import ChatRequest, Message

__all__ = ["ContextWindowGuard", "context_window", "estimate_message_tokens", "estimate_prompt_tokens"]

CHARS_PER_TOKEN = 4
MESSAGE_TOKENS = 4
IMAGE_TOKENS = 765


def estimate_message_tokens(message: Message) -> int:
    chars, images = 0, 0
    for part in message.parts:
        if isinstance(part, TextPart | ReasoningPart):
            chars += len(part.text)
        elif isinstance(part, ToolResultPart):
            chars += len(part.content)
        elif isinstance(part, ToolCallPart):
            chars += len(part.name) + len(json.dumps(part.arguments))
        elif isinstance(part, ImagePart):
            images += 1
    return -(-chars // CHARS_PER_TOKEN) + MESSAGE_TOKENS + IMAGE_TOKENS * images


def estimate_prompt_tokens(request: ChatRequest) -> int:
    tokens = -(-len(request.system or "") // CHARS_PER_TOKEN) + MESSAGE_TOKENS
    tokens += sum(estimate_message_tokens(m) for m in request.messages)
    for tool in request.tools or ():
        tokens += -(-(len(tool.name) + len(tool.description) + len(json.dumps(tool.parameters))) // CHARS_PER_TOKEN)
    return tokens


def context_window(services: Services, provider: str, model: str) -> int | None:
    from ai_core.pipeline.lifecycle import find_model

    info = find_model(services.registry, provider, model)
    return int(info.context_window) if info is not None and info.context_window else None


class ContextWindowGuard(Middleware):
    name = "context_window"
    order = 900

    async def rewrite(self, call: Call) -> Call:
        request = call.request
        call.state["sent_request"] = request  # what the audit trail hashes
        window = context_window(call.services, request.provider, request.model)
        if window is None:
            return call
        estimate = estimate_prompt_tokens(request)
        needed = estimate + (request.max_tokens or 0)
        if needed > window:
            output = f" + max_tokens {request.max_tokens}" if request.max_tokens else ""
            raise errors.ContextLengthExceededError(
                f"the request needs about {estimate} tokens{output}, more than the {window}-token context window "
                f"of {request.qualified_model}; shorten it, or use .memory('summary', ...) on the conversation",
                estimated_tokens=estimate,
                context_window=window,
                provider=request.provider,
            )
        return call
