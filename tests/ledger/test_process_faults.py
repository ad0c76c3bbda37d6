"""Real processes killed with real signals leave a consistent database.

A child process makes a call against the local server and is killed at a
chosen point (SIGKILL while a tool runs after the answer arrived; SIGKILL and
SIGTERM mid-stream). Afterwards: the database passes its integrity check,
every call the server answered is in the ledger exactly once, the totals and
cost tracking equal the rows, and no budget hold outlives its lease.
"""

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

import pytest
from servers.fixtures import TEST_API_KEY
from servers.openai_compat import Completion, Fault, OpenAICompatServer, ToolCall, Usage
from sqlalchemy import select, text
from support.processes import exit_or_stacks

from ai_core.budgets.tables import BudgetReservation
from ai_core.storage.analytics_tables import CostTracking
from ai_core.storage.conversation_tables import Conversation, StoredMessage
from ai_core.storage.database import Database

CHILD = Path(__file__).with_name("child_turn.py")
ROOT = Path(__file__).resolve().parents[2]


def _start(mode: str, server: OpenAICompatServer, database_url: str, lease: float = 600.0) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "AI_DATABASE_URL": database_url,
        "AI_OPENAI_BASE_URL": server.base_url,
        "AI_OPENAI_API_KEY": TEST_API_KEY,
        "AI_OPENAI_RETRY_ATTEMPTS": "0",
        "AI_BUDGETS": json.dumps([{"limit": "5", "scope": "user", "period": "monthly"}]),
        "AI_BUDGET_HOLD_LEASE": str(lease),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.Popen(
        [sys.executable, str(CHILD), mode], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_for(child: subprocess.Popen[str], marker: str, timeout: float = 60.0) -> None:
    assert child.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = child.stdout.readline()
        if line.strip() == marker:
            return
        if not line and child.poll() is not None:
            raise AssertionError(f"child exited {child.returncode} before {marker}: {child.stderr.read()}")  # type: ignore[union-attr]
    raise AssertionError(f"child never printed {marker}")


@pytest.fixture
def opened(database_url: str) -> Iterator[Database]:
    database = Database.open(database_url)
    yield database
    database.close()


def _check_consistent(database: Database, answered_calls: int) -> list[StoredMessage]:
    with database.read() as conn:
        if database.is_sqlite:
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        rows = list(conn.execute(select(StoredMessage.__table__).where(StoredMessage.__table__.c.billable.is_(True))))
        conversations = list(conn.execute(select(Conversation.__table__)))
        tracked = list(conn.execute(select(CostTracking.__table__)))
    assert len(rows) == answered_calls  # each answered call once
    spent = sum((r.cost for r in rows if r.cost is not None), Decimal(0))
    assert sum((c.total_cost for c in conversations), Decimal(0)) == spent
    assert sum(c.message_count for c in conversations) == sum(1 for _ in _all_messages(database))
    assert sum((t.cost for t in tracked), Decimal(0)) == spent and sum(t.requests for t in tracked) == len(rows)
    return rows


def _all_messages(database: Database) -> list[object]:
    with database.read() as conn:
        return list(conn.execute(select(StoredMessage.__table__.c.id)))


def _holds(database: Database) -> list[object]:
    with database.read() as conn:
        return list(conn.execute(select(BudgetReservation.__table__)))


def test_sigkill_after_the_answer_keeps_the_paid_call(
    openai_server: OpenAICompatServer, opened: Database, database_url: str
) -> None:
    openai_server.reply(
        Completion(
            text="",
            tool_calls=[ToolCall("block", {"reason": "x"}, id="c1")],
            usage=Usage(prompt_tokens=500, completion_tokens=20),
        )
    )
    child = _start("tool", openai_server, database_url, lease=1.0)
    try:
        _wait_for(child, "IN_TOOL")
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        child.kill()
    (row,) = _check_consistent(opened, answered_calls=1)
    assert row.outcome == "answered" and row.input_tokens == 500 and row.cost > 0 and row.tags == ["kill"]
    # The call's hold was settled at its recorded cost before the tool ran.
    assert {(h.status, h.actual) for h in _holds(opened)} == {("settled", row.cost)}


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_signal_mid_stream_leaves_a_consistent_database_and_no_lasting_hold(
    openai_server: OpenAICompatServer, opened: Database, database_url: str, sig: signal.Signals
) -> None:
    openai_server.reply(Completion(text="a" * 200, chunk_size=20, fault=Fault.stall(after=3, seconds=30)))
    child = _start("stream", openai_server, database_url, lease=1.0)
    try:
        _wait_for(child, "DELTA")
        child.send_signal(sig)
        child.wait(timeout=30)
    finally:
        child.kill()
    # The process died mid-stream: whatever it recorded is consistent (the interrupted
    # part, when it had the time to write it; nothing half-written otherwise).
    # A library process killed by either signal dies at once (only the CLI turns SIGTERM into Ctrl-C):
    # the delivered part never reached the ledger, and its hold is left, with a lease.
    _check_consistent(opened, answered_calls=0)
    assert [h.status for h in _holds(opened)] == ["held"]
    # The next call of the same user, past the lease, finds the dead process's hold
    # expired: the budget is not locked for the rest of the month.
    time.sleep(1.2)
    openai_server.reply(Completion(text="next"))
    from ai_core import AI

    with AI(
        database_url=database_url,
        budgets=[{"limit": "5", "scope": "user", "period": "monthly"}],
        providers={"openai": {"api_key": TEST_API_KEY, "base_url": openai_server.base_url}},
    ) as ai:
        assert ai.conversation("openai/gpt-4o-mini", user="ann", tenant="acme").user("again").send().text == "next"
    assert [h.status for h in _holds(opened)].count("held") == 0


def _check_holds_match_the_ledger(database: Database) -> None:
    """Every hold closed; each settled one charged exactly its call's ledger row, each
    released one for a call the provider never answered."""
    messages = StoredMessage.__table__
    with database.read() as conn:
        recorded = {
            r.call_id: r.cost
            for r in conn.execute(select(messages.c.call_id, messages.c.cost))
            if r.call_id is not None
        }
        calls = [r.call_id for r in conn.execute(select(messages.c.call_id)) if r.call_id is not None]
    assert len(calls) == len(set(calls))  # each call once
    holds = _holds(database)
    assert [h.status for h in holds if h.status not in ("settled", "released")] == []
    assert {h.call_id: h.actual for h in holds if h.status == "settled"} == recorded
    assert not {h.call_id for h in holds if h.status == "released"} & set(recorded)


@pytest.mark.parametrize("mode", ["burst", "burst-trio"], ids=["asyncio.run", "trio.run"])
def test_ctrl_c_closes_every_hold_and_keeps_every_answer(
    openai_server: OpenAICompatServer, opened: Database, database_url: str, mode: str
) -> None:
    # asyncio cancels natively (gather's children, asyncio.run's main task): a shielded scope
    # does not stop that, and once left answers unrecorded but charged, and holds held. trio
    # raises KeyboardInterrupt in whatever code runs at that instant, shield or not: once a
    # call was charged to its budget with its ledger row never written.
    openai_server.reply(Completion(text="ok", usage=Usage(prompt_tokens=20, completion_tokens=5)))
    for target, pause in (("ANSWERED 75", 0.0), ("ANSWERED 100", 0.01), ("ANSWERED 150", 0.03)):
        child = _start(mode, openai_server, database_url, lease=600.0)
        try:
            _wait_for(child, target)
            time.sleep(pause)  # at different stages of the calls in flight
            child.send_signal(signal.SIGINT)
            exit_or_stacks(child, "Ctrl-C")
            assert child.returncode != 0
        finally:
            child.kill()
    rows = _check_consistent(opened, answered_calls=len(_billable(opened)))
    assert len(rows) >= 325
    _check_holds_match_the_ledger(opened)


def _billable(database: Database) -> list[object]:
    with database.read() as conn:
        return list(conn.execute(select(StoredMessage.__table__.c.id).where(StoredMessage.__table__.c.billable)))
