"""Providers, their models and the price history of each model.

Filled by ``ai models sync`` (:mod:`ai_core.jobs.sync_models`) from the
plugins' registered data and, when asked, from each provider's model list.
A price row is in force from ``effective_from`` until the next row's date.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ai_core.storage.base import Base
from ai_core.storage.columns import JSONType, utcnow
from ai_core.storage.money import Money

__all__ = ["Provider", "ProviderModel", "ProviderModelCost"]


class Provider(Base):
    __tablename__ = "ai_providers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    driver: Mapped[str | None] = mapped_column(String(255))
    base_url: Mapped[str | None] = mapped_column(String(512))
    capabilities: Mapped[list[str]] = mapped_column(JSONType, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ProviderModel(Base):
    __tablename__ = "ai_provider_models"
    __table_args__ = (UniqueConstraint("provider_id", "model_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("ai_providers.id", ondelete="CASCADE"))
    model_id: Mapped[str] = mapped_column(String(255))
    """The provider's own id, e.g. ``gpt-4o-mini``."""
    name: Mapped[str | None] = mapped_column(String(255))
    context_window: Mapped[int | None] = mapped_column(Integer)
    max_output_tokens: Mapped[int | None] = mapped_column(Integer)
    capabilities: Mapped[list[str]] = mapped_column(JSONType, default=list)
    reasoning: Mapped[bool] = mapped_column(Boolean, default=False)
    deprecated: Mapped[bool] = mapped_column(Boolean, default=False)
    served_by: Mapped[str | None] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(32), default="plugin")
    """``plugin`` (registered data) or ``remote`` (the provider's model list)."""
    synced_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ProviderModelCost(Base):
    __tablename__ = "ai_provider_model_costs"
    __table_args__ = (
        UniqueConstraint("model_id", "effective_from", "currency"),
        Index(None, "model_id", "effective_from"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("ai_provider_models.id", ondelete="CASCADE"))
    effective_from: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(8), default="USD")
    input_per_mtok: Mapped[Decimal] = mapped_column(Money())
    output_per_mtok: Mapped[Decimal] = mapped_column(Money())
    cached_input_per_mtok: Mapped[Decimal | None] = mapped_column(Money())
    cache_write_per_mtok: Mapped[Decimal | None] = mapped_column(Money())
    reasoning_per_mtok: Mapped[Decimal | None] = mapped_column(Money())
    tiers: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    """Long-context tiers, Decimal amounts as strings."""
    source: Mapped[str | None] = mapped_column(String(64))
    """Where the row comes from (``genai-prices``); None for a row a catalogue typed in."""
    source_version: Mapped[str | None] = mapped_column(String(32))
    source_date: Mapped[date | None] = mapped_column(Date)
    billed_as: Mapped[str | None] = mapped_column(String(255))
    """For an alias or a retired model: the model whose row this is."""
    synced_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
