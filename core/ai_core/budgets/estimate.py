"""A request's worst-case cost, reserved against budgets before the call.

Output: ``max_tokens``, else the model's ``max_output_tokens``, else a default.
Input: one token per character of everything sent (text, tool arguments and
results, tool schemas, the system prompt), plus a per-message overhead and a
flat allowance per image. A token almost never covers less than a character,
so this bounds the real count from above; the reservation is released when
the real cost is known, so over-estimating only holds money briefly.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ai_core.types import (
    ChatRequest,
    Cost,
    ImagePart,
    ReasoningPart,
    TextPart,
    TokenUsage,
    ToolCallPart,
    ToolResultPart,
)

if TYPE_CHECKING:
    from ai_core.services import Services

__all__ = ["IMAGE_TOKENS", "MESSAGE_OVERHEAD", "estimate_input_tokens", "max_output_tokens", "worst_case_cost"]

MESSAGE_OVERHEAD = 8
IMAGE_TOKENS = 2_000


def estimate_input_tokens(request: ChatRequest) -> int:
    chars = len(request.system or "")
    images = 0
    for message in request.messages:
        for part in message.parts:
            if isinstance(part, TextPart | ReasoningPart):
                chars += len(part.text)
            elif isinstance(part, ToolCallPart):
                chars += len(part.name) + len(json.dumps(part.arguments))
            elif isinstance(part, ToolResultPart):
                chars += len(part.content)
            elif isinstance(part, ImagePart):
                images += 1
    for tool in request.tools or ():
        chars += len(tool.name) + len(tool.description) + len(json.dumps(tool.parameters))
    if request.response_format is not None and request.response_format.json_schema:
        chars += len(json.dumps(request.response_format.json_schema))
    return chars + MESSAGE_OVERHEAD * len(request.messages) + IMAGE_TOKENS * images


def max_output_tokens(request: ChatRequest, services: Services, default: int) -> int:
    if request.max_tokens:
        return request.max_tokens
    for info in services.registry.models():
        if info.provider == request.provider and info.id == request.model and info.max_output_tokens:
            return int(info.max_output_tokens)
    return default


def worst_case_cost(request: ChatRequest, services: Services, when: datetime, *, default_max_output: int) -> Cost:
    """The most ``request`` can cost at the price in force ``when`` (unknown if unpriced)."""
    usage = TokenUsage(
        input_tokens=estimate_input_tokens(request),
        output_tokens=max_output_tokens(request, services, default_max_output),
    )
    return price_usage(services, request.provider, request.model, usage, when)


def price_usage(services: Services, provider: str, model: str, usage: TokenUsage, when: datetime) -> Cost:
    """Price ``usage`` the way responses are priced: the cost hooks, then the table."""
    price = services.prices.price_at(provider, model, when)
    cost: Any = services.registry.hook.calculate_cost(
        provider=provider, model=model, usage=usage, priced_at=when, price=price
    )
    return cost if isinstance(cost, Cost) else Cost.unknown(provider, model)
