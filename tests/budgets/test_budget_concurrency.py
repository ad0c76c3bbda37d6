"""Hard budgets under real concurrency, with providers that answer longer than asked.

240 concurrent calls (half streamed) against a hard limit, on SQLite,
PostgreSQL and in memory, on both anyio backends: through the fake driver,
and over HTTP against the local OpenAI-compatible server. However long the
answers run, the overshoot stays bounded by the holds in flight, nothing stays
held, the counters agree with the message ledger, and once the budget is spent
every later call is refused without reaching the provider.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import anyio
import pytest
from servers.fixtures import TEST_API_KEY
from servers.openai_compat import Completion, OpenAICompatServer, RecordedRequest, Usage
from sqlalchemy import select

from ai_core.budgets import Budget, BudgetMiddleware
from ai_core.budgets.estimate import worst_case
from ai_core.drivers.fake import FakeDriver
from ai_core.errors import BudgetExceededError
from ai_core.events.types import BudgetOvershoot
from ai_core.storage.conversation_tables import StoredMessage
from ai_core.types import ChatRequest, ChatResponse, Message, StreamCompleted, TokenUsage

pytestmark = pytest.mark.anyio

CALLS = 240
OVERRUN = 3  # answers three times longer than max_tokens allows


def overrun(request: ChatRequest) -> ChatResponse:
    return ChatResponse(
        provider="fake", model=request.model, message=Message.assistant("on and on"), finish_reason="length",
        usage=TokenUsage(input_tokens=12, output_tokens=OVERRUN * (request.max_tokens or 4096)),
    )  # fmt: skip


def usage_of(ai: Any, budget: Budget) -> tuple[Decimal, Decimal]:
    ledger = BudgetMiddleware.ledger_for(ai.services)
    return ledger.usage(budget.key("*"), budget.period_start(datetime.now(UTC)))


def ledger_total(ai: Any) -> Decimal:
    messages = StoredMessage.__table__
    with ai.services.database.read() as conn:
        costs = conn.execute(select(messages.c.cost).where(messages.c.billable)).scalars().all()
    return sum(costs, Decimal(0))


async def burst(ai: Any, calls: int, send: Callable[[Any, int], Awaitable[Any]]) -> dict[str, int]:
    outcomes = {"ok": 0, "refused": 0}

    async def one(index: int) -> None:
        try:
            await send(ai, index)
            outcomes["ok"] += 1
        except BudgetExceededError:
            outcomes["refused"] += 1

    async with anyio.create_task_group() as group:
        for index in range(calls):
            group.start_soon(one, index)
    return outcomes


async def call(conversation: Any, index: int) -> ChatResponse:
    """Every other call streams."""
    if index % 2:
        return await conversation.asend()  # type: ignore[no-any-return]
    final = None
    async for event in conversation.astream():
        if isinstance(event, StreamCompleted):
            final = event.response
    assert final is not None
    return final


@pytest.mark.parametrize("explicit", [True, False], ids=["own-max-tokens", "capped-by-budget"])
async def test_a_burst_of_overlong_answers_stays_bounded(ledger_url: str | None, explicit: bool) -> None:
    from ai_core.app import AI

    driver = FakeDriver.scripted([overrun] * CALLS)
    seen: list[BudgetOvershoot] = []
    async with AI(persistence=ledger_url is not None, database_url=ledger_url, drivers={"fake": driver}) as probe:
        request = ChatRequest(provider="fake", model="echo", messages=[Message.user("go 0")], max_tokens=1000)
        hold = worst_case(request, probe.services, datetime.now(UTC), default_max_output=4096).amount
    assert hold is not None
    budget = Budget(limit=hold * Decimal("10.5"), name="burst")  # ten holds fit at once
    async with AI(
        persistence=ledger_url is not None, database_url=ledger_url, budgets=[budget], drivers={"fake": driver}
    ) as ai:
        ai.on(BudgetOvershoot)(seen.append)

        async def send(ai: Any, index: int) -> Any:
            conversation = ai.conversation("fake/echo")
            if explicit:
                conversation = conversation.max_tokens(1000)
            return await call(conversation.user(f"go {index % 10}"), index)

        outcomes = await burst(ai, CALLS, send)
        spent, held = usage_of(ai, budget)
        assert held == 0  # nothing outlives its call
        assert outcomes["refused"] > 0 and outcomes["ok"] > 0
        assert spent > budget.limit  # the provider ran long: charged in full, never hidden
        if explicit:  # at most ten holds in flight, each overrun by (OVERRUN - 1) holds at most
            assert spent <= budget.limit + 10 * (OVERRUN - 1) * hold
            assert outcomes["ok"] <= 13  # no admission once three calls have settled at three holds each
        else:  # whatever the holds, S + OVERRUN * held never exceeds OVERRUN * limit
            assert spent <= OVERRUN * budget.limit
        if ledger_url is not None:
            assert ledger_total(ai) == spent  # the counter agrees with the message ledger
        before = len(driver.calls)
        after = await burst(ai, 20, send)
        assert after == {"ok": 0, "refused": 20} and len(driver.calls) == before  # every later call refused
        await ai.events.adrain()
    assert 1 <= len(seen) <= outcomes["ok"]
    assert all(event.budget == "burst" and event.spent > event.limit for event in seen)
    assert max(event.spent for event in seen) == spent


# -- over HTTP ------------------------------------------------------------------------------------


def _limit(body: dict[str, Any]) -> int:
    return int(body.get("max_completion_tokens") or body.get("max_tokens") or 16_384)


async def test_n_choices_against_an_honest_server_stay_within_the_limit(
    openai_server: OpenAICompatServer, ledger_url: str | None
) -> None:
    from ai_core.app import AI

    def honest(request: RecordedRequest) -> Completion:  # each choice writes as much as it may
        return Completion(text="choice", usage=Usage(prompt_tokens=9, completion_tokens=_limit(request.json)))

    openai_server.handler = honest
    budget = Budget(limit=Decimal("0.001"), name="tiny")  # the limit a 4-choice burst used to end 2.4x over
    provider = {"api_key": TEST_API_KEY, "base_url": openai_server.base_url, "retry_attempts": 0}
    async with AI(
        persistence=ledger_url is not None, database_url=ledger_url, budgets=[budget], providers={"openai": provider}
    ) as ai:

        async def send(ai: Any, index: int) -> Any:
            conversation = ai.conversation("openai/gpt-4o-mini").option("n", 4).user("hi")
            return await call(conversation, index)

        outcomes = await burst(ai, 60, send)
        spent, held = usage_of(ai, budget)
        assert held == 0 and 0 < spent <= budget.limit
        assert outcomes["ok"] >= 1
        bodies = openai_server.chat_bodies
        assert bodies and all(body["n"] == 4 and _limit(body) < 16_384 for body in bodies)


async def test_overlong_answers_over_http_are_bounded(
    openai_server: OpenAICompatServer, ledger_url: str | None
) -> None:
    from ai_core.app import AI

    def runs_long(request: RecordedRequest) -> Completion:
        tokens = OVERRUN * _limit(request.json)
        return Completion(text="and on", usage=Usage(prompt_tokens=9, completion_tokens=tokens), finish_reason="length")

    openai_server.handler = runs_long
    budget = Budget(limit=Decimal("0.01"), name="http")
    provider = {"api_key": TEST_API_KEY, "base_url": openai_server.base_url, "retry_attempts": 0}
    seen: list[BudgetOvershoot] = []
    async with AI(
        persistence=ledger_url is not None, database_url=ledger_url, budgets=[budget], providers={"openai": provider}
    ) as ai:
        ai.on(BudgetOvershoot)(seen.append)

        async def send(ai: Any, index: int) -> Any:
            return await call(ai.conversation("openai/gpt-4o-mini").user("hi"), index)

        outcomes = await burst(ai, CALLS, send)
        spent, held = usage_of(ai, budget)
        assert held == 0 and budget.limit < spent <= OVERRUN * budget.limit
        assert outcomes["refused"] > 0
        if ledger_url is not None:
            assert ledger_total(ai) == spent
        requests = len(openai_server.chat_bodies)
        assert await burst(ai, 10, send) == {"ok": 0, "refused": 10}
        assert len(openai_server.chat_bodies) == requests
        await ai.events.adrain()
    assert seen
