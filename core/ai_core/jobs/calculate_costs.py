"""Price responses that were recorded with an unknown cost, once a price exists.

A model with no known price is stored with ``cost_known = false`` (never as
zero). After ``ai models sync`` or a plugin update brings its price, this job
prices those rows at the price in force *when each call was made* and adds
the cost to the conversation totals and to ``ai_cost_tracking`` with SQL
increments, in the transaction that prices the row; the analytics rows of those
days and models are then refreshed from the ledger.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from ai_core.budgets.estimate import price_usage
from ai_core.integrations.analytics import refresh_analytics
from ai_core.storage.base import table_of
from ai_core.storage.columns import as_utc, utcnow
from ai_core.storage.conversation_tables import Conversation, StoredMessage
from ai_core.storage.cost_tracker import reprice_in_cost_tracking
from ai_core.storage.money import money_add, quantize_money
from ai_core.types import TokenUsage

if TYPE_CHECKING:
    from ai_core.services import Services
    from ai_core.storage.database import Database

__all__ = ["calculate_costs"]

_m = table_of(StoredMessage)
_c = table_of(Conversation)


def calculate_costs(services: Services, *, database: Database | None = None, since: date | None = None) -> int:
    """Price every unpriced response (from ``since`` on); return how many were priced."""
    db = database or services.database
    if db is None:
        raise ValueError("calculate-costs needs a database (persistence is off)")
    query = select(_m).where(_m.c.billable.is_(True), _m.c.cost_known.is_(False))
    if since is not None:
        query = query.where(_m.c.created_on >= since)
    priced = 0
    touched: set[tuple[date, str, str]] = set()
    with db.write() as conn:
        for row in conn.execute(query).mappings().all():
            usage = TokenUsage(
                input_tokens=row["input_tokens"],
                output_tokens=row["output_tokens"],
                cached_input_tokens=row["cached_input_tokens"],
                cache_write_tokens=row["cache_write_tokens"],
                reasoning_tokens=row["reasoning_tokens"],
            )
            made_at = as_utc(row["created_at"])
            cost = price_usage(services, row["provider"], row["model"], usage, made_at)  # type: ignore[arg-type]
            if cost.total is None:
                continue
            amount = quantize_money(cost.total)
            priced_row = {
                "cost": amount,
                "cost_known": True,
                "currency": cost.currency,
                "price_effective_from": cost.price_effective_from,
                "priced_by": f"{cost.priced_by[:56]} (later)",
            }
            changed = conn.execute(
                update(_m).where(_m.c.id == row["id"], _m.c.cost_known.is_(False)).values(**priced_row)
            ).rowcount
            if not changed:  # priced meanwhile by another run
                continue
            reprice_in_cost_tracking(conn, dict(row), priced_row, now=utcnow())
            conn.execute(
                update(_c)
                .where(_c.c.id == row["conversation_id"])
                .values(
                    total_cost=money_add(_c.c.total_cost, amount),
                    unknown_cost_count=_c.c.unknown_cost_count - 1,
                )
            )
            priced += 1
            touched.add((row["created_on"], row["provider"], row["model"]))
    if touched:  # the usage rows of those days and models now count the cost
        refresh_analytics(db, touched)
    return priced
