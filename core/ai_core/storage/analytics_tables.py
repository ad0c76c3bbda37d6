"""Tables derived from the message ledger; every one can be rebuilt from it.

``ai_cost_tracking`` is also kept current in the ledger's own transaction (see
:mod:`ai_core.storage.cost_tracker`); ``ai usage rebuild`` recomputes all three.
Empty keys are stored as ``""`` because NULLs never match in a UNIQUE key.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Date, DateTime, Float, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ai_core.storage.base import Base
from ai_core.storage.columns import utcnow
from ai_core.storage.money import Money

__all__ = ["CostTracking", "ModelPerformance", "UsageAnalytics"]


class UsageAnalytics(Base):
    """Daily requests, tokens, cost and average latency per provider and model."""

    __tablename__ = "ai_usage_analytics"
    __table_args__ = (UniqueConstraint("day", "provider", "model", "currency"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    provider: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(255))
    currency: Mapped[str] = mapped_column(String(8), default="USD")
    requests: Mapped[int] = mapped_column(Integer, default=0)
    failed_requests: Mapped[int] = mapped_column(Integer, default=0)
    unknown_cost_requests: Mapped[int] = mapped_column(Integer, default=0)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cached_input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    reasoning_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    avg_latency_ms: Mapped[float | None] = mapped_column(Float)
    built_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CostTracking(Base):
    """Cost per day, user, tenant, tag set, provider and model (``""`` = none).

    ``tags_key`` is the call's sorted tags between commas (``",a,b,"``), so each
    call is counted in exactly one row and spend by one tag is
    ``tags_key LIKE '%,tag,%'``.
    """

    __tablename__ = "ai_cost_tracking"
    __table_args__ = (UniqueConstraint("day", "user_key", "tenant_key", "tags_key", "provider", "model", "currency"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    user_key: Mapped[str] = mapped_column(String(255), default="")
    tenant_key: Mapped[str] = mapped_column(String(255), default="")
    tags_key: Mapped[str] = mapped_column(String(1024), default="")
    provider: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(255))
    currency: Mapped[str] = mapped_column(String(8), default="USD")
    requests: Mapped[int] = mapped_column(Integer, default=0)
    unknown_cost_requests: Mapped[int] = mapped_column(Integer, default=0)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModelPerformance(Base):
    """Latency, success rate and error rate per provider, model and day."""

    __tablename__ = "ai_model_performance"
    __table_args__ = (UniqueConstraint("day", "provider", "model"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    provider: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(255))
    requests: Mapped[int] = mapped_column(Integer, default=0)
    successes: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    success_rate: Mapped[float] = mapped_column(Float, default=0.0)
    error_rate: Mapped[float] = mapped_column(Float, default=0.0)
    avg_latency_ms: Mapped[float | None] = mapped_column(Float)
    p50_latency_ms: Mapped[float | None] = mapped_column(Float)
    p95_latency_ms: Mapped[float | None] = mapped_column(Float)
    max_latency_ms: Mapped[float | None] = mapped_column(Float)
    built_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
