"""The dashboard's rollup of ``ai_cost_tracking``: closed days and months, per dimension.

Built on the read side by :mod:`ai_core.dashboard.rollup` (never by the
ledger's write path) and rebuilt from ``ai_cost_tracking`` whenever a day's
source changes, so it can always be dropped and built again.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Date, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ai_core.storage.base import Base
from ai_core.storage.money import Money

__all__ = ["SpendRollup", "SpendRollupStamp"]


class SpendRollup(Base):
    """Calls, tokens and cost of one period (a closed day or month) per dimension and key.

    ``tenant_key`` is NULL for the rows of every tenant together, else the
    tenant (``""``: calls without one). ``dimension`` is ``model`` (key
    ``provider/model``), ``user`` (``""``: no user), ``tag`` (one tag; a call
    with several counts under each) or ``all`` (key ``""``: every call).
    """

    __tablename__ = "ai_spend_rollup"
    __table_args__ = (
        Index(None, "dimension", "tenant_key", "grain", "day"),
        Index(None, "dimension", "tenant_key", "key", "grain", "day"),
        Index(None, "grain", "day"),  # rolling a day or a month up, and forgetting it
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    grain: Mapped[str] = mapped_column(String(8))
    day: Mapped[date] = mapped_column(Date)
    tenant_key: Mapped[str | None] = mapped_column(String(255))
    dimension: Mapped[str] = mapped_column(String(8))
    key: Mapped[str] = mapped_column(String(1024))
    currency: Mapped[str] = mapped_column(String(8))
    requests: Mapped[int] = mapped_column(Integer)
    unknown_cost_requests: Mapped[int] = mapped_column(Integer)
    input_tokens: Mapped[int] = mapped_column(BigInteger)
    output_tokens: Mapped[int] = mapped_column(BigInteger)
    cost: Mapped[Decimal] = mapped_column(Money())


class SpendRollupStamp(Base):
    """What one rolled-up period was built from, to tell when its source changed.

    A day: the number of its ``ai_cost_tracking`` rows, their requests and
    their latest ``updated_at`` when it was built (every ledger write adds a
    request; a rebuild rewrites ``updated_at``). A month: the same sums over
    its days' stamps, and the latest ``built_at`` of those days.
    """

    __tablename__ = "ai_spend_rollup_stamps"

    grain: Mapped[str] = mapped_column(String(8), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    source_rows: Mapped[int] = mapped_column(BigInteger)
    source_requests: Mapped[int] = mapped_column(BigInteger)
    source_updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    built_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
