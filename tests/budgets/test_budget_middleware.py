"""BudgetMiddleware through the AI facade, on SQLite, PostgreSQL and in memory."""

from __future__ import annotations

from decimal import Decimal

import anyio
import pytest
from sqlalchemy import select

from ai_core.budgets import Budget, BudgetMiddleware, BudgetUnknownCostError
from ai_core.drivers.fake import FakeDriver
from ai_core.errors import BudgetExceededError, RateLimitError
from ai_core.events.types import BudgetThresholdReached
from ai_core.storage.conversation_tables import StoredMessage

pytestmark = pytest.mark.anyio

# fake/echo: $0.50 in, $1.50 out per million tokens; 4096 max output tokens.


@pytest.fixture(params=["sql", "memory"])
def storage(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _ai(storage: str, database_url: str, budgets: list, driver: FakeDriver | None = None):
    from ai_core.app import AI

    persistence = storage == "sql"
    return AI(
        persistence=persistence,
        database_url=database_url if persistence else None,
        budgets=budgets,
        drivers={"fake": driver or FakeDriver()},
    )


def _usage(ai, budget: Budget, target: str = "*") -> tuple[Decimal, Decimal]:
    from datetime import UTC, datetime

    ledger = BudgetMiddleware.ledger_for(ai.services)
    return ledger.usage(budget.key(target), budget.period_start(datetime.now(UTC)))


async def test_hard_limit_refuses_before_any_provider_call(storage: str, database_url: str) -> None:
    driver = FakeDriver()
    budget = Budget(limit=Decimal("0.001"), name="tiny")
    async with _ai(storage, database_url, [budget], driver) as ai:
        with pytest.raises(BudgetExceededError) as info:  # its own max_tokens: refused, never capped
            await ai.conversation("fake/echo").max_tokens(4096).user("hello").asend()
        assert driver.calls == []
        error = info.value
        assert error.budget == "tiny" and error.limit == Decimal("0.001")
        assert error.over_by > 0 and "tiny" in str(error) and "over by" in str(error)
        assert _usage(ai, budget) == (0, 0)


async def test_within_budget_charges_the_real_cost(storage: str, database_url: str) -> None:
    budget = Budget(limit=Decimal("1"))
    async with _ai(storage, database_url, [budget]) as ai:
        reply = await ai.conversation("fake/echo").user("hello").asend()
        spent, reserved = _usage(ai, budget)
        assert spent == reply.cost.total and reserved == 0


async def test_failed_call_releases_its_reservation(storage: str, database_url: str) -> None:
    budget = Budget(limit=Decimal("1"))
    async with _ai(storage, database_url, [budget]) as ai:
        with pytest.raises(RateLimitError):
            await ai.conversation("fake/echo").user("hello").option("fake_error", "rate_limit").asend()
        assert _usage(ai, budget) == (0, 0)


async def test_stream_settles_at_its_end(storage: str, database_url: str) -> None:
    budget = Budget(limit=Decimal("1"))
    async with _ai(storage, database_url, [budget]) as ai:
        final = None
        async for event in ai.conversation("fake/echo").user("hello there stream").astream():
            final = getattr(event, "response", final)
        assert final is not None
        spent, reserved = _usage(ai, budget)
        assert spent == final.cost.total and reserved == 0


async def test_thresholds_fire_once_per_period(storage: str, database_url: str) -> None:
    budget = Budget(limit=Decimal("0.00002"), hard=False, thresholds=(Decimal("0.5"), Decimal("1")), name="soft")
    seen: list[BudgetThresholdReached] = []
    async with _ai(storage, database_url, [budget]) as ai:
        ai.on(BudgetThresholdReached)(seen.append)
        for _ in range(6):  # each call costs about $0.000009: crosses 50 % then 100 %, then stays over
            await ai.conversation("fake/echo").user("hello").asend()
        await ai.events.adrain()
        spent, _ = _usage(ai, budget)
    assert spent > budget.limit  # soft: reported, not refused
    assert sorted(e.threshold for e in seen) == [Decimal("0.5"), Decimal("1")]
    assert all(e.budget == "soft" and e.limit == budget.limit for e in seen)


async def test_unknown_price_is_refused_by_default(storage: str, database_url: str) -> None:
    driver = FakeDriver()
    async with _ai(storage, database_url, [Budget(limit=Decimal("10"))], driver) as ai:
        with pytest.raises(BudgetUnknownCostError, match="price is unknown"):
            await ai.conversation("fake/unpriced-model").user("hello").asend()
        assert driver.calls == []


async def test_unknown_price_counted_as_configured(storage: str, database_url: str) -> None:
    budget = Budget(limit=Decimal("10"), unknown_cost="count_as", unknown_cost_amount=Decimal("0.25"))
    async with _ai(storage, database_url, [budget]) as ai:
        reply = await ai.conversation("fake/unpriced-model").user("hello").asend()
        assert reply.cost.total is None
        assert _usage(ai, budget) == (Decimal("0.25"), 0)


async def test_per_user_budgets_count_separately(storage: str, database_url: str) -> None:
    budget = Budget(limit=Decimal("1"), scope="user", period="daily")
    async with _ai(storage, database_url, [budget]) as ai:
        a = await ai.conversation("fake/echo", user="ann").user("one two three").asend()
        await ai.conversation("fake/echo").user("nobody's").asend()
        assert _usage(ai, budget, "ann")[0] == a.cost.total
        assert _usage(ai, budget, "bob")[0] == 0


async def test_settings_budgets_are_enforced(storage: str, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AI_BUDGETS", '[{"limit": "0.0001", "scope": "tenant", "scope_value": "acme"}]')
    async with _ai(storage, database_url, []) as ai:
        await ai.conversation("fake/echo", tenant="other").max_tokens(1000).user("hi").asend()
        with pytest.raises(BudgetExceededError):
            await ai.conversation("fake/echo", tenant="acme").max_tokens(1000).user("hi").asend()


async def test_concurrent_requests_cannot_overshoot_a_hard_limit(storage: str, database_url: str) -> None:
    # max_tokens=200 and 200 reasoning tokens make each call cost almost exactly its worst case.
    worst_output = Decimal(200) * Decimal("1.50") / Decimal(1_000_000)
    budget = Budget(limit=worst_output * 8)
    outcomes: list[str] = []
    async with _ai(storage, database_url, [budget]) as ai:

        async def one(index: int) -> None:
            conversation = ai.conversation("fake/echo").max_tokens(200).option("fake_reasoning_tokens", 200)
            try:
                await conversation.user(f"go {index}").asend()
                outcomes.append("ok")
            except BudgetExceededError:
                outcomes.append("refused")

        async with anyio.create_task_group() as group:
            for index in range(30):
                group.start_soon(one, index)
        spent, reserved = _usage(ai, budget)
        if storage == "sql":
            with ai.services.database.read() as conn:
                messages = StoredMessage.__table__
                ledger = conn.execute(select(messages.c.cost).where(messages.c.billable)).scalars().all()
            assert sum(ledger, Decimal(0)) == spent
    assert reserved == 0
    assert spent <= budget.limit
    assert outcomes.count("refused") > 0 and 0 < outcomes.count("ok") <= 8


def test_budget_layer_is_registered_by_core() -> None:
    from ai_core.plugins import default_registry

    layers = [layer for layer in default_registry().middleware() if isinstance(layer, BudgetMiddleware)]
    assert len(layers) == 1 and layers[0].order == 100
