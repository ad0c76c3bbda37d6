"""Turn token usage into money with the price in force when the call was made.

All arithmetic is Decimal and unrounded, so costs add up exactly across calls;
rounding is for display only.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal

from ai_core.clock import local_today
from ai_core.types import Cost, ModelPrice, TokenUsage

__all__ = ["OPENAI_BATCH_DISCOUNT", "PriceBook", "compute_cost", "discounted"]

_MILLION = Decimal(1_000_000)
# A dated snapshot id (gpt-4o-2024-08-06, gpt-5-2-20251211) is billed at its base model's rows
# unless the catalogue lists it.
_SNAPSHOT = re.compile(r"^(?P<base>.+?)-(?:\d{4}-\d{2}-\d{2}|\d{8})$")


def compute_cost(usage: TokenUsage, price: ModelPrice) -> Cost:
    """The cost of ``usage`` at ``price``.

    Cached reads and cache writes are part of ``input_tokens`` and reasoning is
    part of ``output_tokens`` (OpenAI's convention), so each token is charged
    once, at its own rate. A long-context tier applies to the whole call once
    the prompt exceeds its threshold, as Gemini charges.
    """
    input_rate, output_rate, cached_rate = price.input_per_mtok, price.output_per_mtok, price.cached_input_per_mtok
    write_rate = price.cache_write_per_mtok
    for tier in price.tiers:
        if usage.input_tokens > tier.above_input_tokens:
            input_rate, output_rate = tier.input_per_mtok, tier.output_per_mtok
            cached_rate = tier.cached_input_per_mtok if tier.cached_input_per_mtok is not None else cached_rate
            write_rate = tier.cache_write_per_mtok if tier.cache_write_per_mtok is not None else write_rate
    cached_rate = input_rate if cached_rate is None else cached_rate
    write_rate = input_rate if write_rate is None else write_rate
    reasoning_rate = output_rate if price.reasoning_per_mtok is None else price.reasoning_per_mtok

    cached = min(usage.cached_input_tokens, usage.input_tokens)
    written = min(usage.cache_write_tokens, usage.input_tokens - cached)
    plain_input = usage.input_tokens - cached - written
    reasoning = min(usage.reasoning_tokens, usage.output_tokens)
    plain_output = usage.output_tokens - reasoning

    input_cost = (Decimal(plain_input) * input_rate + Decimal(written) * write_rate) / _MILLION
    cached_cost = Decimal(cached) * cached_rate / _MILLION
    output_cost = Decimal(plain_output) * output_rate / _MILLION
    reasoning_cost = Decimal(reasoning) * reasoning_rate / _MILLION
    return Cost(
        total=input_cost + cached_cost + output_cost + reasoning_cost,
        input=input_cost,
        cached_input=cached_cost,
        output=output_cost,
        reasoning=reasoning_cost,
        currency=price.currency,
        provider=price.provider,
        model=price.model,
        price_effective_from=price.effective_from,
        priced_by=price.priced_by,
    )


OPENAI_BATCH_DISCOUNT = Decimal("0.5")
"""OpenAI's Batch API bills every token at half the model's price."""


def discounted(cost: Cost, fraction: Decimal, label: str) -> Cost:
    """``cost`` less ``fraction`` of every part (a batch discount), ``label`` added to ``priced_by``."""
    if cost.total is None:
        return cost
    keep = 1 - fraction
    return cost.model_copy(
        update={
            "total": cost.total * keep,
            "input": cost.input * keep,
            "cached_input": cost.cached_input * keep,
            "output": cost.output * keep,
            "reasoning": cost.reasoning * keep,
            "priced_by": f"{cost.priced_by} {label}"[:64],
        }
    )


class PriceBook:
    """Price history per model; answers "what did this cost on that day"."""

    def __init__(self, prices: Iterable[ModelPrice] = ()) -> None:
        self._rows: dict[tuple[str, str], list[ModelPrice]] = {}
        for price in prices:
            self.add(price)

    def add(self, price: ModelPrice) -> None:
        rows = self._rows.setdefault((price.provider, price.model), [])
        rows[:] = [r for r in rows if r.effective_from != price.effective_from]
        bisect.insort(rows, price, key=lambda r: r.effective_from)

    def price_at(self, provider: str, model: str, when: date | datetime | None = None) -> ModelPrice | None:
        """The row in force on ``when`` (today if None), or None if unpriced."""
        rows = self._rows.get((provider, model))
        if not rows:
            snapshot = _SNAPSHOT.match(model)
            base_rows = self._rows.get((provider, snapshot["base"])) if snapshot else None
            if not base_rows:
                return None
            found = self._in_force(base_rows, when)
            return (
                found.model_copy(update={"model": model, "billed_as": found.billed_as or found.model})
                if found
                else None
            )
        return self._in_force(rows, when)

    @staticmethod
    def _in_force(rows: list[ModelPrice], when: date | datetime | None) -> ModelPrice | None:
        day = (when.date() if isinstance(when, datetime) else when) or local_today()
        index = bisect.bisect_right([r.effective_from for r in rows], day)
        return rows[index - 1] if index else None

    def history(self, provider: str, model: str) -> list[ModelPrice]:
        return list(self._rows.get((provider, model), []))

    def all(self) -> list[ModelPrice]:
        return [row for rows in self._rows.values() for row in rows]

    def __len__(self) -> int:
        return sum(len(rows) for rows in self._rows.values())
