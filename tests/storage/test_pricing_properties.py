"""Costs are exact Decimals, additive, never negative, and tokens x the price in force.

Covers the lead's ``ai_core.costs.pricing`` (compute_cost, PriceBook) and the
stored ledger: what the store sums is exactly what was priced.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from ai_core.costs import PriceBook, compute_cost
from ai_core.types import ModelPrice, TokenUsage

rates = st.decimals(min_value=Decimal(0), max_value=Decimal("100"), places=4, allow_nan=False)
counts = st.integers(min_value=0, max_value=5_000_000)
MILLION = Decimal(1_000_000)


@st.composite
def usages(draw: st.DrawFn) -> TokenUsage:
    input_tokens, output_tokens = draw(counts), draw(counts)
    return TokenUsage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_input_tokens=draw(st.integers(0, input_tokens)),
        reasoning_tokens=draw(st.integers(0, output_tokens)),
    )


@st.composite
def prices(draw: st.DrawFn, effective_from: date = date(2024, 1, 1)) -> ModelPrice:
    return ModelPrice(
        provider="p",
        model="m",
        effective_from=effective_from,
        input_per_mtok=draw(rates),
        output_per_mtok=draw(rates),
        cached_input_per_mtok=draw(st.none() | rates),
        reasoning_per_mtok=draw(st.none() | rates),
    )


@given(usages(), prices())
def test_cost_is_tokens_times_rates(usage: TokenUsage, price: ModelPrice) -> None:
    cost = compute_cost(usage, price)
    cached_rate = price.cached_input_per_mtok if price.cached_input_per_mtok is not None else price.input_per_mtok
    reasoning_rate = price.reasoning_per_mtok if price.reasoning_per_mtok is not None else price.output_per_mtok
    expected = (
        Decimal(usage.input_tokens - usage.cached_input_tokens) * price.input_per_mtok
        + Decimal(usage.cached_input_tokens) * cached_rate
        + Decimal(usage.output_tokens - usage.reasoning_tokens) * price.output_per_mtok
        + Decimal(usage.reasoning_tokens) * reasoning_rate
    ) / MILLION
    assert isinstance(cost.total, Decimal)
    assert cost.total == expected
    assert cost.total >= 0 and min(cost.input, cost.cached_input, cost.output, cost.reasoning) >= 0
    assert cost.total == cost.input + cost.cached_input + cost.output + cost.reasoning


@given(st.lists(usages(), min_size=1, max_size=6), prices())
def test_costs_add_up_across_calls(calls: list[TokenUsage], price: ModelPrice) -> None:
    total = sum((compute_cost(u, price).total for u in calls), Decimal(0))
    combined = calls[0]
    for usage in calls[1:]:
        combined = combined + usage
    assert compute_cost(combined, price).total == total


@given(usages(), prices(date(2024, 1, 1)), prices(date(2024, 6, 1)), st.integers(0, 400))
def test_price_in_force_on_the_day_applies(usage: TokenUsage, old: ModelPrice, new: ModelPrice, offset: int) -> None:
    book = PriceBook([new, old])
    day = date(2023, 12, 1) + timedelta(days=offset)
    row = book.price_at("p", "m", day)
    if day < date(2024, 1, 1):
        assert row is None
    elif day < date(2024, 6, 1):
        assert row == old and compute_cost(usage, row).total == compute_cost(usage, old).total
    else:
        assert row == new
