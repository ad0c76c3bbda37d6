"""Caps and refusals before the call, and what is charged after it.

Through the AI facade, on SQLite, PostgreSQL and in memory. fake/echo: $0.50
in, $1.50 out per million tokens; 4096 max output tokens.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import anyio
import pytest

from ai_core import errors
from ai_core.budgets import Budget, BudgetMiddleware, BudgetUnknownCostError
from ai_core.budgets.estimate import worst_case
from ai_core.drivers.fake import FakeDriver
from ai_core.errors import BudgetExceededError
from ai_core.events.types import BudgetOvershoot
from ai_core.pipeline.middleware import Call, Middleware, Next, StreamNext
from ai_core.types import ChatRequest, ChatResponse, Cost, Message, StreamEvent, TextDelta, TokenUsage

pytestmark = pytest.mark.anyio

OUT = Decimal("1.50") / 1_000_000


class Capture(Middleware):
    """Sees each call as the provider will (inside the budget layer)."""

    name = "capture"
    order = 900

    def __init__(self) -> None:
        self.calls: list[Call] = []

    async def __call__(self, call: Call, call_next: Next) -> ChatResponse:
        self.calls.append(call)
        return await call_next(call)

    def stream(self, call: Call, call_next: StreamNext) -> AsyncIterator[StreamEvent]:
        self.calls.append(call)
        return call_next(call)


def make_ai(url: str | None, budgets: list[Budget], *layers: Middleware, driver: Any = None) -> Any:
    from ai_core.app import AI

    return AI(
        persistence=url is not None,
        database_url=url,
        budgets=budgets,
        drivers={"fake": driver or FakeDriver()},
        middleware=layers,
    )


def usage_of(ai: Any, budget: Budget, target: str = "*") -> tuple[Decimal, Decimal]:
    ledger = BudgetMiddleware.ledger_for(ai.services)
    return ledger.usage(budget.key(target), budget.period_start(datetime.now(UTC)))


def worst(ai: Any, text: str, **fields: Any) -> Any:
    request = ChatRequest(provider="fake", model="echo", messages=[Message.user(text)], **fields)
    return worst_case(request, ai.services, datetime.now(UTC), default_max_output=4096)


# -- max_tokens sent, capped, or refused ------------------------------------------------------


async def test_a_budget_sends_max_tokens_when_the_request_has_none(ledger_url: str | None) -> None:
    capture, driver = Capture(), FakeDriver()
    async with make_ai(ledger_url, [Budget(limit=Decimal(1))], capture, driver=driver) as ai:
        await ai.conversation("fake/echo").user("hello").asend()
        assert driver.calls[-1].max_tokens == 4096  # the model's own maximum: the bound reserved is real
        assert "budget_capped_max_tokens" not in capture.calls[-1].state  # the model could not write more anyway
        await ai.conversation("fake/echo").max_tokens(50).user("hello").asend()
        assert driver.calls[-1].max_tokens == 50  # the caller's own limit is never touched


async def test_no_budget_changes_nothing(ledger_url: str | None) -> None:
    driver = FakeDriver()
    async with make_ai(ledger_url, [], driver=driver) as ai:
        await ai.conversation("fake/echo").user("hello").asend()
    assert driver.calls[-1].max_tokens is None


async def test_a_tight_budget_caps_max_tokens_to_what_remains(ledger_url: str | None) -> None:
    capture, driver = Capture(), FakeDriver()
    budget = Budget(limit=Decimal("0.0003"), name="tight")  # room for about 190 output tokens
    async with make_ai(ledger_url, [budget], capture, driver=driver) as ai:
        reply = await ai.conversation("fake/echo").user("hello").asend()
        sent = driver.calls[-1].max_tokens
        bound = worst(ai, "hello")
        assert sent is not None and 100 < sent < 4096
        assert capture.calls[-1].state["budget_capped_max_tokens"] == sent
        assert bound.cost(sent) <= budget.limit < bound.cost(sent + 1)  # the largest that fits
        spent, held = usage_of(ai, budget)
        assert spent == reply.cost.total and held == 0


async def test_a_prompt_that_alone_cannot_fit_is_refused(ledger_url: str | None) -> None:
    driver = FakeDriver()
    budget = Budget(limit=Decimal("0.0001"), name="tiny")
    async with make_ai(ledger_url, [budget], driver=driver) as ai:
        with pytest.raises(BudgetExceededError, match="needs at least") as info:
            await ai.conversation("fake/echo").user("word " * 100).asend()  # 500 input tokens: $0.00025
        assert driver.calls == []
        assert info.value.budget == "tiny" and info.value.requested == worst(ai, "word " * 100).minimum
        assert usage_of(ai, budget) == (0, 0)


# -- per-request caps ---------------------------------------------------------------------------


async def test_max_cost_caps_a_call_without_any_budget(ledger_url: str | None) -> None:
    capture, driver = Capture(), FakeDriver()
    async with make_ai(ledger_url, [], capture, driver=driver) as ai:
        await ai.conversation("fake/echo").max_cost("0.0001").user("hello").asend()
        sent = driver.calls[-1].max_tokens
        assert sent is not None and worst(ai, "hello").cost(sent) <= Decimal("0.0001") < worst(ai, "hello").cost(
            sent + 1
        )
        assert capture.calls[-1].state["budget_capped_max_tokens"] == sent
        with pytest.raises(BudgetExceededError) as info:
            await ai.conversation("fake/echo").max_cost("0.0001").max_tokens(4096).user("hello").asend()
        assert info.value.budget == "max_cost" and len(driver.calls) == 1
        with pytest.raises(BudgetUnknownCostError):  # a price never known can never be shown to fit
            await ai.conversation("fake/unpriced-model").max_cost("1").user("hello").asend()


async def test_per_request_limit_caps_even_when_the_period_is_far_from_spent(ledger_url: str | None) -> None:
    driver = FakeDriver()
    budget = Budget(limit=Decimal(100), per_request=Decimal("0.0002"), name="team")
    async with make_ai(ledger_url, [budget], driver=driver) as ai:
        await ai.conversation("fake/echo").user("hello").asend()
        sent = driver.calls[-1].max_tokens
        assert sent is not None and worst(ai, "hello").cost(sent) <= Decimal("0.0002")
        with pytest.raises(BudgetExceededError) as info:
            await ai.conversation("fake/echo").max_tokens(1000).user("hello").asend()
        assert info.value.budget == "team (per request)" and "team (per request)" in str(info.value)


async def test_the_most_restrictive_budget_decides_and_is_named(ledger_url: str | None) -> None:
    driver = FakeDriver()
    budgets = [
        Budget(limit=Decimal(10), name="company"),
        Budget(limit=Decimal("0.0004"), scope="tenant", name="acme-monthly"),
        Budget(limit=Decimal("0.0002"), scope="user", period="weekly", name="ann-weekly"),
        Budget(limit=Decimal("0.0003"), scope="tag", period="yearly", name="research-yearly"),
    ]
    async with make_ai(ledger_url, budgets, driver=driver) as ai:
        conversation = ai.conversation("fake/echo", user="ann", tenant="acme", tags=["research"])
        with pytest.raises(BudgetExceededError) as info:
            await conversation.max_tokens(1000).user("hello").asend()
        assert info.value.budget == "ann-weekly" and info.value.limit == Decimal("0.0002")
        reply = await ai.conversation("fake/echo", user="ann", tenant="acme", tags=["research"]).user("hi").asend()
        assert worst(ai, "hi").cost(driver.calls[-1].max_tokens) <= Decimal("0.0002")  # capped to the tightest
        for budget, target in zip(budgets, ["*", "acme", "ann", "research"], strict=True):
            assert usage_of(ai, budget, target) == (reply.cost.total, 0)


async def test_a_tag_given_twice_is_charged_once(ledger_url: str | None) -> None:
    budget = Budget(limit=Decimal(1), scope="tag")
    async with make_ai(ledger_url, [budget]) as ai:
        layer = BudgetMiddleware()
        request = ChatRequest(provider="fake", model="echo", messages=[Message.user("hi")])
        call = Call(request=request, services=ai.services, tags=("ops", "ops"))

        async def answer(call: Call) -> ChatResponse:
            cost = Cost(total=Decimal("0.01"), provider="fake", model="echo")
            return ChatResponse(provider="fake", model="echo", message=Message.assistant("ok"), cost=cost)

        await layer(call, answer)
        assert usage_of(ai, budget, "ops") == (Decimal("0.01"), 0)


# -- holds are not "spent" -----------------------------------------------------------------------


class Gate(Middleware):
    """Keeps calls in flight until released (unstreamed calls only)."""

    unary_only = True
    name = "gate"
    order = 900

    def __init__(self) -> None:
        self.entered = anyio.Event()
        self.release = anyio.Event()

    async def __call__(self, call: Call, call_next: Next) -> ChatResponse:
        self.entered.set()
        await self.release.wait()
        return await call_next(call)


async def test_a_refusal_tells_held_money_from_spent_money(ledger_url: str | None) -> None:
    gate = Gate()
    budget = Budget(limit=Decimal("0.002"), name="small")
    async with make_ai(ledger_url, [budget], gate) as ai:
        async with anyio.create_task_group() as group:
            group.start_soon(ai.conversation("fake/echo").max_tokens(1000).user("first").asend)
            await gate.entered.wait()
            with pytest.raises(BudgetExceededError) as info:
                await ai.conversation("fake/echo").max_tokens(1000).user("second").asend()
            gate.release.set()
        error = info.value
        held = worst(ai, "first", max_tokens=1000).amount
        assert error.spent == 0 and error.held == held
        assert f"spent 0, held {error.held.normalize():f} by calls in flight" in str(error)
        assert "000000000" not in str(error)


# -- what is charged after the call --------------------------------------------------------------


RECORDED = Cost(total=Decimal("0.000123"), provider="fake", model="echo")


class FailsAfterRecording(Middleware):
    """What the runner does when an answer was recorded and a later step failed."""

    name = "fails-after-recording"
    order = 900

    async def __call__(self, call: Call, call_next: Next) -> ChatResponse:
        await call_next(call)
        call.state["recorded_cost"] = RECORDED
        raise errors.MalformedResponseError("the reply did not parse", provider="fake")

    async def _stream(self, call: Call, call_next: StreamNext) -> AsyncIterator[StreamEvent]:
        yield TextDelta("partial ")
        call.state["recorded_cost"] = RECORDED  # delivered text, estimated cost recorded
        raise errors.StreamInterruptedError("cut off", provider="fake")

    def stream(self, call: Call, call_next: StreamNext) -> AsyncIterator[StreamEvent]:
        return self._stream(call, call_next)


async def test_a_call_recorded_then_failed_is_charged_what_was_recorded(ledger_url: str | None) -> None:
    budget = Budget(limit=Decimal(1))
    async with make_ai(ledger_url, [budget], FailsAfterRecording()) as ai:
        with pytest.raises(errors.MalformedResponseError):
            await ai.conversation("fake/echo").user("hello").asend()
        assert usage_of(ai, budget) == (RECORDED.total, 0)  # never released: the provider billed it


async def test_a_stream_cut_after_delivery_is_charged_its_recorded_cost(ledger_url: str | None) -> None:
    budget = Budget(limit=Decimal(1))
    async with make_ai(ledger_url, [budget], FailsAfterRecording()) as ai:
        with pytest.raises(errors.StreamInterruptedError):
            async for _ in ai.conversation("fake/echo").user("hello").astream():
                pass
        assert usage_of(ai, budget) == (RECORDED.total, 0)  # not the whole hold, not zero


async def test_a_call_that_failed_before_any_answer_is_released(ledger_url: str | None) -> None:
    budget = Budget(limit=Decimal(1))
    async with make_ai(ledger_url, [budget]) as ai:
        with pytest.raises(errors.RateLimitError):
            await ai.conversation("fake/echo").user("hello").option("fake_error", "rate_limit").asend()
        assert usage_of(ai, budget) == (0, 0)


# -- a provider that runs past max_tokens ---------------------------------------------------------


def overrun(request: ChatRequest) -> ChatResponse:
    """Answers three times longer than ``max_tokens`` allows."""
    output = 3 * (request.max_tokens or 4096)
    return ChatResponse(
        provider="fake",
        model=request.model,
        message=Message.assistant("long " * 10),
        finish_reason="length",
        usage=TokenUsage(input_tokens=10, output_tokens=output),
    )


async def test_an_overshoot_is_reported_and_every_later_call_refused(
    ledger_url: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ai_core.budgets")
    driver = FakeDriver.scripted([overrun] * 3)
    budget = Budget(limit=Decimal("0.002"), name="hard", thresholds=(Decimal(1),))
    seen: list[BudgetOvershoot] = []
    async with make_ai(ledger_url, [budget], driver=driver) as ai:
        ai.on(BudgetOvershoot)(seen.append)
        reply = await ai.conversation("fake/echo").max_tokens(1000).user("go").asend()
        assert reply.usage.output_tokens == 3000
        spent, held = usage_of(ai, budget)
        assert spent == reply.cost.total > budget.limit and held == 0  # charged in full: the ledger tells the truth
        with pytest.raises(BudgetExceededError):
            await ai.conversation("fake/echo").user("again").asend()  # not even capped: nothing is left
        with pytest.raises(BudgetExceededError):
            await ai.conversation("fake/echo").max_tokens(1).user("again").asend()
        assert len(driver.calls) == 1
        await ai.events.adrain()
    (event,) = seen
    assert event.budget == "hard" and event.spent == spent and event.over_by == spent - budget.limit
    assert event.held == worst(ai, "go", max_tokens=1000).amount and event.charged == reply.cost.total
    assert not event.late and "over its hard limit" in str(event)
    logged = [r.getMessage() for r in caplog.records if "budget_overshoot" in r.getMessage()]
    assert len(logged) == 1 and "over_by=" in logged[0] and "000000000" not in logged[0]
