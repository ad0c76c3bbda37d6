"""Holds never outlive their call: leases, expiry at admission, a killed process.

On SQLite and PostgreSQL (the ``database`` fixture), with the ledger itself and
through the facade.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import anyio
import pytest
from sqlalchemy import select, update
from support.processes import exit_or_stacks

from ai_core.budgets import Budget
from ai_core.budgets.ledger import Hold, HoldLine, SQLBudgetLedger, expire_stale_holds
from ai_core.budgets.tables import BudgetReservation
from ai_core.errors import BudgetExceededError
from ai_core.pipeline.store import new_id
from ai_core.storage.base import table_of
from ai_core.storage.conversation_tables import Conversation, StoredMessage

BUDGET = Budget(limit=Decimal(1), name="team")
PERIOD = BUDGET.period_start(datetime.now(UTC))
KEY = BUDGET.key("*")
reservations = table_of(BudgetReservation)


def hold(amount: str, budget: Budget = BUDGET) -> Hold:
    value = Decimal(amount)
    period = budget.period_start(datetime.now(UTC))
    return Hold(call_id=new_id(), lines=[HoldLine(budget, budget.key("*"), period, value, value)])


def row(database: Any, call_id: str) -> Any:
    with database.read() as conn:
        return conn.execute(select(reservations).where(reservations.c.call_id == call_id)).one()


def answered(database: Any, call_id: str, cost: Decimal | None) -> None:
    """A ledger row for ``call_id``, as the runner writes it when the provider answers."""
    conversations, messages = table_of(Conversation), table_of(StoredMessage)
    conversation = new_id()
    with database.write() as conn:
        conn.execute(conversations.insert(), {"id": conversation, "tags": []})
        conn.execute(
            messages.insert(),
            {
                "id": new_id(),
                "conversation_id": conversation,
                "position": 1,
                "role": "assistant",
                "format_version": 1,
                "parts": [],
                "billable": True,
                "cost": cost,
                "cost_known": cost is not None,
                "call_id": call_id,
                "outcome": "answered",
                "created_on": date.today(),
                "provider": "fake",
                "model": "echo",
            },
        )


def test_an_expired_hold_of_an_unanswered_call_is_released_at_admission(database: Any) -> None:
    ledger = SQLBudgetLedger(database)
    dead = hold("0.70")
    ledger.reserve(dead, lease=-1)  # its lease already over: the process that took it is gone
    assert ledger.usage(KEY, PERIOD) == (0, Decimal("0.70"))
    live = hold("0.60")
    ledger.reserve(live)  # would not fit beside the dead hold
    assert ledger.usage(KEY, PERIOD) == (0, Decimal("0.60"))
    stale = row(database, dead.call_id)
    assert stale.status == "expired" and stale.actual is None and stale.closed_at is not None
    fresh = row(database, live.call_id)
    assert fresh.status == "held" and fresh.expires_at is not None


@pytest.mark.parametrize(("recorded", "charged"), [(Decimal("0.25"), Decimal("0.25")), (None, Decimal("0.70"))])
def test_an_expired_hold_of_an_answered_call_is_charged_what_the_ledger_recorded(
    database: Any, recorded: Decimal | None, charged: Decimal
) -> None:
    ledger = SQLBudgetLedger(database)
    dead = hold("0.70")
    ledger.reserve(dead, lease=-1)
    answered(database, dead.call_id, recorded)  # killed after the answer was recorded, before settling
    ledger.reserve(hold("0.10"))
    assert ledger.usage(KEY, PERIOD) == (charged, Decimal("0.10"))  # an unknown price is charged the hold
    stale = row(database, dead.call_id)
    assert stale.status == "settled" and stale.actual == charged


def test_holds_from_before_leases_expire_from_their_creation(database: Any) -> None:
    ledger = SQLBudgetLedger(database)
    old = hold("0.50")
    ledger.reserve(old)
    with database.write() as conn:  # as a hold left by a version without leases
        conn.execute(
            update(reservations)
            .where(reservations.c.call_id == old.call_id)
            .values(expires_at=None, created_at=datetime.now(UTC) - timedelta(hours=1))
        )
    ledger.reserve(hold("0.10"), lease=60)
    assert row(database, old.call_id).status == "expired"
    assert ledger.usage(KEY, PERIOD) == (0, Decimal("0.10"))


def test_a_hold_within_its_lease_is_kept(database: Any) -> None:
    ledger = SQLBudgetLedger(database)
    live = hold("0.70")
    ledger.reserve(live)
    with pytest.raises(BudgetExceededError) as info:
        ledger.reserve(hold("0.40"))
    assert "spent 0, held 0.7 by calls in flight" in str(info.value)
    assert row(database, live.call_id).status == "held"


def test_expire_stale_holds_closes_every_counter(database: Any) -> None:
    ledger = SQLBudgetLedger(database)
    budgets = [Budget(limit=Decimal(5), name=name) for name in ("a", "b", "c")]
    dead = [hold("0.1", budgets[0]), hold("0.2", budgets[1]), hold("0.3", budgets[2])]
    for each in dead:  # one per counter: an admission on a counter would close its stale holds itself
        ledger.reserve(each, lease=-1)
    answered(database, dead[1].call_id, Decimal("0.15"))
    keep = hold("0.05")
    ledger.reserve(keep, lease=600)
    assert expire_stale_holds(database) == 3
    assert expire_stale_holds(database) == 0
    assert [ledger.usage(b.key("*"), PERIOD) for b in budgets] == [(0, 0), (Decimal("0.15"), 0), (0, 0)]
    assert ledger.usage(KEY, PERIOD) == (0, Decimal("0.05"))
    assert [row(database, h.call_id).status for h in dead] == ["expired", "settled", "expired"]
    assert expire_stale_holds(database, datetime.now(UTC) + timedelta(hours=1)) == 1  # the live one, later


def test_a_call_that_outlived_its_lease_is_still_charged_once(database: Any) -> None:
    ledger = SQLBudgetLedger(database)
    slow = hold("0.70")
    ledger.reserve(slow, lease=-1)
    ledger.reserve(hold("0.20"))  # takes the slow call for dead: its hold is released
    assert ledger.usage(KEY, PERIOD) == (0, Decimal("0.20"))
    report = ledger.settle(slow, Decimal("1.10"))  # ...but it was alive, answered, and ran long
    assert ledger.usage(KEY, PERIOD) == (Decimal("1.10"), Decimal("0.20"))  # charged; no hold removed twice
    (over,) = report.overshoots
    assert over.late and over.charged == Decimal("1.1") and over.over_by == Decimal("0.1")
    assert row(database, slow.call_id).status == "settled"
    ledger.settle(slow, Decimal("1.10"))  # a second close changes nothing
    ledger.release(slow)
    assert ledger.usage(KEY, PERIOD) == (Decimal("1.10"), Decimal("0.20"))
    with pytest.raises(BudgetExceededError):
        ledger.reserve(hold("0.000001"))  # over the limit: every later call is refused


def expire_now(database: Any, holds: list[Hold]) -> None:
    """As if the processes holding these had died a lease ago."""
    with database.write() as conn:
        conn.execute(
            update(reservations)
            .where(reservations.c.call_id.in_([h.call_id for h in holds]))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )


@pytest.mark.anyio
async def test_concurrent_admissions_close_each_stale_hold_exactly_once(database: Any) -> None:
    ledger = SQLBudgetLedger(database)
    budget = Budget(limit=Decimal(1000), name="wide")
    dead = [hold("1", budget) for _ in range(20)]
    for each in dead:
        ledger.reserve(each)
    expire_now(database, dead)
    for each in dead[::2]:
        answered(database, each.call_id, Decimal("0.5"))
    live = [hold("0.01", budget) for _ in range(60)]
    async with anyio.create_task_group() as group:
        for each in live:
            group.start_soon(database.run, ledger.reserve, each)
    spent, held = ledger.usage(budget.key("*"), PERIOD)
    assert spent == Decimal("5") and held == Decimal("0.60")
    with database.read() as conn:
        statuses = conn.execute(select(reservations.c.status, reservations.c.call_id)).all()
    assert sorted(s for s, c in statuses if c in {h.call_id for h in dead}) == ["expired"] * 10 + ["settled"] * 10


# -- a real process, killed mid-call -----------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import faulthandler, signal, sys, anyio
    from decimal import Decimal
    from ai_core.app import AI
    from ai_core.budgets import Budget
    from ai_core.pipeline.middleware import Middleware

    class Hang(Middleware):
        name, order, unary_only = "hang", 900, True
        async def __call__(self, call, call_next):
            if sys.argv[2] == "answered":  # the provider answered and the runner recorded it
                await call_next(call)
            print("in flight", flush=True)
            await anyio.sleep_forever()

    faulthandler.register(signal.SIGUSR1, all_threads=True)  # stacks, if the test finds it hung

    async def main():
        budget = Budget(limit=Decimal("0.01"), name="team")
        async with AI(database_url=sys.argv[1], budgets=[budget], middleware=[Hang()]) as ai:
            await ai.conversation("fake/echo").max_tokens(4000).user("hello").asend()

    anyio.run(main)
    """
)


@pytest.mark.parametrize(
    ("sig", "when"),
    [
        (signal.SIGKILL, "waiting"),
        (signal.SIGTERM, "waiting"),
        (signal.SIGINT, "waiting"),
        (signal.SIGKILL, "answered"),
    ],
    ids=["KILL", "TERM", "INT", "KILL-after-answer"],
)
def test_a_hold_never_outlives_a_killed_process(database_url: str, sig: signal.Signals, when: str) -> None:
    from ai_core.app import AI

    budget = Budget(limit=Decimal("0.01"), name="team")
    env = {**os.environ, "AI_BUDGET_HOLD_LEASE": "0.5"}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, database_url, when], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    try:
        assert child.stdout is not None and child.stderr is not None
        line = child.stdout.readline()
        assert line.strip() == b"in flight", child.stderr.read()
    finally:
        child.send_signal(sig)
        exit_or_stacks(child, sig.name)
    with AI(database_url=database_url, budgets=[budget]) as ai:
        database = ai.services.database
        ledger = SQLBudgetLedger(database)
        with database.read() as conn:
            (status, amount, expires, call_id) = conn.execute(
                select(reservations.c.status, reservations.c.amount, reservations.c.expires_at, reservations.c.call_id)
            ).one()
            messages = table_of(StoredMessage)
            recorded = conn.execute(select(messages.c.cost).where(messages.c.call_id == call_id)).scalars().all()
        assert amount > Decimal("0.006")  # 4000 output tokens at $1.50 per million
        assert len(recorded) == (1 if when == "answered" else 0)  # the ledger row names the hold's call
        if sig == signal.SIGINT:  # Ctrl-C cancels the call: its hold is released on the way out
            assert status == "released" and ledger.usage(KEY, PERIOD) == (0, 0)
        else:  # killed outright: the hold stays until its lease runs out, then the next admission closes it
            assert status == "held" and ledger.usage(KEY, PERIOD) == (0, amount)
            deadline = expires if expires.tzinfo else expires.replace(tzinfo=UTC)
            while datetime.now(UTC) <= deadline:  # wait out the lease (half a second); nothing is timed
                time.sleep(0.05)
        reply = ai.conversation("fake/echo").max_tokens(4000).user("after the crash").send()
        charged = sum(recorded, Decimal(0))  # an answered call is charged what the ledger recorded
        assert ledger.usage(KEY, PERIOD) == (charged + reply.cost.total, 0)
        with database.read() as conn:
            statuses = sorted(conn.execute(select(reservations.c.status)).scalars())
        first = {"answered": "settled", "waiting": "released" if sig == signal.SIGINT else "expired"}[when]
        assert statuses == sorted([first, "settled"])
