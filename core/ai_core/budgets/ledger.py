"""Where budget counters live: the database, or memory when persistence is off.

Both ledgers give the same guarantees within their reach:

* **Admission** checks ``spent + held + amount <= limit`` for every hard
  budget and holds ``amount`` atomically (row locks on PostgreSQL, the writer
  lock on SQLite, a mutex in memory), so concurrent calls cannot pass a hard
  limit on their reservations. A hold that does not fit may be shrunk to the
  room left (the call's output is then capped), else the call is refused,
  naming the tightest budget.
* **Closing** a hold is exactly-once: the reservation row is claimed by a
  conditional update, so a settle, a release and an expiry racing for it
  cannot both count it.
* **Leases**: a hold carries ``expires_at``. Admission first closes the
  expired holds of the counters it touches (a process that died mid-call
  never locks a budget for the rest of its period): a call the message
  ledger shows answered is charged what the ledger recorded, any other is
  released. :func:`expire_stale_holds` does the same for all counters.
* **Overshoot**: a provider that runs past ``max_tokens`` costs more than its
  hold; the excess is charged, reported (:class:`Overshoot`), and every later
  admission is refused while the budget is over. The excess is bounded by the
  holds in flight when it happens.

Every transaction locks counters first, in key order, then reservation rows:
one lock order, so no deadlocks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import and_, or_, select, update

from ai_core.budgets.model import Budget, plain_money
from ai_core.budgets.tables import BudgetCounter, BudgetReservation, BudgetThresholdMark
from ai_core.errors import BudgetExceededError
from ai_core.storage.base import table_of
from ai_core.storage.columns import utcnow
from ai_core.storage.money import money_add, quantize_money
from ai_core.storage.sql import insert_ignore

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from ai_core.storage.database import Database

__all__ = [
    "DEFAULT_LEASE",
    "BudgetLedger",
    "Hold",
    "HoldLine",
    "LedgerReport",
    "MemoryBudgetLedger",
    "Overshoot",
    "SQLBudgetLedger",
    "ThresholdHit",
    "expire_stale_holds",
]

DEFAULT_LEASE = 900.0
"""Seconds a hold lives without its call closing it (``Settings.budget_hold_lease``)."""

_counters = table_of(BudgetCounter)
_reservations = table_of(BudgetReservation)
_marks = table_of(BudgetThresholdMark)

Counter = tuple[str, date]
Fit = Callable[[Decimal], tuple[int, Decimal] | None]


@dataclass(frozen=True)
class HoldLine:
    """One budget counter one call touches, and what it holds there."""

    budget: Budget
    key: str
    period_start: date
    amount: Decimal
    if_unknown: Decimal
    """What the call is charged if its real cost turns out unknown: never zero."""

    @property
    def counter(self) -> Counter:
        return self.key, self.period_start

    def charge(self, actual: Decimal | None) -> Decimal:
        return quantize_money(self.if_unknown if actual is None else actual)

    def resized(self, amount: Decimal) -> HoldLine:
        """The line holding ``amount`` instead (a call whose output was capped)."""
        if_unknown = self.if_unknown if self.budget.unknown_cost == "count_as" else amount
        return replace(self, amount=amount, if_unknown=if_unknown)


@dataclass
class Hold:
    """What one model call holds, on every counter it touches."""

    call_id: str
    lines: list[HoldLine] = field(default_factory=list)
    fit: Fit | None = None
    """Given the room left, the largest output limit that fits and its worst
    case (None: nothing fits). Set when the call's output may be capped."""
    minimum: Decimal | None = None
    """The call's worst case with one output token: what its prompt alone needs."""
    output_tokens: int | None = None
    """Set by admission when it shrank the hold to fit: the output limit to send."""


@dataclass(frozen=True)
class ThresholdHit:
    budget: Budget
    key: str
    period_start: date
    threshold: Decimal
    spent: Decimal


@dataclass(frozen=True)
class Overshoot:
    """A hard budget passed its limit: a call cost more than it held (a
    provider ran past ``max_tokens``), or a call outlived its hold's lease."""

    budget: Budget
    key: str
    period_start: date
    spent: Decimal
    charged: Decimal
    held: Decimal
    late: bool = False
    """The call's hold had expired (its lease ran out) before it was settled."""

    @property
    def over_by(self) -> Decimal:
        return plain_money(self.spent - self.budget.limit)


@dataclass
class LedgerReport:
    """What closing holds caused: thresholds newly reached, hard limits passed."""

    hits: list[ThresholdHit] = field(default_factory=list)
    overshoots: list[Overshoot] = field(default_factory=list)

    def extend(self, other: LedgerReport) -> None:
        self.hits += other.hits
        self.overshoots += other.overshoots

    def __bool__(self) -> bool:
        return bool(self.hits or self.overshoots)


class BudgetLedger(Protocol):
    def reserve(self, hold: Hold, *, lease: float = DEFAULT_LEASE) -> LedgerReport:
        """Hold every line or none (shrinking the hold to fit when it can);
        raise BudgetExceededError if a hard limit would be passed. The report
        covers expired holds closed on the way."""

    def settle(self, hold: Hold, actual: Decimal | None) -> LedgerReport:
        """Charge ``actual`` (None: unknown) to every line's counter and drop the holds."""

    def release(self, hold: Hold) -> None:
        """Drop the holds without charging anything."""

    def usage(self, key: str, period_start: date) -> tuple[Decimal, Decimal]:
        """``(spent, held)`` of one counter."""


# -- rules both ledgers share ------------------------------------------------------


def _admit(hold: Hold, state: dict[Counter, tuple[Decimal, Decimal]]) -> list[HoldLine]:
    """The lines to hold: as asked, or shrunk to the tightest room; else refuse."""
    failing = []
    for line in hold.lines:
        if not line.budget.hard:
            continue
        spent, held = state[line.counter]
        room = line.budget.limit - spent - held
        if line.amount > room:
            failing.append((room, line, spent, held))
    if not failing:
        return hold.lines
    room, line, spent, held = min(failing, key=lambda item: item[0])
    if hold.fit is not None:
        fitted = hold.fit(room) if room > 0 else None
        if fitted is not None:
            hold.output_tokens, amount = fitted
            return [each.resized(amount) for each in hold.lines]
        raise BudgetExceededError(
            line.budget.label,
            limit=line.budget.limit,
            spent=spent,
            held=held,
            requested=hold.minimum if hold.minimum is not None else line.amount,
            currency=line.budget.currency,
            minimum=hold.minimum is not None,
        )
    raise BudgetExceededError(
        line.budget.label,
        limit=line.budget.limit,
        spent=spent,
        held=held,
        requested=line.amount,
        currency=line.budget.currency,
    )


def _crossed(line: HoldLine, after: Decimal) -> list[Decimal]:
    return [t for t in line.budget.thresholds if after >= t * line.budget.limit]


def _overshoot(line: HoldLine, spent: Decimal, charged: Decimal, *, late: bool) -> Overshoot | None:
    budget = line.budget
    if budget.hard and spent > budget.limit and (late or charged > line.amount):
        return Overshoot(
            budget,
            line.key,
            line.period_start,
            plain_money(spent),
            plain_money(charged),
            plain_money(line.amount),
            late,
        )
    return None


def _unique(lines: Iterable[HoldLine]) -> list[HoldLine]:
    """One line per counter, in lock order (two budgets with one name, scope
    and period share a counter: the tighter one speaks for it)."""
    chosen: dict[Counter, HoldLine] = {}
    for line in lines:
        current = chosen.get(line.counter)
        if current is None or (line.budget.hard, -line.budget.limit) > (current.budget.hard, -current.budget.limit):
            chosen[line.counter] = line
    return [chosen[counter] for counter in sorted(chosen)]


# -- in the database -----------------------------------------------------------------


class SQLBudgetLedger:
    def __init__(self, database: Database) -> None:
        self.database = database

    # -- counters --

    @staticmethod
    def _lock(conn: Connection, counters: Iterable[tuple[Counter, str]]) -> dict[Counter, tuple[Decimal, Decimal]]:
        """Lock (creating if needed) each counter, in key order; their ``(spent, held)``."""
        state: dict[Counter, tuple[Decimal, Decimal]] = {}
        for (key, period), currency in sorted(counters):
            query = (
                select(_counters.c.spent, _counters.c.reserved)
                .where(_counters.c.budget_key == key, _counters.c.period_start == period)
                .with_for_update()
            )
            row = conn.execute(query).first()
            if row is None:
                insert_ignore(
                    conn,
                    _counters,
                    {
                        "budget_key": key,
                        "period_start": period,
                        "currency": currency,
                        "spent": Decimal(0),
                        "reserved": Decimal(0),
                        "updated_at": utcnow(),
                    },
                )
                row = conn.execute(query).one()
            state[key, period] = (row.spent, row.reserved)
        return state

    @staticmethod
    def _add(conn: Connection, counter: Counter, *, spent: Decimal, held: Decimal, now: datetime) -> Decimal:
        """Add to a (locked) counter; its new ``spent``."""
        key, period = counter
        values: dict[str, object] = {"updated_at": now}
        if spent:
            values["spent"] = money_add(_counters.c.spent, spent)
        if held:
            values["reserved"] = money_add(_counters.c.reserved, held)
        result = conn.execute(
            update(_counters)
            .where(_counters.c.budget_key == key, _counters.c.period_start == period)
            .values(**values)
            .returning(_counters.c.spent)
        ).scalar_one()
        return Decimal(result)

    @staticmethod
    def _claim(
        conn: Connection,
        call_id: str,
        counter: Counter,
        *,
        was: str,
        status: str,
        actual: Decimal | None,
        now: datetime,
    ) -> bool:
        """Move one reservation row from ``was`` to ``status``; False if another closer got it first."""
        key, period = counter
        result = conn.execute(
            update(_reservations)
            .where(
                _reservations.c.call_id == call_id,
                _reservations.c.budget_key == key,
                _reservations.c.period_start == period,
                _reservations.c.status == was,
            )
            .values(status=status, actual=actual, closed_at=now)
        )
        return bool(result.rowcount)

    def _thresholds(self, conn: Connection, line: HoldLine, spent: Decimal, report: LedgerReport) -> None:
        for threshold in _crossed(line, spent):
            created = insert_ignore(
                conn,
                _marks,
                {
                    "budget_key": line.key,
                    "period_start": line.period_start,
                    "threshold": str(threshold),
                    "spent": spent,
                    "reached_at": utcnow(),
                },
            )
            if created:
                report.hits.append(
                    ThresholdHit(line.budget, line.key, line.period_start, threshold, plain_money(spent))
                )

    # -- expired holds --

    @staticmethod
    def _stale(
        conn: Connection, now: datetime, lease: float, keys: Iterable[str] | None
    ) -> list[tuple[str, Counter, Decimal]]:
        """Held reservations past their lease: ``(call_id, counter, amount)``."""
        reservations = _reservations.c
        expired = or_(
            reservations.expires_at < now,
            and_(reservations.expires_at.is_(None), reservations.created_at < now - timedelta(seconds=lease)),
        )
        query = select(
            reservations.call_id, reservations.budget_key, reservations.period_start, reservations.amount
        ).where(reservations.status == "held", expired)
        if keys is not None:
            query = query.where(reservations.budget_key.in_(sorted(set(keys))))
        return [(row.call_id, (row.budget_key, row.period_start), row.amount) for row in conn.execute(query)]

    @staticmethod
    def _recorded(conn: Connection, call_ids: list[str]) -> dict[str, Decimal | None]:
        """What the message ledger recorded per answered call (None: an unknown cost)."""
        from ai_core.storage.conversation_tables import StoredMessage

        messages = table_of(StoredMessage)
        recorded: dict[str, Decimal | None] = {}
        query = select(messages.c.call_id, messages.c.cost, messages.c.cost_known).where(
            messages.c.call_id.in_(call_ids), messages.c.billable.is_(True)
        )
        for row in conn.execute(query):
            before = recorded.get(row.call_id, Decimal(0))
            if before is None or not row.cost_known or row.cost is None:
                recorded[row.call_id] = None
            else:
                recorded[row.call_id] = before + row.cost
        return recorded

    def _close_stale(
        self, conn: Connection, stale: list[tuple[str, Counter, Decimal]], now: datetime, lines: dict[Counter, HoldLine]
    ) -> tuple[LedgerReport, int]:
        """Close expired holds on locked counters: a call the message ledger
        shows answered is charged what it recorded (the hold, if its price was
        unknown), any other is released. The report, and how many were closed."""
        report, closed = LedgerReport(), 0
        if not stale:
            return report, closed
        recorded = self._recorded(conn, sorted({call_id for call_id, _, _ in stale}))
        for call_id, counter, amount in stale:
            charge: Decimal | None = None
            if call_id in recorded:
                value = recorded[call_id]
                charge = quantize_money(amount if value is None else value)
            status = "expired" if charge is None else "settled"
            if not self._claim(conn, call_id, counter, was="held", status=status, actual=charge, now=now):
                continue
            closed += 1
            spent = self._add(conn, counter, spent=charge or Decimal(0), held=-amount, now=now)
            line = lines.get(counter)
            if line is not None and charge is not None:
                self._thresholds(conn, line, spent, report)
                over = _overshoot(replace(line, amount=amount), spent, charge, late=False)
                if over is not None:
                    report.overshoots.append(over)
        return report, closed

    def expire(self, now: datetime | None = None, *, lease: float = DEFAULT_LEASE) -> int:
        """Close every hold past its lease, on every counter; how many were closed."""
        with self.database.write() as conn:
            moment = now or utcnow()
            stale = self._stale(conn, moment, lease, None)
            if not stale:
                return 0
            self._lock(conn, {(counter, counter[0].rsplit("|", 1)[-1]) for _, counter, _ in stale})
            _, closed = self._close_stale(conn, stale, moment, {})
        return closed

    # -- the ledger --

    def reserve(self, hold: Hold, *, lease: float = DEFAULT_LEASE) -> LedgerReport:
        lines = _unique(hold.lines)
        with self.database.write() as conn:
            now = utcnow()
            state = self._lock(conn, [(line.counter, line.budget.currency) for line in lines])
            stale = self._stale(conn, now, lease, [line.key for line in lines])
            stale = [item for item in stale if item[1] in state]
            report, _ = self._close_stale(conn, stale, now, {line.counter: line for line in lines})
            if stale:
                state = self._lock(conn, [(line.counter, line.budget.currency) for line in lines])
            hold.lines = lines
            hold.lines = _admit(hold, state)
            expires = now + timedelta(seconds=lease)
            for line in hold.lines:
                self._add(conn, line.counter, spent=Decimal(0), held=line.amount, now=now)
            conn.execute(
                _reservations.insert(),
                [
                    {
                        "id": _new_id(),
                        "call_id": hold.call_id,
                        "budget_key": line.key,
                        "period_start": line.period_start,
                        "amount": line.amount,
                        "status": "held",
                        "created_at": now,
                        "expires_at": expires,
                    }
                    for line in hold.lines
                ],
            )
        return report

    def settle(self, hold: Hold, actual: Decimal | None) -> LedgerReport:
        report = LedgerReport()
        with self.database.write() as conn:
            now = utcnow()
            self._lock(conn, [(line.counter, line.budget.currency) for line in hold.lines])
            for line in hold.lines:
                charge = line.charge(actual)
                if self._claim(conn, hold.call_id, line.counter, was="held", status="settled", actual=charge, now=now):
                    late, held = False, -line.amount
                elif self._claim(
                    conn, hold.call_id, line.counter, was="expired", status="settled", actual=charge, now=now
                ):
                    late, held = True, Decimal(0)  # released by an admission that took this call for dead
                else:
                    continue  # already charged from the message ledger when its lease ran out
                spent = self._add(conn, line.counter, spent=charge, held=held, now=now)
                self._thresholds(conn, line, spent, report)
                over = _overshoot(line, spent, charge, late=late)
                if over is not None:
                    report.overshoots.append(over)
        return report

    def release(self, hold: Hold) -> None:
        with self.database.write() as conn:
            now = utcnow()
            self._lock(conn, [(line.counter, line.budget.currency) for line in hold.lines])
            for line in hold.lines:
                if self._claim(conn, hold.call_id, line.counter, was="held", status="released", actual=None, now=now):
                    self._add(conn, line.counter, spent=Decimal(0), held=-line.amount, now=now)

    def usage(self, key: str, period_start: date) -> tuple[Decimal, Decimal]:
        with self.database.read() as conn:
            row = conn.execute(
                select(_counters.c.spent, _counters.c.reserved).where(
                    _counters.c.budget_key == key, _counters.c.period_start == period_start
                )
            ).first()
        return (row.spent, row.reserved) if row else (Decimal(0), Decimal(0))


def _new_id() -> str:
    from ai_core.pipeline.store import new_id

    return new_id()


def expire_stale_holds(database: Database, now: datetime | None = None, *, lease: float = DEFAULT_LEASE) -> int:
    """Close every budget hold whose lease ran out (left by a process that died
    mid-call): a call the message ledger shows answered is charged what it
    recorded, any other is released. Returns how many holds were closed.

    ``lease`` dates holds written before leases existed (no ``expires_at``)
    from their creation. Admission does the same for the counters it touches,
    so this is for housekeeping (``ai`` commands), never needed for correctness.
    """
    return SQLBudgetLedger(database).expire(now, lease=lease)


# -- in memory -----------------------------------------------------------------------


class MemoryBudgetLedger:
    """The same rules in this process only, for ``AI(persistence=False)``.

    Holds need no lease here: they end with the process that owns them.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[Counter, list[Decimal]] = {}
        self._marks: set[tuple[str, date, Decimal]] = set()
        self._open: dict[str, list[HoldLine]] = {}

    def _row(self, counter: Counter) -> list[Decimal]:
        return self._counters.setdefault(counter, [Decimal(0), Decimal(0)])

    def reserve(self, hold: Hold, *, lease: float = DEFAULT_LEASE) -> LedgerReport:
        hold.lines = _unique(hold.lines)
        with self._lock:
            state = {line.counter: (self._row(line.counter)[0], self._row(line.counter)[1]) for line in hold.lines}
            hold.lines = _admit(hold, state)
            for line in hold.lines:
                self._row(line.counter)[1] += line.amount
            self._open[hold.call_id] = hold.lines
        return LedgerReport()

    def settle(self, hold: Hold, actual: Decimal | None) -> LedgerReport:
        report = LedgerReport()
        with self._lock:
            for line in self._open.pop(hold.call_id, []):
                charge = line.charge(actual)
                row = self._row(line.counter)
                row[0] += charge
                row[1] -= line.amount
                for threshold in _crossed(line, row[0]):
                    mark = (line.key, line.period_start, threshold)
                    if mark not in self._marks:
                        self._marks.add(mark)
                        report.hits.append(
                            ThresholdHit(line.budget, line.key, line.period_start, threshold, plain_money(row[0]))
                        )
                over = _overshoot(line, row[0], charge, late=False)
                if over is not None:
                    report.overshoots.append(over)
        return report

    def release(self, hold: Hold) -> None:
        with self._lock:
            for line in self._open.pop(hold.call_id, []):
                self._row(line.counter)[1] -= line.amount

    def usage(self, key: str, period_start: date) -> tuple[Decimal, Decimal]:
        with self._lock:
            spent, held = self._counters.get((key, period_start), [Decimal(0), Decimal(0)])
            return spent, held
