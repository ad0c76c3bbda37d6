"""Agent actions on real ``ai worker`` processes: requested in this process, run by one of two
workers that import tests/queue/qtest_actions.py (``[queue] actions``), completed once, the
outcome in the conversation; a worker killed (SIGKILL) mid-action; an action the worker lacks."""

from __future__ import annotations

import os
import shutil
import signal
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from queue_harness import Stack, make_stack, wait_until

from ai_core.actions import ActionManager
from ai_core.config import load_settings
from ai_core.types import ToolCallPart

EMAIL = ToolCallPart(id="c1", name="send_followup_email", arguments={"to": "ada@example.com", "subject": "Hi"})
APP_ONLY = ToolCallPart(id="c2", name="app_only", arguments={"note": "x"})


@pytest.fixture(
    params=[("asyncio", "sqlite"), pytest.param(("trio", "postgresql"), marks=pytest.mark.postgres)],
    ids=["asyncio-sqlite", "trio-postgresql"],
)
def backends(request: pytest.FixtureRequest) -> tuple[str, str]:
    """Both anyio backends and both databases, in two runs rather than four: worker tests are slow."""
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def anyio_backend(backends: tuple[str, str]) -> str:
    return backends[0]


@pytest.fixture
def db_backend(backends: tuple[str, str]) -> str:
    return backends[1]


@pytest.fixture
def backend_stack(tmp_path: Path, redis_url: str, database_url: str, anyio_backend: str) -> Iterator[Stack]:
    """A stack on SQLite and PostgreSQL whose workers run actions on the test's anyio backend."""
    yield from make_stack(tmp_path, redis_url, db_url=database_url, async_backend=anyio_backend)


def _ai(stack: Stack, monkeypatch: pytest.MonkeyPatch, replies: list[Any]) -> Any:
    """The requesting process: the queue configured, the actions module imported, a scripted
    model (``ai.fake``: its ``calls`` are the requests it received)."""
    import qtest_actions  # noqa: F401 - registers send_followup_email here too, as an application would
    import qtest_listeners

    from ai_core.testing import fake_ai, fake_registry, make_fake

    for name in ("AI_QUEUE_URL", "AI_CONFIG_FILE", "AI_DATA_DIR"):
        monkeypatch.setenv(name, stack.env[name])
    monkeypatch.setenv("QTEST_DIR", str(stack.signals))
    settings = load_settings(database_url=stack.db_url, default_model="fake/echo")
    fake = make_fake(replies)
    ai = fake_ai(fake, registry=fake_registry(("qtest", qtest_listeners)), settings=settings)
    ai.fake = fake
    return ai


def _effects(stack: Stack, action_id: str) -> list[str]:
    return [kind for event, _pid, kind in stack.effects() if event == action_id]


@pytest.mark.anyio
async def test_a_requested_action_runs_on_the_worker_once_and_its_outcome_joins_the_conversation(
    backend_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = backend_stack
    workers = {stack.start("worker", "--threads", "2").pid for _ in range(2)}  # two workers share the queue
    ai = _ai(stack, monkeypatch, [[EMAIL, APP_ONLY], "Both are queued.", "Noted."])
    app_only_runs: list[str] = []

    @ai.action("app_only")
    def app_only(note: str) -> str:  # registered in this process only: the worker cannot find it
        app_only_runs.append(note)
        return "ran here"

    try:
        assert ActionManager.of(ai).queued
        chat = ai.conversation(user="ada").actions("send_followup_email", "app_only")
        reply = await chat.user("follow up with Ada").asend()
        assert reply.text == "Both are queued."
        assert await ActionManager.of(ai).await_outcomes(60)  # brought back to the live conversation
        by_name = {
            name: (action_id, status, attempts, result, error)
            for action_id, (name, status, attempts, result, error) in stack.action_rows().items()
        }
        email_id, status, attempts, result, _ = by_name["send_followup_email"]
        assert (status, attempts, result) == ("succeeded", 1, "sent to ada@example.com"), stack.logs()
        (ran_on,) = stack.action_starts(email_id)
        assert ran_on in workers  # run once, by a worker, not here
        other_id, status, attempts, _, error = by_name["app_only"]
        assert (status, attempts) == ("failed", 1) and app_only_runs == []
        assert error is not None and "no action named 'app_only' is registered" in error
        assert "[queue] actions" in error  # says where a worker looks

        # The outcomes reach the live conversation's next send, and are stored once.
        await chat.user("thanks").asend()
        sent = [m.text for m in ai.fake.calls[-1].messages]
        assert f"[action send_followup_email (id {email_id}) succeeded] sent to ada@example.com" in sent
        assert any(text.startswith(f"[action app_only (id {other_id}) failed] no action named") for text in sent)
        assert stack.messages_like(chat.id, f"id {email_id}) succeeded") == 1
        assert stack.messages_like(chat.id, f"id {other_id}) failed") == 1

        # AgentActionCompleted, handled by a queued listener: once per action.
        wait_until(lambda: _effects(stack, email_id) and _effects(stack, other_id), "the completed events")
        assert _effects(stack, email_id) == ["action:succeeded"]
        assert _effects(stack, other_id) == ["action:failed"]

        # A duplicate message (a redelivery) runs nothing again.
        from ai_core.actions.queued import send

        for _ in range(4):
            send(ActionManager.of(ai), email_id, 300)
        wait_until(stack.idle, "the duplicates to be handled")
        assert stack.action_starts(email_id) == [ran_on]
        assert stack.action_rows()[email_id][1:3] == ("succeeded", 1)
        assert stack.messages_like(chat.id, f"id {email_id}) succeeded") == 1
        assert _effects(stack, email_id) == ["action:succeeded"]
    finally:
        await ai.aclose()


def test_a_worker_killed_mid_action_is_replaced_and_the_action_completes_once(
    any_db_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = any_db_stack
    (stack.signals / "block-action").touch()
    first = stack.start("worker", "--threads", "1")
    ai = _ai(stack, monkeypatch, [[EMAIL], "Queued.", "Noted."])
    try:
        chat = ai.conversation(user="ada").actions("send_followup_email")
        assert chat.user("follow up with Ada").send().text == "Queued."
        (action_id,) = wait_until(lambda: list(stack.action_rows()), "the stored request")
        wait_until(lambda: stack.action_starts(action_id), "the worker to start the action")
        assert stack.action_starts(action_id) == [first.pid]

        stack.kill(first, signal.SIGKILL)  # mid-action: it is blocked on the signal file
        assert stack.action_rows()[action_id][1:3] == ("running", 1)
        (stack.signals / "block-action").unlink()
        second = stack.start("worker", "--threads", "1")

        def succeeded() -> bool:
            return stack.action_rows()[action_id][1] == "succeeded"

        wait_until(succeeded, "the restarted worker to complete the action", timeout=120)
        assert ActionManager.of(ai).wait_for_outcomes(60)
        assert stack.action_rows()[action_id][1:4] == ("succeeded", 2, "sent to ada@example.com")
        assert sorted(stack.action_starts(action_id)) == sorted([first.pid, second.pid]), stack.logs()
        wait_until(lambda: _effects(stack, action_id), "the completed event")
        wait_until(stack.idle, "the queue to drain")
        assert _effects(stack, action_id) == ["action:succeeded"]  # completed once
        assert stack.messages_like(chat.id, f"id {action_id}) succeeded") == 1  # appended once

        chat.user("thanks").send()  # the live conversation got the outcome across the kill
        sent = [m.text for m in ai.fake.calls[-1].messages]
        assert f"[action send_followup_email (id {action_id}) succeeded] sent to ada@example.com" in sent
        assert stack.messages_like(chat.id, f"id {action_id}) succeeded") == 1
        assert stack.kill(second, signal.SIGTERM) in (0, 143), stack.logs()
    finally:
        ai.close()


@pytest.fixture
def sweeping_stack(tmp_path: Path, redis_url: str, sqlite_template: Path) -> Iterator[Stack]:
    """A SQLite stack whose workers look for lost action requests every second."""
    shutil.copyfile(sqlite_template, tmp_path / "ai.db")
    yield from make_stack(tmp_path, redis_url, action_sweep=1.0)


def test_a_request_whose_message_was_lost_is_swept_up_by_a_worker(sweeping_stack: Stack) -> None:
    from ai_core.actions.rows import ActionRow, insert
    from ai_core.storage import Database

    stack = sweeping_stack
    known, unknown = "a" * 32, "b" * 32
    database = Database.open(stack.db_url)
    try:  # stored, never sent (the requesting process died first)
        long_ago = datetime.now(UTC) - timedelta(hours=1)
        email = {"to": "bo", "subject": "s"}
        insert(database, ActionRow(known, "send_followup_email", email, None, None, None, requested_at=long_ago))
        insert(database, ActionRow(unknown, "nobody_has_it", {}, None, None, None, requested_at=long_ago))
    finally:
        database.close()
    stack.start("worker", "--threads", "1")

    def both_done() -> bool:
        rows = stack.action_rows()
        return rows[known][1] not in ("requested", "running") and rows[unknown][1] not in ("requested", "running")

    wait_until(both_done, "a worker's sweep to run the requests")
    wait_until(stack.idle, "the queue to drain")
    rows = stack.action_rows()
    assert rows[known][1:4] == ("succeeded", 1, "sent to bo"), stack.logs()
    assert rows[unknown][1:3] == ("failed", 1)
    assert "no action named 'nobody_has_it'" in (rows[unknown][4] or "")


@pytest.mark.anyio
async def test_with_the_queue_unreachable_the_action_runs_in_process(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    stack.env["AI_QUEUE_URL"] = f"redis://127.0.0.1:{port}/0"
    ai = _ai(stack, monkeypatch, [[EMAIL], "Queued."])
    try:
        await ai.conversation().actions("send_followup_email").user("go").asend()
        assert await ai.events.adrain(60)
        ((action_id, row),) = stack.action_rows().items()
        assert row[1:4] == ("succeeded", 1, "sent to ada@example.com")
        assert stack.action_starts(action_id) == [os.getpid()]  # not lost: run here instead
    finally:
        await ai.aclose()


@pytest.mark.anyio
async def test_a_denied_action_is_neither_stored_nor_queued(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    from ai_core.mcp.approval import Approval

    ai = _ai(stack, monkeypatch, [[EMAIL], "Understood."])
    try:
        chat = ai.conversation().actions("send_followup_email").approver(lambda request: Approval.deny("no mail"))
        await chat.user("mail Ada").asend()
        assert await ai.events.adrain(60)
        denied = next(m for m in chat.messages if m.role == "tool").parts[0]
        assert denied.is_error and "no mail" in denied.content
        assert stack.action_rows() == {}
        assert stack.status()["queues"]["ai-core-actions"]["waiting"] == 0
    finally:
        await ai.aclose()


def test_a_worker_that_cannot_import_an_actions_module_says_so_and_exits(stack: Stack) -> None:
    stack.env["AI_QUEUE_ACTIONS"] = "qtest_actions,zz_no_such_actions_module"
    done = stack.ai("worker", check=False)
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.startswith("Error")]
    assert lines == [
        "Error: ai worker cannot import the actions module 'zz_no_such_actions_module' ([queue] actions / "
        "AI_QUEUE_ACTIONS): ModuleNotFoundError: No module named 'zz_no_such_actions_module'"
    ]
    assert "Traceback" not in done.stderr


def test_the_requesting_process_closes_without_waiting_for_a_worker(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    ai = _ai(stack, monkeypatch, [[EMAIL], "Queued."])
    try:
        chat = ai.conversation().actions("send_followup_email")
        chat.user("go").send()
        manager = ActionManager.of(ai)
        assert manager.wait_for_outcomes(0.5) is False  # no worker runs: the outcome is not in
        assert manager.watcher.pending() == 1
    finally:
        started = time.monotonic()
        ai.close()
    assert time.monotonic() - started < 20  # a generous bound: only a close that waits for workers fails it
    assert [row[1] for row in stack.action_rows().values()] == ["requested"]
    assert stack.status()["queues"]["ai-core-actions"]["waiting"] == 1  # for the next worker
