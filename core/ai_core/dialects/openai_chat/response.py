"""The response side: a whole ``chat.completion`` body, its usage, and the model list.

Pure translation, no I/O. A whole response goes through the same
:class:`~ai_core.drivers.streaming.StreamAccumulator` a stream does, so both
build the same :class:`~ai_core.types.ChatResponse`; :func:`parse_usage` is
shared with the stream reader too.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from ai_core import errors
from ai_core.dialects.openai_chat._coerce import (
    SHAPE_ERRORS,
    arguments,
    content_text,
    count,
    finish_reason,
    malformed,
    opt_string,
    string,
)
from ai_core.dialects.openai_chat.error_payload import error_from_payload
from ai_core.dialects.openai_chat.profile import ChatProfile
from ai_core.drivers.streaming import StreamAccumulator
from ai_core.types import ChatResponse, ModelInfo, TokenUsage, ToolCallDelta

__all__ = ["parse_model_list", "parse_response", "parse_usage"]


def parse_response(body: Any, *, provider: str, model: str, profile: ChatProfile) -> ChatResponse:
    """A whole ``chat.completion`` body as a :class:`ChatResponse`.

    ``model`` is the id the caller asked for, kept as the response's model so
    pricing finds it even when the server answers with a dated snapshot id;
    the served id is in ``provider_fields["served_model"]``.
    """
    try:
        return _parse_response(body, provider, model, profile)
    except errors.AIError:
        raise
    except SHAPE_ERRORS as exc:
        raise malformed(provider, f"unexpected chat.completion shape ({type(exc).__name__}: {exc})") from exc


def _parse_response(body: Any, provider: str, model: str, profile: ChatProfile) -> ChatResponse:
    if not isinstance(body, dict):
        raise malformed(provider, f"expected a JSON object, got {type(body).__name__}")
    if body.get("error"):
        raise error_from_payload(body["error"], provider)
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise malformed(provider, "response has no choices")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise malformed(provider, "choice has no message")

    acc = StreamAccumulator(provider, model)
    acc.id = opt_string(body.get("id"), "id", provider)
    for key in profile.reasoning_keys:
        reasoning = message.get(key)
        if reasoning:
            acc.add_reasoning(string(reasoning, key, provider))
    content = message.get("content")
    if content:
        acc.add_text(content_text(content, provider))
    refusal = message.get("refusal")
    if refusal:
        refusal = string(refusal, "refusal", provider)
        if not content:
            acc.add_text(refusal)
        acc.provider_fields["refusal"] = refusal
    calls = message.get("tool_calls")
    if calls:
        if not isinstance(calls, list):
            raise malformed(provider, "tool_calls is not a list")
        for index, call in enumerate(calls):
            function = call.get("function") or {}
            acc.add_tool_delta(
                ToolCallDelta(
                    index,
                    opt_string(call.get("id"), "tool_calls.id", provider),
                    opt_string(function.get("name"), "tool_calls.function.name", provider),
                    arguments(function.get("arguments")),
                )
            )
    acc.finish_reason = finish_reason(choice.get("finish_reason"))
    served = body.get("model")
    if served and served != model:
        acc.provider_fields["served_model"] = str(served)
    usage = body.get("usage")
    if usage:
        acc.usage, extras = parse_usage(usage, profile, provider)
        if extras:
            acc.provider_fields["usage"] = extras
    return acc.build()


_USAGE_KEYS = frozenset({"prompt_tokens", "completion_tokens", "total_tokens"})
_DETAIL_KEYS = {
    "prompt_tokens_details": frozenset({"cached_tokens", "cache_write_tokens"}),
    "completion_tokens_details": frozenset({"reasoning_tokens"}),
}


def parse_usage(usage: Any, profile: ChatProfile, provider: str = "") -> tuple[TokenUsage, dict[str, Any]]:
    """``CompletionUsage`` as :class:`TokenUsage`, plus the fields it has no slot for.

    Follows ai-core's convention (input includes cached, output includes
    reasoning): where a server reports reasoning on top of ``completion_tokens``
    (xAI), it is added. Extra fields (xAI's ``cost_in_usd_ticks``,
    ``num_sources_used``...) come back in the second value, zeros dropped.
    """
    if not isinstance(usage, dict):
        raise malformed(provider, "usage is not an object")
    prompt = count(usage.get("prompt_tokens"), "prompt_tokens", provider)
    completion = count(usage.get("completion_tokens"), "completion_tokens", provider)
    total = count(usage.get("total_tokens"), "total_tokens", provider)
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    if not isinstance(prompt_details, dict) or not isinstance(completion_details, dict):
        raise malformed(provider, "usage details are not objects")
    cached = count(prompt_details.get("cached_tokens"), "cached_tokens", provider)
    written = count(prompt_details.get("cache_write_tokens"), "cache_write_tokens", provider)
    reasoning = count(completion_details.get("reasoning_tokens"), "reasoning_tokens", provider)

    included = profile.reasoning_in_completion
    if included is None:
        included = not (reasoning and total == prompt + completion + reasoning)
    output = completion if included else completion + reasoning
    token_usage = TokenUsage(
        input_tokens=prompt,
        output_tokens=output,
        cached_input_tokens=min(cached, prompt),
        cache_write_tokens=min(written, prompt),
        reasoning_tokens=min(reasoning, output),
        total_tokens=prompt + output,
        reported_cost=reported_cost(usage),
    )

    extras: dict[str, Any] = {k: v for k, v in usage.items() if k not in _USAGE_KEYS and k not in _DETAIL_KEYS and v}
    for key, known in _DETAIL_KEYS.items():
        details = usage.get(key)
        if isinstance(details, dict):
            rest = {k: v for k, v in details.items() if k not in known and v}
            if rest:
                extras[key] = rest
    return token_usage, extras


_TICKS_PER_USD = Decimal(10_000_000_000)


def reported_cost(usage: dict[str, Any]) -> Decimal | None:
    """The cost the provider reports: xAI's ``cost_in_usd_ticks`` (1e-10 USD), OpenRouter's ``cost`` (USD)."""
    ticks = usage.get("cost_in_usd_ticks")
    if isinstance(ticks, int) and not isinstance(ticks, bool) and ticks >= 0:
        return Decimal(ticks) / _TICKS_PER_USD
    cost = usage.get("cost")
    if isinstance(cost, int | float) and not isinstance(cost, bool) and cost >= 0 and math.isfinite(cost):
        return Decimal(str(cost))
    return None


def parse_model_list(body: Any, *, provider: str, profile: ChatProfile) -> list[ModelInfo]:
    """``GET /models`` (``ListModelsResponse``) as :class:`ModelInfo` rows."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise malformed(provider, "model list has no data array")
    keep = profile.list_model_filter
    models: list[ModelInfo] = []
    for item in data:
        model_id = item.get("id") if isinstance(item, dict) else None
        if not isinstance(model_id, str) or not model_id:
            raise malformed(provider, f"model entry without an id: {item!r}"[:300])
        if keep is not None and not keep(model_id):
            continue
        models.append(
            ModelInfo(provider=provider, id=model_id, reasoning=profile.is_reasoning(model_id), served_by=None)
        )
    return sorted(models, key=lambda m: m.id)
