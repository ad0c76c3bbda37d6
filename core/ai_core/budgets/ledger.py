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
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import and_, bindparam, insert, or_, select, update

from ai_core.budgets.model import Budget, plain_money
from ai_core.budgets.tables import BudgetCounter, BudgetReservation, BudgetThresholdMark
from ai_core.errors import BudgetExceededError
from ai_core.storage.base import table_of
from ai_core.storage.columns import utcnow
from ai_core.storage.fastsql import Prepared
from ai_core.storage.money import Money, money_add, quantize_money
from ai_core.storage.sql import dialect_insert_for

if TYPE_CHECKING:
    from ai_core.storage.database import Database
    from ai_core.storage.fastsql import RawTransaction

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
    call_id: str | None = None
    """The call that cost more than it held (another's, for a hold closed at admission)."""

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


def _overshoot(line: HoldLine, spent: Decimal, charged: Decimal, *, late: bool, call_id: str) -> Overshoot | None:
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
            call_id,
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
#
# Statements compiled once per dialect and run on the raw DB-API cursor
# (ai_core.storage.fastsql): a budgeted call costs two short transactions, and
# on SQLite they join the conversation store's group commit.

_c, _r = _counters.c, _reservations.c


def _insert_ignore(table: Any, returning: Any = None) -> Prepared:
    def build(dialect: str) -> Any:
        columns = {
            c.name: bindparam(c.name, type_=c.type) for c in table.columns if c is not table.autoincrement_column
        }
        statement = dialect_insert_for(dialect, table).values(columns).on_conflict_do_nothing()
        return statement if returning is None else statement.returning(returning)

    return Prepared(build)


_LOCK = Prepared(
    select(_c.spent, _c.reserved)
    .where(_c.budget_key == bindparam("key"), _c.period_start == bindparam("period"))
    .with_for_update()
)
_NEW_COUNTER = _insert_ignore(_counters)
_ADD_BASE = (
    update(_counters)
    .where(_c.budget_key == bindparam("key"), _c.period_start == bindparam("period"))
    .values(
        spent=money_add(_c.spent, bindparam("add_spent", type_=Money())),
        reserved=money_add(_c.reserved, bindparam("add_held", type_=Money())),
        updated_at=bindparam("now", type_=_c.updated_at.type),
    )
)
_ADD = Prepared(_ADD_BASE)
_ADD_RETURNING = Prepared(_ADD_BASE.returning(_c.spent))
_INSERT_HOLD = Prepared(insert(_reservations).values({c.name: bindparam(c.name, type_=c.type) for c in _r}))
_CLAIM = Prepared(
    update(_reservations)
    .where(
        _r.call_id == bindparam("call"),
        _r.budget_key == bindparam("key"),
        _r.period_start == bindparam("period"),
        _r.status == bindparam("was"),
    )
    .values(
        status=bindparam("new_status", type_=_r.status.type),
        actual=bindparam("charged", type_=Money()),
        closed_at=bindparam("now", type_=_r.closed_at.type),
    )
    .returning(_r.id)
)
_STALE = Prepared(
    select(_r.call_id, _r.budget_key, _r.period_start, _r.amount).where(
        _r.status == bindparam("held_status"),
        or_(_r.expires_at < bindparam("now"), and_(_r.expires_at.is_(None), _r.created_at < bindparam("cut"))),
    )
)
_NEW_MARK = _insert_ignore(_marks, returning=_marks.c.threshold)


def _recorded_statement() -> Prepared:
    from ai_core.storage.conversation_tables import StoredMessage

    messages = table_of(StoredMessage).c
    return Prepared(
        select(messages.cost, messages.cost_known).where(
            messages.call_id == bindparam("call"), messages.billable == bindparam("billable")
        )
    )


_RECORDED: list[Prepared] = []


def _money(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


class SQLBudgetLedger:
    """The ledger on a :class:`~ai_core.storage.database.Database`.

    Each action exists twice: ``reserve_in(tx, ...)`` and friends run inside a
    write transaction someone else opened (the middleware hands them to
    :meth:`Database.write_job`), and ``reserve(...)`` and friends open their own.
    """

    def __init__(self, database: Database) -> None:
        self.database = database

    # -- counters --

    @staticmethod
    def _lock(tx: RawTransaction, counters: Iterable[tuple[Counter, str]]) -> dict[Counter, tuple[Decimal, Decimal]]:
        """Lock (creating if needed) each counter, in key order; their ``(spent, held)``."""
        state: dict[Counter, tuple[Decimal, Decimal]] = {}
        for (key, period), currency in sorted(set(counters)):
            if (key, period) in state:
                continue
            where = {"key": key, "period": period}
            rows = tx.returned(_LOCK, where)
            if not rows:
                zero = Decimal(0)
                tx.execute(_NEW_COUNTER, {
                    "budget_key": key, "period_start": period, "currency": currency, "spent": zero, "reserved": zero,
                    "updated_at": utcnow(),
                })  # fmt: skip
                rows = tx.returned(_LOCK, where)
            spent, held = rows[0]
            state[key, period] = (_money(spent), _money(held))
        return state

    @staticmethod
    def _add(tx: RawTransaction, counter: Counter, *, spent: Decimal, held: Decimal, now: datetime) -> Decimal | None:
        """Add to a (locked) counter; its new ``spent`` when something was spent."""
        values = {"key": counter[0], "period": counter[1], "add_spent": spent, "add_held": held, "now": now}
        if not spent:
            tx.execute(_ADD, values)
            return None
        return _money(tx.returned(_ADD_RETURNING, values)[0][0])

    @staticmethod
    def _claim(
        tx: RawTransaction,
        call_id: str,
        counter: Counter,
        *,
        was: str,
        status: str,
        actual: Decimal | None,
        now: datetime,
    ) -> bool:
        """Move one reservation row from ``was`` to ``status``; False if another closer got it first."""
        values = {
            "call": call_id, "key": counter[0], "period": counter[1], "was": was, "new_status": status,
            "charged": actual, "now": now,
        }  # fmt: skip
        return bool(tx.returned(_CLAIM, values))

    @staticmethod
    def _thresholds(tx: RawTransaction, line: HoldLine, spent: Decimal, report: LedgerReport) -> None:
        for threshold in _crossed(line, spent):
            created = tx.returned(_NEW_MARK, {
                "budget_key": line.key, "period_start": line.period_start, "threshold": str(threshold),
                "spent": spent, "reached_at": utcnow(),
            })  # fmt: skip
            if created:
                hit = ThresholdHit(line.budget, line.key, line.period_start, threshold, plain_money(spent))
                report.hits.append(hit)

    # -- expired holds --

    @staticmethod
    def _stale(tx: RawTransaction, now: datetime, lease: float) -> list[tuple[str, Counter, Decimal]]:
        """Held reservations past their lease: ``(call_id, counter, amount)``."""
        rows = tx.returned(_STALE, {"held_status": "held", "now": now, "cut": now - timedelta(seconds=lease)})
        return [(call_id, (key, _day(period)), _money(amount)) for call_id, key, period, amount in rows]

    @staticmethod
    def _recorded(tx: RawTransaction, call_id: str) -> tuple[bool, Decimal | None]:
        """Whether the message ledger shows ``call_id`` answered, and what it cost (None: unknown)."""
        if not _RECORDED:
            _RECORDED.append(_recorded_statement())
        rows = tx.returned(_RECORDED[0], {"call": call_id, "billable": True})
        if not rows:
            return False, None
        if any(cost is None or not known for cost, known in rows):
            return True, None
        return True, sum((_money(cost) for cost, _ in rows), Decimal(0))

    def _close_stale(
        self,
        tx: RawTransaction,
        stale: list[tuple[str, Counter, Decimal]],
        now: datetime,
        lines: dict[Counter, HoldLine],
    ) -> tuple[LedgerReport, int]:
        """Close expired holds on locked counters: a call the message ledger
        shows answered is charged what it recorded (the hold, if its price was
        unknown), any other is released. The report, and how many were closed."""
        report, closed = LedgerReport(), 0
        for call_id, counter, amount in stale:
            answered, recorded = self._recorded(tx, call_id)
            charge = quantize_money(amount if recorded is None else recorded) if answered else None
            status = "settled" if answered else "expired"
            if not self._claim(tx, call_id, counter, was="held", status=status, actual=charge, now=now):
                continue
            closed += 1
            spent = self._add(tx, counter, spent=charge or Decimal(0), held=-amount, now=now)
            line = lines.get(counter)
            if line is not None and charge is not None and spent is not None:
                self._thresholds(tx, line, spent, report)
                over = _overshoot(replace(line, amount=amount), spent, charge, late=False, call_id=call_id)
                if over is not None:
                    report.overshoots.append(over)
        return report, closed

    def expire_in(self, tx: RawTransaction, now: datetime | None = None, *, lease: float = DEFAULT_LEASE) -> int:
        moment = now or utcnow()
        stale = self._stale(tx, moment, lease)
        if not stale:
            return 0
        self._lock(tx, [(counter, counter[0].rsplit("|", 1)[-1]) for _, counter, _ in stale])
        stale = self._stale(tx, moment, lease)  # again, under the locks
        return self._close_stale(tx, stale, moment, {})[1]

    # -- the ledger, inside a transaction --

    def reserve_in(self, tx: RawTransaction, hold: Hold, *, lease: float = DEFAULT_LEASE) -> LedgerReport:
        lines = _unique(hold.lines)
        now = utcnow()
        counters = [(line.counter, line.budget.currency) for line in lines]
        state = self._lock(tx, counters)
        stale = [item for item in self._stale(tx, now, lease) if item[1] in state]
        report, closed = self._close_stale(tx, stale, now, {line.counter: line for line in lines})
        if closed:
            state = self._lock(tx, counters)
        hold.lines = lines
        hold.lines = _admit(hold, state)
        expires = now + timedelta(seconds=lease)
        for line in hold.lines:
            self._add(tx, line.counter, spent=Decimal(0), held=line.amount, now=now)
        tx.executemany(_INSERT_HOLD, [
            {"id": _new_id(), "call_id": hold.call_id, "budget_key": line.key, "period_start": line.period_start,
             "amount": line.amount, "actual": None, "status": "held", "created_at": now, "expires_at": expires,
             "closed_at": None}
            for line in hold.lines
        ])  # fmt: skip
        return report

    def settle_in(self, tx: RawTransaction, hold: Hold, actual: Decimal | None) -> LedgerReport:
        report = LedgerReport()
        now = utcnow()
        self._lock(tx, [(line.counter, line.budget.currency) for line in hold.lines])
        for line in hold.lines:
            charge = line.charge(actual)
            if self._claim(tx, hold.call_id, line.counter, was="held", status="settled", actual=charge, now=now):
                late, held = False, -line.amount
            elif self._claim(tx, hold.call_id, line.counter, was="expired", status="settled", actual=charge, now=now):
                late, held = True, Decimal(0)  # released by an admission that took this call for dead
            else:
                continue  # already charged from the message ledger when its lease ran out
            spent = self._add(tx, line.counter, spent=charge, held=held, now=now)
            if spent is None:  # a free call: nothing to report
                continue
            self._thresholds(tx, line, spent, report)
            over = _overshoot(line, spent, charge, late=late, call_id=hold.call_id)
            if over is not None:
                report.overshoots.append(over)
        return report

    def release_in(self, tx: RawTransaction, hold: Hold) -> None:
        now = utcnow()
        self._lock(tx, [(line.counter, line.budget.currency) for line in hold.lines])
        for line in hold.lines:
            if self._claim(tx, hold.call_id, line.counter, was="held", status="released", actual=None, now=now):
                self._add(tx, line.counter, spent=Decimal(0), held=-line.amount, now=now)

    # -- the ledger, in transactions of its own --

    def reserve(self, hold: Hold, *, lease: float = DEFAULT_LEASE) -> LedgerReport:
        with self.database.raw_write() as tx:
            return self.reserve_in(tx, hold, lease=lease)

    def settle(self, hold: Hold, actual: Decimal | None) -> LedgerReport:
        with self.database.raw_write() as tx:
            return self.settle_in(tx, hold, actual)

    def release(self, hold: Hold) -> None:
        with self.database.raw_write() as tx:
            self.release_in(tx, hold)

    def expire(self, now: datetime | None = None, *, lease: float = DEFAULT_LEASE) -> int:
        """Close every hold past its lease, on every counter; how many were closed."""
        with self.database.raw_write() as tx:
            return self.expire_in(tx, now, lease=lease)

    def usage(self, key: str, period_start: date) -> tuple[Decimal, Decimal]:
        with self.database.read() as conn:
            row = conn.execute(
                select(_c.spent, _c.reserved).where(_c.budget_key == key, _c.period_start == period_start)
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
                over = _overshoot(line, row[0], charge, late=False, call_id=hold.call_id)
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
