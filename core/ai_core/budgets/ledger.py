"""Where budget counters live: the database, or memory when persistence is off.

Both ledgers give the same guarantees within their reach: a reservation
checks ``spent + reserved + amount <= limit`` and adds ``amount`` atomically
(a row lock on PostgreSQL, the writer lock on SQLite, a mutex in memory), so
concurrent requests cannot overshoot a hard limit; settling moves the held
amount to ``spent`` at the real cost; a threshold mark is written once per
budget, period and threshold, and only the writer that created it reports it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import select, update

from ai_core.budgets.model import Budget
from ai_core.budgets.tables import BudgetCounter, BudgetReservation, BudgetThresholdMark
from ai_core.errors import BudgetExceededError
from ai_core.pipeline.store import new_id
from ai_core.storage.base import table_of
from ai_core.storage.columns import utcnow
from ai_core.storage.money import money_add, quantize_money
from ai_core.storage.sql import insert_ignore

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from ai_core.storage.database import Database

__all__ = ["BudgetLedger", "Hold", "HoldLine", "MemoryBudgetLedger", "SQLBudgetLedger", "ThresholdHit"]

_counters = table_of(BudgetCounter)
_reservations = table_of(BudgetReservation)
_marks = table_of(BudgetThresholdMark)


@dataclass(frozen=True)
class HoldLine:
    """One budget counter one call touches, and what it holds there."""

    budget: Budget
    key: str
    period_start: date
    amount: Decimal
    if_unknown: Decimal
    """What the call is charged if its real cost turns out unknown: never zero."""

    def charge(self, actual: Decimal | None) -> Decimal:
        return quantize_money(self.if_unknown if actual is None else actual)


@dataclass
class Hold:
    call_id: str
    lines: list[HoldLine] = field(default_factory=list)


@dataclass(frozen=True)
class ThresholdHit:
    budget: Budget
    key: str
    period_start: date
    threshold: Decimal
    spent: Decimal


class BudgetLedger(Protocol):
    def reserve(self, hold: Hold) -> None:
        """Hold every line or none; raise BudgetExceededError if a hard limit would be passed."""

    def settle(self, hold: Hold, actual: Decimal | None) -> list[ThresholdHit]:
        """Charge ``actual`` (None: unknown) to every line's counter, drop the holds; report new thresholds."""

    def release(self, hold: Hold) -> None:
        """Drop the holds without charging anything."""

    def usage(self, key: str, period_start: date) -> tuple[Decimal, Decimal]:
        """``(spent, reserved)`` of one counter."""


def _refuse(line: HoldLine, spent: Decimal, reserved: Decimal) -> None:
    if line.budget.hard and spent + reserved + line.amount > line.budget.limit:
        raise BudgetExceededError(
            line.budget.label, limit=line.budget.limit, spent=spent + reserved, requested=line.amount,
            currency=line.budget.currency,
        )


def _crossed(line: HoldLine, after: Decimal) -> list[Decimal]:
    return [t for t in line.budget.thresholds if after >= t * line.budget.limit]


class SQLBudgetLedger:
    def __init__(self, database: Database) -> None:
        self.database = database

    def _counter(self, conn: Connection, line: HoldLine, *, lock: bool) -> tuple[Decimal, Decimal]:
        insert_ignore(conn, _counters, {
            "budget_key": line.key, "period_start": line.period_start, "currency": line.budget.currency,
            "spent": Decimal(0), "reserved": Decimal(0), "updated_at": utcnow(),
        })
        query = select(_counters.c.spent, _counters.c.reserved).where(
            _counters.c.budget_key == line.key, _counters.c.period_start == line.period_start
        )
        row = conn.execute(query.with_for_update() if lock else query).one()
        return row.spent, row.reserved

    def reserve(self, hold: Hold) -> None:
        lines = sorted(hold.lines, key=lambda line: line.key)  # one lock order: no deadlocks
        now = utcnow()
        with self.database.write() as conn:
            for line in lines:
                spent, reserved = self._counter(conn, line, lock=True)
                _refuse(line, spent, reserved)
                conn.execute(
                    update(_counters)
                    .where(_counters.c.budget_key == line.key, _counters.c.period_start == line.period_start)
                    .values(reserved=money_add(_counters.c.reserved, line.amount), updated_at=now)
                )
                conn.execute(_reservations.insert(), {
                    "id": new_id(), "call_id": hold.call_id, "budget_key": line.key,
                    "period_start": line.period_start, "amount": line.amount, "status": "held", "created_at": now,
                })

    def _close(self, conn: Connection, hold: Hold, line: HoldLine, status: str, actual: Decimal | None) -> Decimal:
        now = utcnow()
        self._counter(conn, line, lock=False)
        spent = conn.execute(
            update(_counters)
            .where(_counters.c.budget_key == line.key, _counters.c.period_start == line.period_start)
            .values(
                spent=money_add(_counters.c.spent, actual or Decimal(0)),
                reserved=money_add(_counters.c.reserved, -line.amount),
                updated_at=now,
            )
            .returning(_counters.c.spent)
        ).scalar_one()
        conn.execute(
            update(_reservations)
            .where(_reservations.c.call_id == hold.call_id, _reservations.c.budget_key == line.key,
                   _reservations.c.status == "held")
            .values(status=status, actual=actual, closed_at=now)
        )
        return Decimal(spent)

    def settle(self, hold: Hold, actual: Decimal | None) -> list[ThresholdHit]:
        hits: list[ThresholdHit] = []
        with self.database.write() as conn:
            for line in sorted(hold.lines, key=lambda line: line.key):
                amount = line.charge(actual)
                spent = self._close(conn, hold, line, "settled", amount)
                for threshold in _crossed(line, spent):
                    created = insert_ignore(conn, _marks, {
                        "budget_key": line.key, "period_start": line.period_start, "threshold": str(threshold),
                        "spent": spent, "reached_at": utcnow(),
                    })
                    if created:
                        hits.append(ThresholdHit(line.budget, line.key, line.period_start, threshold, spent))
        return hits

    def release(self, hold: Hold) -> None:
        with self.database.write() as conn:
            for line in sorted(hold.lines, key=lambda line: line.key):
                self._close(conn, hold, line, "released", None)

    def usage(self, key: str, period_start: date) -> tuple[Decimal, Decimal]:
        with self.database.read() as conn:
            row = conn.execute(
                select(_counters.c.spent, _counters.c.reserved).where(
                    _counters.c.budget_key == key, _counters.c.period_start == period_start
                )
            ).first()
        return (row.spent, row.reserved) if row else (Decimal(0), Decimal(0))


class MemoryBudgetLedger:
    """The same rules in this process only, for ``AI(persistence=False)``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, date], list[Decimal]] = {}
        self._marks: set[tuple[str, date, Decimal]] = set()

    def _row(self, line: HoldLine) -> list[Decimal]:
        return self._counters.setdefault((line.key, line.period_start), [Decimal(0), Decimal(0)])

    def reserve(self, hold: Hold) -> None:
        with self._lock:
            for line in hold.lines:
                spent, reserved = self._row(line)
                _refuse(line, spent, reserved)
            for line in hold.lines:
                self._row(line)[1] += line.amount

    def settle(self, hold: Hold, actual: Decimal | None) -> list[ThresholdHit]:
        hits = []
        with self._lock:
            for line in hold.lines:
                amount = line.charge(actual)
                row = self._row(line)
                row[0] += amount
                row[1] -= line.amount
                for threshold in _crossed(line, row[0]):
                    mark = (line.key, line.period_start, threshold)
                    if mark not in self._marks:
                        self._marks.add(mark)
                        hits.append(ThresholdHit(line.budget, line.key, line.period_start, threshold, row[0]))
        return hits

    def release(self, hold: Hold) -> None:
        with self._lock:
            for line in hold.lines:
                self._row(line)[1] -= line.amount

    def usage(self, key: str, period_start: date) -> tuple[Decimal, Decimal]:
        with self._lock:
            spent, reserved = self._counters.get((key, period_start), [Decimal(0), Decimal(0)])
            return spent, reserved
