"""A request's worst-case cost, reserved against budgets before the call.

Every number here is an upper bound on what a provider that honours the
request can bill; the reservation is released when the real cost is known,
so over-estimating only holds money briefly, while under-estimating lets a
hard limit be passed.

* **Output**: ``max_tokens`` (or a token limit given in ``provider_options``),
  else the model's ``max_output_tokens``, else a default, times the number of
  choices asked for (``n`` or ``candidate_count`` in ``provider_options``):
  each choice is billed.
* **Input**: one token per UTF-8 byte of everything sent (text, tool
  arguments and results, tool schemas, the system prompt, the response
  schema; no tokenizer makes a token of less than a byte), plus an overhead
  per message and per tool, plus each image's bound (:func:`image_tokens`).
  A prompt larger than the model's context window is refused unbilled, so the
  input never counts for more than the window when the model's is known.
* **Prices**: the cost hooks price the bound as a response is priced; where
  the price table makes cache writes or reasoning dearer than plain tokens,
  every token is counted at the dearer rate.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ai_core.types import (
    ChatRequest,
    Cost,
    ImagePart,
    ModelInfo,
    ModelPrice,
    ReasoningPart,
    TextPart,
    TokenUsage,
    ToolCallPart,
    ToolResultPart,
)

if TYPE_CHECKING:
    from ai_core.services import Services

__all__ = [
    "CHOICE_OPTIONS",
    "MESSAGE_OVERHEAD",
    "OUTPUT_LIMIT_OPTIONS",
    "TOOL_OVERHEAD",
    "UNKNOWN_IMAGE_TOKENS",
    "WorstCase",
    "choices",
    "estimate_input_tokens",
    "image_size",
    "image_tokens",
    "max_output_tokens",
    "price_usage",
    "worst_case",
    "worst_case_cost",
]

MESSAGE_OVERHEAD = 8
"""Tokens per message for the role and separators chat formats add (OpenAI adds 3 to 4)."""
TOOL_OVERHEAD = 16
"""Tokens per tool for the text a provider wraps a tool's schema in."""
UNKNOWN_IMAGE_TOKENS = 10_000
"""An image whose size cannot be read (a URL, an unknown format): at least what
every formula of :func:`image_tokens` gives a 4096 x 4096 image."""

CHOICE_OPTIONS = ("n", "candidate_count", "candidateCount")
"""``provider_options`` that ask for several answers, each billed."""
OUTPUT_LIMIT_OPTIONS = ("max_tokens", "max_completion_tokens", "max_output_tokens", "maxOutputTokens")
"""``provider_options`` that set the output limit themselves (they override the request's field)."""

TILE_MULTIPLIERS: tuple[tuple[str, int], ...] = (("gpt-4o-mini", 34),)
"""Models that count an image tile as many more tokens, at a lower price per
token (gpt-4o-mini: 2,833 + 5,667 per tile instead of 85 + 170)."""

_SAMPLE_BASE64 = 1 << 18  # characters of a data: URL decoded to read an image's header


# -- images ------------------------------------------------------------------------


def image_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from a PNG, GIF, WebP or JPEG header; None if unreadable."""
    try:
        size = _png(data) or _gif(data) or _webp(data) or _jpeg(data)
    except (IndexError, ValueError):
        return None
    if size is None or size[0] <= 0 or size[1] <= 0:
        return None
    return size


def _png(data: bytes) -> tuple[int, int] | None:
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR" or len(data) < 24:
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _gif(data: bytes) -> tuple[int, int] | None:
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 10:
        return None
    return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")


def _webp(data: bytes) -> tuple[int, int] | None:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    kind = data[12:16]
    if kind == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        return int.from_bytes(data[26:28], "little") & 0x3FFF, int.from_bytes(data[28:30], "little") & 0x3FFF
    if kind == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def _jpeg(data: bytes) -> tuple[int, int] | None:
    if data[:2] != b"\xff\xd8":
        return None
    index = 2
    while index + 4 <= len(data):
        if data[index] != 0xFF:
            return None
        marker = data[index + 1]
        if marker == 0xFF:  # fill byte
            index += 1
            continue
        if marker in (0x01, *range(0xD0, 0xDA)):  # markers without a length
            index += 2
            continue
        length = int.from_bytes(data[index + 2 : index + 4], "big")
        if length < 2:
            return None
        if marker in _SOF:
            if index + 9 > len(data):
                return None
            height = int.from_bytes(data[index + 5 : index + 7], "big")
            width = int.from_bytes(data[index + 7 : index + 9], "big")
            return width, height
        index += 2 + length
    return None


def _image_bytes(part: ImagePart) -> bytes | None:
    if part.data is not None:
        return part.data
    url = part.url or ""
    if not url.startswith("data:"):
        return None
    header, _, payload = url.partition(",")
    if not header.endswith(";base64"):
        return None
    sample = payload[:_SAMPLE_BASE64]
    sample = sample[: len(sample) - len(sample) % 4]
    try:
        return base64.b64decode(sample)
    except (binascii.Error, ValueError):
        return None


def _tile_multiplier(model: str) -> int:
    return next((factor for prefix, factor in TILE_MULTIPLIERS if model.startswith(prefix)), 1)


def _openai_tiles(width: int, height: int) -> int:
    """OpenAI's high-detail formula: fit 2048 x 2048, shortest side 768, 512-pixel tiles."""
    scale = min(1.0, 2048 / max(width, height))
    w, h = width * scale, height * scale
    scale = 768 / min(w, h)  # up or down: the larger of the two readings of the documentation
    w, h = w * scale, h * scale
    if max(w, h) > 2048:
        shrink = 2048 / max(w, h)
        w, h = w * shrink, h * shrink
    return 85 + 170 * math.ceil(w / 512 - 1e-9) * math.ceil(h / 512 - 1e-9)


def _patches(width: int, height: int) -> int:
    """OpenAI's patch formula (32-pixel patches, at most 1536) at the largest multiplier (2.46), rounded up."""
    return math.ceil(min(math.ceil(width / 32) * math.ceil(height / 32), 1536) * 2.5)


def _anthropic(width: int, height: int) -> int:
    """Anthropic: pixels / 750, images shrunk to about 1.15 megapixels."""
    return math.ceil(min(width * height, 1_200_000) / 750)


def _gemini(width: int, height: int) -> int:
    """Gemini: 258 tokens for a small image, else 258 per 768 x 768 tile."""
    if width <= 384 and height <= 384:
        return 258
    return 258 * math.ceil(width / 768) * math.ceil(height / 768)


def image_tokens(part: ImagePart, model: str = "") -> int:
    """An upper bound on the input tokens ``part`` counts for, across providers.

    With the size readable from the bytes (or a base64 ``data:`` URL): the
    largest of OpenAI's high-detail tile formula (times the model's tile
    multiplier), its patch formula, Anthropic's and Gemini's; ``detail`` is
    not trusted to lower it. Without: :data:`UNKNOWN_IMAGE_TOKENS` (or the
    largest tiled image, if the model's multiplier makes that more).
    """
    multiplier = _tile_multiplier(model)
    data = _image_bytes(part)
    size = image_size(data) if data else None
    if size is None:
        return max(UNKNOWN_IMAGE_TOKENS, 1445 * multiplier)
    width, height = size
    return max(
        _openai_tiles(width, height) * multiplier,
        _patches(width, height),
        _anthropic(width, height),
        _gemini(width, height),
    )


# -- the bound -----------------------------------------------------------------------


def _bytes(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def estimate_input_tokens(request: ChatRequest, info: ModelInfo | None = None) -> int:
    """An upper bound on the prompt tokens of ``request`` (see the module docstring)."""
    size = _bytes(request.system or "")
    images = 0
    for message in request.messages:
        for part in message.parts:
            if isinstance(part, TextPart | ReasoningPart):
                size += _bytes(part.text)
            elif isinstance(part, ToolCallPart):
                size += _bytes(part.name) + _bytes(json.dumps(part.arguments)) + _bytes(part.id or "")
            elif isinstance(part, ToolResultPart):
                size += _bytes(part.content) + _bytes(part.name or "") + _bytes(part.tool_call_id or "")
            elif isinstance(part, ImagePart):
                images += image_tokens(part, request.model)
        if message.name:
            size += _bytes(message.name)
    for tool in request.tools or ():
        size += _bytes(tool.name) + _bytes(tool.description) + _bytes(json.dumps(tool.parameters)) + TOOL_OVERHEAD
    if request.response_format is not None and request.response_format.json_schema:
        size += _bytes(json.dumps(request.response_format.json_schema)) + TOOL_OVERHEAD
    total = size + MESSAGE_OVERHEAD * (len(request.messages) + 1) + images
    if info is not None and info.context_window:
        total = min(total, int(info.context_window))
    return total


def _whole(value: Any) -> int | None:
    """A positive count from an option value (``4``, ``"4"``, ``4.0``); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        return int(value) if value.is_integer() and value >= 1 else None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number >= 1 else None


def choices(request: ChatRequest) -> int:
    """How many answers the request asks for (``n``), each billed; at least 1."""
    options = request.provider_options
    asked = [_whole(options[key]) for key in CHOICE_OPTIONS if key in options]
    return max([1, *(n for n in asked if n is not None)])


def explicit_output_limit(request: ChatRequest) -> int | None:
    """The output limit the caller set, in the request or its ``provider_options``."""
    options = request.provider_options
    given = [request.max_tokens, *(_whole(options[key]) for key in OUTPUT_LIMIT_OPTIONS if key in options)]
    counts = [n for n in given if n is not None]
    return max(counts) if counts else None


def model_info(services: Services, provider: str, model: str) -> ModelInfo | None:
    for info in services.registry.models():
        if info.provider == provider and info.id == model:
            return info
    return None


def max_output_tokens(request: ChatRequest, services: Services, default: int) -> int:
    """Output tokens per choice: the caller's limit, else the model's, else ``default``."""
    explicit = explicit_output_limit(request)
    if explicit is not None:
        return explicit
    info = model_info(services, request.provider, request.model)
    return int(info.max_output_tokens) if info is not None and info.max_output_tokens else default


def price_usage(services: Services, provider: str, model: str, usage: TokenUsage, when: datetime) -> Cost:
    """Price ``usage`` the way responses are priced: the cost hooks, then the table."""
    return _price(services, provider, model, usage, when, services.prices.price_at(provider, model, when))


def _price(
    services: Services, provider: str, model: str, usage: TokenUsage, when: datetime, price: ModelPrice | None
) -> Cost:
    cost: Any = services.registry.hook.calculate_cost(
        provider=provider, model=model, usage=usage, priced_at=when, price=price
    )
    return cost if isinstance(cost, Cost) else Cost.unknown(provider, model)


@dataclass
class _Candidate:
    """One model the call may reach (the requested one or a fallback)."""

    request: ChatRequest
    input_tokens: int
    model_max: int | None
    price: ModelPrice | None

    def usage(self, output_tokens: int) -> TokenUsage:
        price = self.price
        dear_writes = (
            price is not None
            and price.cache_write_per_mtok is not None
            and any(
                price.cache_write_per_mtok > rate
                for rate in (price.input_per_mtok, *(t.input_per_mtok for t in price.tiers))
            )
        )
        dear_reasoning = (
            price is not None
            and price.reasoning_per_mtok is not None
            and any(
                price.reasoning_per_mtok > rate
                for rate in (price.output_per_mtok, *(t.output_per_mtok for t in price.tiers))
            )
        )
        return TokenUsage(
            input_tokens=self.input_tokens,
            output_tokens=output_tokens,
            cache_write_tokens=self.input_tokens if dear_writes else 0,
            reasoning_tokens=output_tokens if dear_reasoning else 0,
        )


@dataclass
class WorstCase:
    """The most one call can cost, and what capping its output would make it.

    ``output_tokens`` is the per-choice output bound the amount assumes;
    ``explicit`` says the caller chose it (then it is never changed).
    """

    services: Services
    when: datetime
    candidates: list[_Candidate]
    output_tokens: int
    explicit: bool
    choices: int = 1
    _memo: dict[int, Decimal | None] = field(default_factory=dict, repr=False)

    @property
    def amount(self) -> Decimal | None:
        """The worst case at ``output_tokens``; None if any candidate is unpriced."""
        return self.cost(self.output_tokens)

    @property
    def minimum(self) -> Decimal | None:
        """The worst case with a single output token: what the prompt alone needs."""
        return self.cost(1)

    @property
    def model_max(self) -> int | None:
        """The smallest known output limit among the candidates (None: none known)."""
        known = [c.model_max for c in self.candidates if c.model_max]
        return min(known) if known else None

    def cost(self, output_tokens: int) -> Decimal | None:
        """The highest cost over the candidates with ``output_tokens`` per choice."""
        if output_tokens in self._memo:
            return self._memo[output_tokens]
        worst: Decimal | None = Decimal(0)
        for candidate in self.candidates:
            request = candidate.request
            usage = candidate.usage(output_tokens * self.choices)
            total = _price(self.services, request.provider, request.model, usage, self.when, candidate.price).total
            if total is None:
                worst = None
                break
            worst = max(worst or Decimal(0), total)
        self._memo[output_tokens] = worst
        return worst

    def fit(self, room: Decimal) -> tuple[int, Decimal] | None:
        """The largest output limit (at most ``output_tokens``) whose worst case
        fits in ``room``, and that worst case; None if not even one token fits
        or the price is unknown. Costs grow with output, so a search finds it."""
        top = self.cost(self.output_tokens)
        low_cost = self.cost(1)
        if top is None or low_cost is None or low_cost > room:
            return None
        if top <= room:
            return self.output_tokens, top
        low, high = 1, self.output_tokens  # invariant: cost(low) <= room < cost(high)
        guess = low + int((room - low_cost) * (high - low) / (top - low_cost)) if top > low_cost else low
        for probe in (guess, guess + 1):  # prices are linear in output almost always: try that first
            if low < probe < high:
                cost = self.cost(probe)
                if cost is not None and cost <= room:
                    low = probe
                else:
                    high = probe
        while high - low > 1:
            middle = (low + high) // 2
            cost = self.cost(middle)
            if cost is not None and cost <= room:
                low = middle
            else:
                high = middle
        amount = self.cost(low)
        assert amount is not None
        return low, amount

    def capped(self, output_tokens: int) -> WorstCase:
        """The same call with ``output_tokens`` as its output limit."""
        return WorstCase(
            self.services, self.when, self.candidates, output_tokens, self.explicit, self.choices, self._memo
        )


def worst_case(
    request: ChatRequest,
    services: Services,
    when: datetime,
    *,
    default_max_output: int,
    fallbacks: Iterable[ChatRequest] = (),
) -> WorstCase:
    """The worst case of ``request``, also reached through ``fallbacks``."""
    candidates = []
    for each in (request, *fallbacks):
        info = model_info(services, each.provider, each.model)
        candidates.append(
            _Candidate(
                request=each,
                input_tokens=estimate_input_tokens(each, info),
                model_max=int(info.max_output_tokens) if info is not None and info.max_output_tokens else None,
                price=services.prices.price_at(each.provider, each.model, when),
            )
        )
    explicit = explicit_output_limit(request)
    if explicit is None:
        known = [c.model_max for c in candidates if c.model_max]
        output = min(known) if known else default_max_output
    else:
        output = explicit
    return WorstCase(services, when, candidates, output, explicit is not None, choices(request))


def worst_case_cost(request: ChatRequest, services: Services, when: datetime, *, default_max_output: int) -> Cost:
    """The most ``request`` can cost at the price in force ``when`` (unknown if unpriced)."""
    info = model_info(services, request.provider, request.model)
    usage = TokenUsage(
        input_tokens=estimate_input_tokens(request, info),
        output_tokens=max_output_tokens(request, services, default_max_output) * choices(request),
    )
    return price_usage(services, request.provider, request.model, usage, when)
