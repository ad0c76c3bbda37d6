"""CostTracker: keeps ``ai_cost_tracking`` current from CostCalculated events.

One upsert per priced call, adding to the row of (day, user, provider, model,
currency) with SQL increments, so concurrent listeners never lose an update.
This table is a convenience: the ledger (``ai_messages``) is the record, and
``ai usage rebuild`` recomputes the table from it if an event was lost.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam

from ai_core.events.listener import Listener
from ai_core.events.types import CostCalculated
from ai_core.storage.analytics_tables import CostTracking
from ai_core.storage.base import table_of
from ai_core.storage.columns import utcnow
from ai_core.storage.fastsql import Prepared
from ai_core.storage.money import money_add, quantize_money
from ai_core.storage.sql import dialect_insert_for

if TYPE_CHECKING:
    from ai_core.storage.database import Database

__all__ = ["CostTracker"]

_tracking = table_of(CostTracking)
_KEY = ["day", "user_key", "provider", "model", "currency"]
_ADDED = ["requests", "unknown_cost_requests", "input_tokens", "output_tokens"]


def _upsert(dialect: str) -> Any:
    statement = dialect_insert_for(dialect, _tracking).values(
        {name: bindparam(name, type_=_tracking.c[name].type) for name in [*_KEY, *_ADDED, "cost", "updated_at"]}
    )
    return statement.on_conflict_do_update(
        index_elements=_KEY,
        set_={
            **{name: _tracking.c[name] + statement.excluded[name] for name in _ADDED},
            "cost": money_add(_tracking.c.cost, statement.excluded.cost),
            "updated_at": statement.excluded.updated_at,
        },
    )


# Compiled once per dialect: building the upsert through SQLAlchemy per event
# cost more CPU than the rest of a persisted call together.
_UPSERT = Prepared(_upsert)


class CostTracker:
    """A sync listener (the dispatcher runs it on its worker thread, off every loop)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def listener(self) -> Listener:
        return Listener(events=CostCalculated, handler=self, name="ai_core.cost_tracker")

    def __call__(self, event: CostCalculated) -> None:
        known = event.cost is not None
        values = {
            "day": event.occurred_at.date(),
            "user_key": event.user or "",
            "provider": event.provider,
            "model": event.model,
            "currency": event.currency,
            "requests": 1,
            "unknown_cost_requests": 0 if known else 1,
            "input_tokens": event.usage.input_tokens,
            "output_tokens": event.usage.output_tokens,
            "cost": quantize_money(event.cost) if event.cost is not None else Decimal(0),
            "updated_at": utcnow(),
        }
        with self.database.raw_write() as transaction:
            transaction.execute(_UPSERT, values)
