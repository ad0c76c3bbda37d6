"""BudgetThresholdReached shows money as money: no 18-place ledger tails, no exponents."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ai_core.budgets import Budget
from ai_core.drivers.fake import FakeDriver
from ai_core.events.types import BudgetThresholdReached


def event(spent: str, limit: str = "0.000100000000000000", threshold: str = "0.50") -> BudgetThresholdReached:
    return BudgetThresholdReached(
        budget="soft",
        scope="global:*",
        period="monthly",
        period_start=datetime(2026, 11, 1, tzinfo=UTC),
        threshold=Decimal(threshold),
        spent=Decimal(spent),
        limit=Decimal(limit),
    )


def test_ledger_tails_are_dropped() -> None:
    # The ledger keeps 18 places; this is what the event carried before.
    reached = event("0.000059400000000000")
    assert str(reached.spent) == "0.0000594" and str(reached.limit) == "0.0001" and str(reached.threshold) == "0.5"
    assert reached.spent == Decimal("0.0000594")  # the same amount, only without the tail
    assert "000000000" not in repr(reached)


@pytest.mark.parametrize(
    ("spent", "limit", "shown_spent", "shown_limit"),
    [
        ("0.000000075000000000", "0.000000100000000000", "0.000000075", "0.0000001"),  # str(Decimal) says 7.5E-8
        ("120.000000000000000000", "100.000000000000000000", "120", "100"),  # normalize() says 1E+2
        ("0E-18", "5.000000000000000000", "0", "5"),
        ("4.990000000000000000", "5", "4.99", "5"),
    ],
)
def test_json_is_plain_digits(spent: str, limit: str, shown_spent: str, shown_limit: str) -> None:
    reached = event(spent, limit)
    dumped = json.loads(reached.model_dump_json())
    assert (dumped["spent"], dumped["limit"]) == (shown_spent, shown_limit)
    assert reached.model_dump(mode="json")["spent"] == shown_spent
    assert isinstance(reached.model_dump()["spent"], Decimal)  # Python mode keeps the Decimal
    assert "E" not in str(reached).split("'soft'")[1]


def test_str_reads_as_a_sentence_about_money() -> None:
    assert str(event("0.000059400000000000")) == (
        "budget 'soft' (global:*, monthly) reached 50% of its limit: spent 0.0000594 of 0.0001 USD"
    )


@given(st.decimals(min_value=0, max_value=10**9, places=18, allow_nan=False, allow_infinity=False))
def test_any_ledger_amount_round_trips_as_plain_text(amount: Decimal) -> None:
    reached = event(str(amount))
    shown = json.loads(reached.model_dump_json())["spent"]
    assert "E" not in shown and "e" not in shown
    assert Decimal(shown) == amount
    assert not ("." in shown and shown.endswith("0"))  # no trailing zeros after the point
    assert BudgetThresholdReached.model_validate_json(reached.model_dump_json()) == reached


@pytest.mark.anyio
async def test_the_event_a_real_threshold_emits(database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    from ai_core.app import AI

    budget = Budget(limit=Decimal("0.00002"), hard=False, thresholds=(Decimal("0.5"),), name="soft")
    seen: list[BudgetThresholdReached] = []
    async with AI(persistence=True, database_url=database_url, budgets=[budget], drivers={"fake": FakeDriver()}) as ai:
        ai.on(BudgetThresholdReached)(seen.append)
        for _ in range(3):  # about $0.000009 each: the second call crosses 50 %
            await ai.conversation("fake/echo").user("hello").asend()
        await ai.events.adrain()
    assert len(seen) == 1
    reached = seen[0]
    assert reached.spent > budget.limit / 2
    assert reached.spent.as_tuple().exponent >= -9  # fake/echo prices need at most 9 places, never 18
    assert f"spent {json.loads(reached.model_dump_json())['spent']} of 0.00002 USD" in str(reached)
    logged = [r.getMessage() for r in caplog.records if "budget_threshold_reached" in r.getMessage()]
    assert len(logged) == 1 and f"spent='{reached.spent}'" in logged[0] and "000000000" not in logged[0]
