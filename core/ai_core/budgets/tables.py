"""Budget state in the database, so every process sharing it shares the limits.

``ai_budget_counters`` holds, per budget and period, what was spent and what
in-flight requests have reserved; a reservation only succeeds if
``spent + reserved + amount <= limit`` under a row lock (PostgreSQL) or the
single writer lock (SQLite), so concurrent requests cannot overshoot.
``ai_budget_reservations`` records each hold with a lease (``expires_at``),
so a hold left by a crashed process is closed at the next admission: charged
what the message ledger recorded for its call (``call_id``), else released. ``ai_budget_threshold_marks`` makes each
threshold event fire once per period: the insert that wins emits it.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, DateTime, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ai_core.storage.base import Base
from ai_core.storage.columns import utcnow
from ai_core.storage.money import Money

__all__ = ["BudgetCounter", "BudgetReservation", "BudgetThresholdMark"]


class BudgetCounter(Base):
    __tablename__ = "ai_budget_counters"
    __table_args__ = (UniqueConstraint("budget_key", "period_start"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    budget_key: Mapped[str] = mapped_column(String(512))
    period_start: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(8), default="USD")
    spent: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    reserved: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BudgetReservation(Base):
    __tablename__ = "ai_budget_reservations"
    __table_args__ = (Index(None, "status", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    call_id: Mapped[str] = mapped_column(String(32), index=True)
    budget_key: Mapped[str] = mapped_column(String(512))
    period_start: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money())
    actual: Mapped[Decimal | None] = mapped_column(Money())
    status: Mapped[str] = mapped_column(String(16), default="held")
    """``held``; then ``settled`` (charged ``actual``), ``released`` (the call
    failed before any answer), or ``expired`` (its lease ran out and the message
    ledger showed no answer: released at an admission)."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    """The hold's lease: past it, admission treats the hold as left by a dead process."""
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BudgetThresholdMark(Base):
    __tablename__ = "ai_budget_threshold_marks"

    budget_key: Mapped[str] = mapped_column(String(512), primary_key=True)
    period_start: Mapped[date] = mapped_column(Date, primary_key=True)
    threshold: Mapped[str] = mapped_column(String(32), primary_key=True)
    spent: Mapped[Decimal] = mapped_column(Money())
    reached_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
