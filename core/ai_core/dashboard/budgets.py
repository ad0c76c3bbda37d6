"""The budgets page: each budget counter of its current period, with its limit and forecast.

Counters live in ``ai_budget_counters`` under a key
``"{label}|{scope}={value}|{period}|{currency}"`` (:meth:`Budget.key`); the
limits live in the configuration (``budgets`` in the config file or
``AI_BUDGETS``). A counter whose budget is no longer configured is still shown,
with no limit. The forecast is linear: what was spent so far, spread over the
part of the period that has passed, carried to the period's end.

A tenant-scoped viewer sees only the counters of budgets scoped to its tenant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from ai_core.budgets.model import Budget
from ai_core.budgets.tables import BudgetCounter, BudgetThresholdMark
from ai_core.storage.base import table_of

if TYPE_CHECKING:
    from ai_core.storage.database import Database

__all__ = ["CounterKey", "budgets_report", "parse_key", "period_bounds"]

_counters = table_of(BudgetCounter)
_marks = table_of(BudgetThresholdMark)
_PERIODS = ("daily", "weekly", "monthly", "yearly")
_FORECAST = Decimal("0.0001")


@dataclass(frozen=True)
class CounterKey:
    label: str
    scope: str
    target: str
    period: str
    currency: str


def parse_key(key: str) -> CounterKey | None:
    """The parts of a counter key, or None for a key of another shape."""
    parts = key.rsplit("|", 3)
    if len(parts) != 4:
        return None
    label, scoped, period, currency = parts
    scope, equals, target = scoped.partition("=")
    if not equals or period not in _PERIODS:
        return None
    return CounterKey(label, scope, target, period, currency)


def period_bounds(period: str, now: datetime) -> tuple[date, date]:
    """The first day of the period ``now`` falls in, and the first day of the next."""
    day = now.astimezone(UTC).date()
    if period == "daily":
        return day, day + timedelta(days=1)
    if period == "weekly":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    if period == "monthly":
        start = day.replace(day=1)
        return start, (start + timedelta(days=32)).replace(day=1)
    start = day.replace(month=1, day=1)
    return start, start.replace(year=start.year + 1)


def _configured(budgets: Sequence[Budget], key: CounterKey) -> Budget | None:
    for budget in budgets:
        if (
            budget.label == key.label
            and budget.scope == key.scope
            and budget.period == key.period
            and budget.currency == key.currency
        ):
            return budget
    return None


def budgets_report(
    database: Database, budgets: Sequence[Budget], *, tenant: str | None = None, now: datetime | None = None
) -> list[dict[str, Any]]:
    """One row per counter of a current period: limit, spent, held, thresholds crossed, forecast."""
    now = now or datetime.now(UTC)
    starts = {period: period_bounds(period, now) for period in _PERIODS}
    with database.read() as conn:
        counters = (
            conn.execute(select(_counters).where(_counters.c.period_start.in_({start for start, _ in starts.values()})))
            .mappings()
            .all()
        )
        rows = []
        for counter in counters:
            key = parse_key(counter["budget_key"])
            if key is None or starts[key.period][0] != counter["period_start"]:
                continue
            if tenant is not None and not (key.scope == "tenant" and key.target == tenant):
                continue
            rows.append((key, counter))
        marks: dict[str, list[str]] = {}
        if rows:
            for mark in conn.execute(
                select(_marks.c.budget_key, _marks.c.period_start, _marks.c.threshold).where(
                    _marks.c.budget_key.in_([counter["budget_key"] for _, counter in rows])
                )
            ):
                marks.setdefault(f"{mark.budget_key}@{mark.period_start}", []).append(mark.threshold)
    report = []
    for key, counter in rows:
        start, end = starts[key.period]
        budget = _configured(budgets, key)
        spent: Decimal = counter["spent"] or Decimal(0)
        held: Decimal = counter["reserved"] or Decimal(0)
        begun = datetime.combine(start, time.min, tzinfo=UTC)
        length = (datetime.combine(end, time.min, tzinfo=UTC) - begun).total_seconds()
        elapsed = max((now - begun).total_seconds(), 1.0)
        # A projection, not a ledger figure: kept to a hundredth of a cent.
        forecast = (spent * Decimal(length) / Decimal(elapsed) if elapsed < length else spent).quantize(_FORECAST)
        limit = budget.limit if budget is not None else None
        report.append(
            {
                "budget": key.label,
                "scope": key.scope,
                "target": key.target,
                "period": key.period,
                "period_start": start,
                "period_end": end - timedelta(days=1),
                "currency": key.currency,
                "limit": limit,
                "spent": spent,
                "held": held,
                "remaining": None if limit is None else limit - spent - held,
                "used": None if limit is None else float(spent / limit),
                "thresholds_crossed": sorted(
                    marks.get(f"{counter['budget_key']}@{counter['period_start']}", []), key=Decimal
                ),
                "forecast": forecast,
                "forecast_over": limit is not None and forecast > limit,
                "hard": budget.hard if budget is not None else None,
            }
        )
    report.sort(key=lambda r: (r["budget"], r["target"]))
    return report
