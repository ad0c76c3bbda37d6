"""``ai_cost_tracking`` kept in step with the ledger, in the ledger's transaction.

Every billable row the conversation store writes adds to the tracking row of
(day, user, tenant, tag set, provider, model, currency) with SQL increments,
in the same transaction as the ledger row itself: the two can never disagree,
whatever fails or is killed afterwards. ``ai usage rebuild`` recomputes the
table from the ledger with the same key (:func:`tags_key`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, delete
from sqlalchemy.engine import Connection

from ai_core.storage.analytics_tables import CostTracking
from ai_core.storage.base import table_of
from ai_core.storage.fastsql import Prepared, RawTransaction
from ai_core.storage.money import money_add
from ai_core.storage.sql import dialect_insert_for

__all__ = [
    "TRACKING_ADDED",
    "TRACKING_KEY",
    "add_to_cost_tracking",
    "reprice_in_cost_tracking",
    "tags_key",
    "tracking_values",
]

_tracking = table_of(CostTracking)
TRACKING_KEY = ["day", "user_key", "tenant_key", "tags_key", "provider", "model", "currency"]
TRACKING_ADDED = ["requests", "unknown_cost_requests", "input_tokens", "output_tokens"]
_KEY, _ADDED = TRACKING_KEY, TRACKING_ADDED


def tags_key(tags: Iterable[str]) -> str:
    """A tag set as one key: sorted, between commas (``",a,b,"``), ``""`` for none."""
    unique = sorted(set(tags))
    return f",{','.join(unique)}," if unique else ""


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


# Compiled once per dialect: this runs on every priced call.
_UPSERT = Prepared(_upsert)


def add_to_cost_tracking(tx: RawTransaction, row: dict[str, Any], *, tags: str, now: datetime) -> None:
    """Add one billable ledger ``row`` (as the store writes it) to its tracking row."""
    tx.execute(_UPSERT, tracking_values(row, tags=tags, now=now))


def tracking_values(row: dict[str, Any], *, tags: str, now: datetime) -> dict[str, Any]:
    """The tracking row's key and increments for one billable ledger ``row``."""
    cost = row["cost"]
    return {
        "day": row["created_on"],
        "user_key": row["user_id"] or "",
        "tenant_key": row["tenant"] or "",
        "tags_key": tags,
        "provider": row["provider"],
        "model": row["model"],
        "currency": row["currency"] or "USD",
        "requests": 1,
        "unknown_cost_requests": 0 if row["cost_known"] else 1,
        "input_tokens": row["input_tokens"],
        "output_tokens": row["output_tokens"],
        "cost": cost if cost is not None else Decimal(0),
        "updated_at": now,
    }


def reprice_in_cost_tracking(
    conn: Connection, row: Mapping[str, Any], priced: Mapping[str, Any], *, now: datetime
) -> None:
    """Move a ledger ``row`` recorded with an unknown cost to its ``priced`` form in the
    tracking table (the same transaction as the row's own update): out of its old key as an
    unknown-cost request, into its (possibly other-currency) key with its cost."""
    statement = _upsert(conn.dialect.name)
    tags = tags_key(row["tags"] or ())
    before = tracking_values(dict(row), tags=tags, now=now)
    conn.execute(
        statement,
        {
            **before,
            "requests": -1,
            "unknown_cost_requests": -1,
            "input_tokens": -before["input_tokens"],
            "output_tokens": -before["output_tokens"],
            "cost": Decimal(0),
        },
    )
    conn.execute(statement, tracking_values({**row, **priced}, tags=tags, now=now))


def remove_from_cost_tracking(conn: Connection, rows: Iterable[Mapping[str, Any]], *, now: datetime) -> set[Any]:
    """Take billable ledger ``rows`` that are being deleted out of the tracking table (the
    caller's transaction, before the rows go): each key loses their requests, tokens and
    cost, and a key left with no request is removed, as a rebuild would leave it. Returns
    the days touched."""
    totals: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        values = tracking_values(dict(row), tags=tags_key(row["tags"] or ()), now=now)
        key = tuple(values[name] for name in _KEY)
        entry = totals.get(key)
        if entry is None:
            totals[key] = values
            continue
        for name in _ADDED:
            entry[name] += values[name]
        entry["cost"] += values["cost"]
    statement = _upsert(conn.dialect.name)
    for entry in totals.values():
        negative = {name: -entry[name] for name in _ADDED}
        conn.execute(statement, {**entry, **negative, "cost": -entry["cost"]})
    if totals:
        emptied = delete(_tracking).where(_tracking.c.requests <= 0, _tracking.c.day.in_({k[0] for k in totals}))
        conn.execute(emptied)
    return {key[0] for key in totals}
