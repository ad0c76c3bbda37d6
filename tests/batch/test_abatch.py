"""AI.abatch / AI.batch: every item through the pipeline, per-item results, bounded concurrency,
budgets per item, and a job's answers found again in the ledger (SQLite and PostgreSQL)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import anyio
import pytest

from ai_core import errors
from ai_core.app import AI
from ai_core.batch import BatchResult, batch_conversation_id
from ai_core.budgets import Budget
from ai_core.drivers.fake import FakeDriver
from ai_core.types import ChatRequest, ChatResponse

pytestmark = pytest.mark.anyio


class CountingDriver(FakeDriver):
    """Echoes, refuses prompts containing "fail", and records the most calls in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.active = 0
        self.most = 0
        self.sent: list[ChatRequest] = []

    async def send(self, request: ChatRequest) -> ChatResponse:
        self.sent.append(request)
        self.active += 1
        self.most = max(self.most, self.active)
        try:
            await anyio.sleep(0.005)
            if "fail" in request.messages[-1].text:
                raise errors.InvalidRequestError("this item is refused", provider="fake", status_code=400)
            return await super().send(request)
        finally:
            self.active -= 1


def _items(count: int, **extra: Any) -> list[dict[str, Any]]:
    return [{"id": f"q{i}", "model": "fake/echo", "prompt": f"question {i}", **extra} for i in range(count)]


async def test_each_item_gets_its_own_result_in_order_and_failures_stay_per_item() -> None:
    driver = CountingDriver()
    items: list[Any] = _items(6)
    items[2] = {"id": "q2", "model": "fake/echo", "prompt": "please fail"}
    items.append({"id": "bad", "model": "nope", "prompt": "x"})  # refused before any call
    items.append({"id": "q0", "model": "fake/echo", "prompt": "again"})  # a repeated id
    async with AI(persistence=False, drivers={"fake": driver}) as ai:
        results = await ai.abatch(items, concurrency=3)
    assert [r.id for r in results] == ["q0", "q1", "q2", "q3", "q4", "q5", "bad", "q0"]
    ok = [r for r in results if r.ok]
    assert [r.text for r in ok] == [f"Echo: question {i}" for i in (0, 1, 3, 4, 5)]
    assert all(r.cost is not None and r.cost.total is not None and r.cost.total > 0 for r in ok)
    assert all(r.usage is not None and r.usage.total_tokens > 0 for r in ok)
    failed = {r.id: r for r in results if not r.ok}
    assert failed["q2"].error_type == "InvalidRequestError" and "refused" in (failed["q2"].error or "")
    assert failed["bad"].error_type == "RequestValidationError" and "provider/model" in (failed["bad"].error or "")
    assert results[-1].error_type == "RequestValidationError" and "already used" in (results[-1].error or "")
    assert len(driver.sent) == 6  # one call per valid item, none for the refused ones


async def test_concurrency_is_bounded() -> None:
    driver = CountingDriver()
    async with AI(persistence=False, drivers={"fake": driver}) as ai:
        results = await ai.abatch(_items(40), concurrency=4)
    assert len(results) == 40 and all(r.ok for r in results)
    assert driver.most == 4


async def test_on_result_sees_every_result_as_it_finishes() -> None:
    seen: list[BatchResult] = []
    async with AI(persistence=False, drivers={"fake": FakeDriver()}) as ai:
        results = await ai.abatch(_items(5), concurrency=2, on_result=seen.append)
    assert sorted(r.id for r in seen) == sorted(r.id for r in results)


async def test_objects_with_attributes_are_items_too() -> None:
    class Question:
        def __init__(self, id: str, prompt: str) -> None:
            self.id, self.prompt, self.model = id, prompt, "fake/echo"

    async with AI(persistence=False, drivers={"fake": FakeDriver()}) as ai:
        [result] = await ai.abatch([Question("x", "hi")])
    assert result.ok and result.text == "Echo: hi"


def test_the_sync_twin_works_from_plain_code() -> None:
    with AI(persistence=False, drivers={"fake": FakeDriver()}) as ai:
        results = ai.batch(_items(3), concurrency=2)
    assert [r.text for r in results] == [f"Echo: question {i}" for i in range(3)]


async def test_a_budget_applies_to_every_item(database_url: str) -> None:
    """A hard budget refuses the items it has no room for; the others are answered and charged."""
    budget = Budget(limit=Decimal("0.00005"), name="small")
    driver = CountingDriver()
    async with AI(database_url=database_url, budgets=[budget], drivers={"fake": driver}) as ai:
        results = await ai.abatch(_items(20, max_tokens=5), concurrency=1)
        refused = [r for r in results if r.error_type == "BudgetExceededError"]
        answered = [r for r in results if r.ok]
        assert answered and refused and len(answered) + len(refused) == 20
        assert len(driver.sent) == len(answered)
        spent = sum((r.cost.total for r in answered if r.cost and r.cost.total), Decimal(0))
        assert spent <= budget.limit
        from ai_core.budgets import BudgetMiddleware

        ledger = BudgetMiddleware.ledger_for(ai.services)
        from datetime import UTC, datetime

        charged, held = ledger.usage(budget.key("*"), budget.period_start(datetime.now(UTC)))
        assert charged == spent and held == 0


async def test_a_job_run_again_takes_answers_from_the_ledger(database_url: str) -> None:
    """Answers recorded by an earlier run of the same job are not bought again, whatever
    the caller kept; an item whose call failed is sent again, into the same conversation."""
    driver = CountingDriver()
    items = _items(5)
    items[3] = {"id": "q3", "model": "fake/echo", "prompt": "fail now"}
    async with AI(database_url=database_url, drivers={"fake": driver}) as ai:
        first = await ai.abatch(items, concurrency=2, job="nightly")
    assert len(driver.sent) == 5 and [r.ok for r in first] == [True, True, True, False, True]

    again = CountingDriver()
    items[3] = {"id": "q3", "model": "fake/echo", "prompt": "fail now"}
    async with AI(database_url=database_url, drivers={"fake": again}) as ai:
        second = await ai.abatch(items, concurrency=2, job="nightly")
        record = await ai.services.store.load(batch_conversation_id("nightly", "q3"))
    assert len(again.sent) == 1  # only the failed item
    assert [m.role for m in again.sent[0].messages] == ["user"]  # its stored question, not a second copy
    assert record is not None and [m.role for m in record.messages] == ["user"]
    for before, after in zip(first, second, strict=True):
        if before.ok:
            assert after.resumed and after.text == before.text and after.usage == before.usage
            assert after.cost is not None and before.cost is not None and after.cost.total == before.cost.total
            assert after.conversation_id == before.conversation_id
    assert not second[3].ok and not second[3].resumed


async def test_without_a_job_nothing_is_looked_up(database_url: str) -> None:
    driver = CountingDriver()
    async with AI(database_url=database_url, drivers={"fake": driver}) as ai:
        await ai.abatch(_items(3))
        await ai.abatch(_items(3))
    assert len(driver.sent) == 6


async def test_stop_lets_calls_in_flight_finish_and_starts_nothing_new() -> None:
    from ai_core.batch.runner import run_batch

    stop = anyio.Event()
    driver = CountingDriver()

    def on_result(result: BatchResult) -> None:
        stop.set()

    async with AI(persistence=False, drivers={"fake": driver}) as ai:
        results = await run_batch(ai, _items(50), concurrency=4, on_result=on_result, stop=stop)
    assert 1 <= len(results) <= 4 and len(driver.sent) == len(results)
    assert all(r.ok for r in results)


async def test_concurrency_below_one_is_refused() -> None:
    async with AI(persistence=False, drivers={"fake": FakeDriver()}) as ai:
        with pytest.raises(errors.ConfigurationError, match="concurrency"):
            await ai.abatch(_items(1), concurrency=0)


async def test_an_answer_the_ledger_could_not_record_is_kept_beside_its_error() -> None:
    from ai_core.pipeline.store import MemoryStore

    class FullDisk(MemoryStore):
        async def record_call(self, turn: Any, response: ChatResponse, **kwargs: Any) -> str:
            raise OSError(28, "No space left on device")

    async with AI(store=FullDisk(), drivers={"fake": FakeDriver()}) as ai:
        [result] = await ai.abatch(_items(1))
    assert result.error_type == "LedgerWriteError" and not result.ok
    assert result.text == "Echo: question 0" and result.cost is not None and result.cost.total
