"""``--provider-batch``: OpenAI's Batch API through the local server (tests/servers/openai_batch.py).

Upload, create, poll, download; answers recorded in the ledger at the batch discount; a
job resumed after a stop at each step, never uploading or submitting twice; budgets charged
per item; the CLI interrupted while the provider works, then resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest
from servers.fixtures import TEST_API_KEY
from servers.openai_batch import OpenAIBatchServer
from servers.openai_compat import Completion, ErrorReply, RecordedRequest, Usage

from ai_core import errors
from ai_core.app import AI
from ai_core.batch.provider_job import run_provider_batch

ROOT = Path(__file__).resolve().parents[2]
GENEROUS = 60.0
MINI_IN, MINI_OUT = Decimal("0.15"), Decimal("0.60")  # gpt-4o-mini, USD per million tokens


@pytest.fixture(scope="session")
def _batch_server_session() -> Iterator[OpenAIBatchServer]:
    server = OpenAIBatchServer().start()
    yield server
    server.stop()


@pytest.fixture
def batch_server(_batch_server_session: OpenAIBatchServer) -> OpenAIBatchServer:
    server = _batch_server_session
    server.reset()
    server.handler = _answer_by_prompt
    return server


def _answer_by_prompt(request: RecordedRequest) -> Completion | ErrorReply:
    prompt = request.json["messages"][-1]["content"]
    if "refuse" in prompt:
        return ErrorReply.bad_request("This prompt is refused.", param="messages")
    return Completion(text=f"answer to {prompt}", usage=Usage(prompt_tokens=1000, completion_tokens=400))


def _items(count: int) -> list[dict[str, Any]]:
    return [{"id": f"item-{i}", "model": "openai/gpt-4o-mini", "prompt": f"q{i}"} for i in range(count)]


def _ai(server: OpenAIBatchServer, database_url: str | None, **kwargs: Any) -> AI:
    return AI(
        persistence=database_url is not None,
        database_url=database_url,
        providers={"openai": {"base_url": server.base_url, "api_key": TEST_API_KEY, "retry_attempts": 0}},
        **kwargs,
    )


HALF_PRICE = (1000 * MINI_IN + 400 * MINI_OUT) / 1_000_000 / 2


@pytest.mark.anyio
async def test_a_job_runs_through_the_batch_api_at_half_price(
    batch_server: OpenAIBatchServer, database_url: str
) -> None:
    items = [*_items(4), {"id": "no", "model": "openai/gpt-4o-mini", "prompt": "please refuse"}, {"id": "bad"}]
    phases: list[str] = []
    async with _ai(batch_server, database_url) as ai:
        results = await run_provider_batch(
            ai, items, job="nightly", poll_interval=0.01, on_status=lambda phase, _: phases.append(phase)
        )
        single = await ai.conversation("openai/gpt-4o-mini").user("q9").asend()  # the same answer, not batched
    assert results is not None
    by_id = {r.id: r for r in results}
    assert set(by_id) == {f"item-{i}" for i in range(4)} | {"no", "bad"}
    for i in range(4):
        result = by_id[f"item-{i}"]
        assert result.ok and result.text == f"answer to q{i}"
        assert result.cost is not None and result.cost.total == HALF_PRICE
        assert "batch -50%" in result.cost.priced_by
    assert single.cost is not None and single.cost.total == 2 * HALF_PRICE
    assert by_id["no"].error_type == "InvalidRequestError" and "refused" in (by_id["no"].error or "")
    assert by_id["bad"].error_type == "RequestValidationError"
    assert phases[:2] == ["uploaded", "submitted"] and phases[-1] == "downloaded" and "polled" in phases
    assert (batch_server.uploads, batch_server.created, len(batch_server.batch_bodies)) == (1, 1, 5)
    assert batch_server.chat_bodies == [batch_server.chat_bodies[0]]  # only the unbatched call used /chat/completions
    uploaded = batch_server.batch_bodies[0]
    assert uploaded["model"] == "gpt-4o-mini" and uploaded["messages"] == [{"role": "user", "content": "q0"}]

    # In the ledger: one priced row per answered item, found again by the next run without any request.
    async with _ai(batch_server, database_url) as ai:
        again = await run_provider_batch(ai, _items(4), job="nightly", poll_interval=0.01)
    assert again is not None and all(r.resumed and r.cost and r.cost.total == HALF_PRICE for r in again)
    assert (batch_server.uploads, batch_server.created, len(batch_server.batch_bodies)) == (1, 1, 5)


@pytest.mark.anyio
async def test_stopped_while_the_provider_works_then_resumed(
    batch_server: OpenAIBatchServer, database_url: str
) -> None:
    batch_server.steps = 10**6  # never done until the test says so
    stop = anyio.Event()

    def on_status(phase: str, details: dict[str, Any]) -> None:
        if phase == "polled":
            stop.set()

    async with _ai(batch_server, database_url) as ai:
        first = await run_provider_batch(ai, _items(3), job="j", poll_interval=0.01, on_status=on_status, stop=stop)
    assert first is None
    batch_server.steps = 1
    async with _ai(batch_server, database_url) as ai:
        results = await run_provider_batch(ai, _items(3), job="j", poll_interval=0.01)
    assert results is not None and sorted(r.id for r in results) == ["item-0", "item-1", "item-2"]
    assert all(r.ok and not r.resumed for r in results)
    assert (batch_server.uploads, batch_server.created, len(batch_server.batch_bodies)) == (1, 1, 3)


@pytest.mark.anyio
async def test_a_crash_between_upload_and_submission_submits_the_uploaded_file(
    batch_server: OpenAIBatchServer, database_url: str
) -> None:
    class Crash(Exception):
        pass

    def on_status(phase: str, details: dict[str, Any]) -> None:
        if phase == "uploaded":
            raise Crash

    async with _ai(batch_server, database_url) as ai:
        with pytest.raises(Crash):
            await run_provider_batch(ai, _items(2), job="k", poll_interval=0.01, on_status=on_status)
    assert (batch_server.uploads, batch_server.created) == (1, 0)
    async with _ai(batch_server, database_url) as ai:
        results = await run_provider_batch(ai, _items(2), job="k", poll_interval=0.01)
    assert results is not None and all(r.ok for r in results)
    assert (batch_server.uploads, batch_server.created, len(batch_server.batch_bodies)) == (1, 1, 2)


@pytest.mark.anyio
async def test_a_crash_after_submission_before_its_id_was_saved_finds_the_batch(
    batch_server: OpenAIBatchServer, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ai_core.batch.provider_job as provider_job
    from ai_core.batch import job_state

    class Crash(Exception):
        pass

    real_save = job_state.save_job

    async def save_but_not_the_submission(database: Any, state: Any) -> None:
        if state.status == "submitted":
            raise Crash  # the batch exists at the provider; its id never reached the database
        await real_save(database, state)

    with monkeypatch.context() as patched:
        patched.setattr(provider_job, "save_job", save_but_not_the_submission)
        async with _ai(batch_server, database_url) as ai:
            with pytest.raises(Crash):
                await run_provider_batch(ai, _items(2), job="m", poll_interval=0.01)
    assert (batch_server.uploads, batch_server.created) == (1, 1)
    async with _ai(batch_server, database_url) as ai:
        results = await run_provider_batch(ai, _items(2), job="m", poll_interval=0.01)
    assert results is not None and all(r.ok for r in results)
    assert (batch_server.uploads, batch_server.created, len(batch_server.batch_bodies)) == (1, 1, 2)


@pytest.mark.anyio
async def test_budgets_are_charged_per_item(batch_server: OpenAIBatchServer, database_url: str) -> None:
    from datetime import UTC, datetime

    from ai_core.budgets import Budget, BudgetMiddleware

    budget = Budget(limit=Decimal(10), name="team")
    async with _ai(batch_server, database_url, budgets=[budget]) as ai:
        results = await run_provider_batch(ai, _items(3), job="b", poll_interval=0.01)
        ledger = BudgetMiddleware.ledger_for(ai.services)
        spent, held = ledger.usage(budget.key("*"), budget.period_start(datetime.now(UTC)))
    assert results is not None and spent == 3 * HALF_PRICE and held == 0


@pytest.mark.anyio
async def test_hard_budgets_are_checked_for_the_whole_batch_before_it_is_submitted(
    batch_server: OpenAIBatchServer, database_url: str
) -> None:
    """Each item is admitted as the pipeline would admit it, holding its worst case until all are
    admitted: two items of at most 1,000 output tokens fit in the budget, the others are refused and
    never sent. The holds are released after the upload; the answers are charged when recorded."""
    from datetime import UTC, datetime

    from ai_core.budgets import Budget, BudgetMiddleware

    budget = Budget(limit=Decimal("0.0013"), name="tight")  # a worst case is just over $0.0006
    items = [{**item, "max_tokens": 1000} for item in _items(4)]
    async with _ai(batch_server, database_url, budgets=[budget]) as ai:
        results = await run_provider_batch(ai, items, job="t", poll_interval=0.01)
        ledger = BudgetMiddleware.ledger_for(ai.services)
        spent, held = ledger.usage(budget.key("*"), budget.period_start(datetime.now(UTC)))
    assert results is not None
    by_id = {r.id: r for r in results}
    assert [by_id[f"item-{i}"].ok for i in range(4)] == [True, True, False, False]
    assert by_id["item-3"].error_type == "BudgetExceededError"
    assert len(batch_server.batch_bodies) == 2
    assert spent == 2 * HALF_PRICE and held == 0


@pytest.mark.anyio
async def test_without_persistence_or_with_two_providers_it_is_refused(batch_server: OpenAIBatchServer) -> None:
    async with _ai(batch_server, None) as ai:
        with pytest.raises(errors.ConfigurationError, match="persistence"):
            await run_provider_batch(ai, _items(1), job="x")


@pytest.mark.anyio
async def test_items_of_two_providers_are_refused(batch_server: OpenAIBatchServer, database_url: str) -> None:
    items = [*_items(1), {"id": "f", "model": "fake/echo", "prompt": "hi"}]
    async with _ai(batch_server, database_url) as ai:
        with pytest.raises(errors.RequestValidationError, match="one provider"):
            await run_provider_batch(ai, items, job="x")
    assert batch_server.uploads == 0


def test_cli_interrupted_while_the_provider_works_then_resumed(
    batch_server: OpenAIBatchServer, tmp_path: Path, database_url: str
) -> None:
    batch_server.steps = 10**6
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("".join(json.dumps(item) + "\n" for item in _items(20)) + "not json\n")
    env = {key: value for key, value in os.environ.items() if not key.startswith("AI_") or key.startswith("AI_CORE_")}
    env.update(
        {
            "AI_DATA_DIR": str(tmp_path / "data"),
            "AI_CONFIG_FILE": str(tmp_path / "absent.toml"),
            "AI_DATABASE_URL": database_url,
            "AI_OPENAI_BASE_URL": batch_server.base_url,
            "AI_OPENAI_API_KEY": TEST_API_KEY,
            "PYTHONUNBUFFERED": "1",
        }
    )
    command = [sys.executable, "-c", "from ai_core.cli import main; main()", "batch", str(source), "-o", str(out),
               "--provider-batch", "--poll-interval", "0.05"]  # fmt: skip
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + GENEROUS
    while not any(batch.polls >= 2 for batch in batch_server.batches.values()):
        assert time.monotonic() < deadline and child.poll() is None, "the job did not reach polling"
        time.sleep(0.02)
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=GENEROUS)
    assert child.returncode == 130, stderr
    assert b"Traceback" not in stderr and b"run the same command again to resume" in stderr
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["line-21"]  # the bad line only

    batch_server.steps = 1
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=GENEROUS)
    assert again.returncode == 1, again.stderr  # the bad line is a failed item
    assert "1 item(s) failed" in again.stderr and "Traceback" not in again.stderr
    lines = {line["id"]: line for line in map(json.loads, out.read_text().splitlines())}
    assert set(lines) == {f"item-{i}" for i in range(20)} | {"line-21"}
    assert all(lines[f"item-{i}"]["text"] == f"answer to q{i}" for i in range(20))
    assert all(Decimal(lines[f"item-{i}"]["cost"]) == HALF_PRICE for i in range(20))
    assert (batch_server.uploads, batch_server.created, len(batch_server.batch_bodies)) == (1, 1, 20)
