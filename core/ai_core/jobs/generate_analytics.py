"""Rebuild ai_usage_analytics, ai_cost_tracking and ai_model_performance from the ledger."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from ai_core.storage.analytics import rebuild_analytics

if TYPE_CHECKING:
    from ai_core.storage.database import Database

__all__ = ["generate_analytics"]


def generate_analytics(database: Database, *, since: date | None = None) -> dict[str, int]:
    """Rows written per derived table (days from ``since`` on, or all days)."""
    return rebuild_analytics(database, since=since)
