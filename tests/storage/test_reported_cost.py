"""The provider's own cost, stored beside the computed one; a disagreement is an event and a log line."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from ai_core.costs.genai_source import installed_version
from ai_core.dialects.openai_chat.profile import ChatProfile
from ai_core.dialects.openai_chat.response import parse_usage, reported_cost
from ai_core.events.types import CostDisagreement
from ai_core.storage.conversation_tables import StoredMessage
from ai_core.testing import make_fake
from ai_core.types import ChatRequest, ChatResponse, Message, TokenUsage

# grok-4.3 today: 1.25 in, 0.20 cached, 2.50 out per million.
USAGE = {"input_tokens": 10_000, "cached_input_tokens": 4_000, "output_tokens": 1_000}
COMPUTED = (6_000 * Decimal("1.25") + 4_000 * Decimal("0.20") + 1_000 * Decimal("2.50")) / Decimal(1_000_000)


def _reply(reported: Decimal | None) -> Any:
    def answer(request: ChatRequest) -> ChatResponse:
        usage = TokenUsage(**USAGE, reported_cost=reported)
        return ChatResponse(provider="xai", model=request.model, message=Message.assistant("ok"), usage=usage)

    return answer


def test_xai_ticks_and_openrouter_cost_are_read_exactly() -> None:
    profile = ChatProfile()
    base = {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}
    usage, extras = parse_usage({**base, "cost_in_usd_ticks": 158_500_000}, profile, "xai")
    assert usage.reported_cost == Decimal("0.01585") and extras["cost_in_usd_ticks"] == 158_500_000
    assert parse_usage({**base, "cost": 0.0001234}, profile, "openrouter")[0].reported_cost == Decimal("0.0001234")
    assert parse_usage(base, profile, "openai")[0].reported_cost is None
    for bad in ({"cost": -1}, {"cost": "0.1"}, {"cost": True}, {"cost_in_usd_ticks": 1.5}, {"cost": float("nan")}):
        assert reported_cost(bad) is None, bad
    summed = TokenUsage(reported_cost=Decimal("0.1")) + TokenUsage() + TokenUsage(reported_cost=Decimal("0.2"))
    assert summed.reported_cost == Decimal("0.3") and (TokenUsage() + TokenUsage()).reported_cost is None


@given(st.integers(min_value=0, max_value=10**18))
def test_any_tick_count_is_exact(ticks: int) -> None:
    assert reported_cost({"cost_in_usd_ticks": ticks}) * 10_000_000_000 == ticks  # type: ignore[operator]


@pytest.mark.anyio
async def test_a_ledger_row_names_its_price_row_and_keeps_the_reported_cost(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from ai_core.app import AI

    fake = make_fake([_reply(COMPUTED), _reply(COMPUTED * 2), _reply(COMPUTED * Decimal("1.005"))], provider="xai")
    seen: list[CostDisagreement] = []
    async with AI(database_url=database_url, persistence=True, drivers={"xai": fake}) as ai:
        ai.on(CostDisagreement)(seen.append)
        with caplog.at_level(logging.WARNING, logger="ai_core"):
            agreed = await ai.conversation("xai/grok-4.3").user("hi").asend()
            doubled = await ai.conversation("xai/grok-4.3-latest").user("hi").asend()
            close = await ai.conversation("xai/grok-4.3").user("hi").asend()  # within the default 1%
        await ai.events.adrain()
        with ai.services.database.read() as conn:
            table = StoredMessage.__table__
            rows = conn.execute(
                select(table.c.model, table.c.cost, table.c.reported_cost, table.c.priced_by)
                .where(table.c.billable)
                .order_by(table.c.created_at)
            ).all()
    assert agreed.cost is not None and agreed.cost.total == COMPUTED and agreed.cost.reported == COMPUTED
    assert doubled.cost is not None and doubled.cost.reported == COMPUTED * 2 and close.cost is not None
    row = f"grok-4.3@2026-04-30 genai-prices {installed_version()}"
    assert [(r.model, r.cost, r.reported_cost, r.priced_by) for r in rows] == [
        ("grok-4.3", COMPUTED, COMPUTED, row),
        ("grok-4.3-latest", COMPUTED, COMPUTED * 2, row),
        ("grok-4.3", COMPUTED, COMPUTED * Decimal("1.005"), row),
    ]
    assert [(e.model, e.computed, e.reported, e.priced_by) for e in seen] == [
        ("grok-4.3-latest", COMPUTED, COMPUTED * 2, row)
    ]
    lines = [r.getMessage() for r in caplog.records if "cost_disagreement" in r.getMessage()]
    assert len(lines) == 1 and "grok-4.3-latest" in lines[0]


@pytest.mark.anyio
async def test_the_tolerance_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    from ai_core.app import AI

    monkeypatch.setenv("AI_COST_TOLERANCE", "0")
    fake = make_fake([_reply(COMPUTED * Decimal("1.005"))], provider="xai")
    seen: list[CostDisagreement] = []
    async with AI(persistence=False, drivers={"xai": fake}) as ai:
        ai.on(CostDisagreement)(seen.append)
        await ai.conversation("xai/grok-4.3").user("hi").asend()
        await ai.events.adrain()
    assert len(seen) == 1 and seen[0].tolerance == 0
