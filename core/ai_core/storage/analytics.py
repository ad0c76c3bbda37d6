"""Usage reports and the derived tables, all computed from the message ledger.

:func:`usage_report` answers ``ai usage`` straight from ``ai_messages`` (exact,
never stale). :func:`rebuild_analytics` recomputes ``ai_usage_analytics``,
``ai_cost_tracking`` and ``ai_model_performance`` from the ledger in one
transaction (``ai usage rebuild``, the generate-analytics job), so a lost
:class:`~ai_core.events.types.CostCalculated` event never loses money.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Integer, case, cast, delete, func, select, text
from sqlalchemy.sql import ColumnElement

from ai_core.storage.analytics_tables import CostTracking, ModelPerformance, UsageAnalytics
from ai_core.storage.base import table_of
from ai_core.storage.columns import utcnow
from ai_core.storage.conversation_tables import ConversationTag, FailedAttempt, StoredMessage
from ai_core.storage.cost_tracker import tags_key
from ai_core.storage.money import money_sum

if TYPE_CHECKING:
    from ai_core.storage.database import Database

__all__ = [
    "GROUPINGS",
    "DayKey",
    "Grouping",
    "failure_counts",
    "lock_derived_tables",
    "performance_rows",
    "rebuild_analytics",
    "usage_report",
    "usage_rows",
]

Grouping = Literal["provider", "model", "user", "day", "tag", "tenant"]
GROUPINGS: tuple[str, ...] = ("provider", "model", "user", "day", "tag", "tenant")

_m = table_of(StoredMessage)
_tags = table_of(ConversationTag)
_failures = table_of(FailedAttempt)
_usage = table_of(UsageAnalytics)
_tracking = table_of(CostTracking)
_performance = table_of(ModelPerformance)


def _unknown() -> ColumnElement[Any]:
    return func.sum(cast(case((_m.c.cost_known.is_(False), 1), else_=0), Integer))


def usage_report(database: Database, *, by: Grouping = "provider", since: date | None = None) -> list[dict[str, Any]]:
    """Requests, tokens and cost of billable messages grouped by ``by``, largest cost first."""
    if by not in GROUPINGS:
        raise ValueError(f"cannot group usage by {by!r}; choose from {', '.join(GROUPINGS)}")
    keys: Sequence[ColumnElement[Any]] = {
        "provider": [_m.c.provider],
        "model": [_m.c.provider, _m.c.model],
        "user": [_m.c.user_id],
        "day": [_m.c.created_on],
        "tag": [_tags.c.tag],
        "tenant": [_m.c.tenant],
    }[by]
    source = _m.join(_tags, _tags.c.conversation_id == _m.c.conversation_id) if by == "tag" else _m
    query = (
        select(
            *keys,
            _m.c.currency,
            func.count().label("requests"),
            func.sum(_m.c.input_tokens).label("input_tokens"),
            func.sum(_m.c.output_tokens).label("output_tokens"),
            func.sum(_m.c.cached_input_tokens).label("cached_input_tokens"),
            func.sum(_m.c.reasoning_tokens).label("reasoning_tokens"),
            money_sum(_m.c.cost).label("cost"),
            _unknown().label("unknown_cost_requests"),
            func.avg(_m.c.latency_ms).label("avg_latency_ms"),
        )
        .select_from(source)
        .where(_m.c.billable.is_(True))
        .group_by(*keys, _m.c.currency)
    )
    if since is not None:
        query = query.where(_m.c.created_on >= since)
    with database.read() as conn:
        rows = conn.execute(query).all()
    report: list[dict[str, Any]] = []
    for row in rows:
        data = row._asdict()
        if by == "model":
            key = f"{data.pop('provider')}/{data.pop('model')}"
        else:
            column = {"user": "user_id", "day": "created_on", "tag": "tag"}.get(by, by)
            key = data.pop(column)
        report.append(
            {
                by: key.isoformat() if isinstance(key, date) else key,
                "currency": data["currency"] or "USD",
                "requests": int(data["requests"]),
                "input_tokens": int(data["input_tokens"] or 0),
                "output_tokens": int(data["output_tokens"] or 0),
                "cached_input_tokens": int(data["cached_input_tokens"] or 0),
                "reasoning_tokens": int(data["reasoning_tokens"] or 0),
                "cost": (data["cost"] or Decimal(0)).normalize() if data["cost"] else Decimal(0),
                "unknown_cost_requests": int(data["unknown_cost_requests"] or 0),
                "avg_latency_ms": float(data["avg_latency_ms"]) if data["avg_latency_ms"] is not None else None,
            }
        )
    if by == "day":
        report.sort(key=lambda r: r["day"])
    else:
        report.sort(key=lambda r: (-r["cost"], str(r[by])))
    return report


def rebuild_analytics(database: Database, *, since: date | None = None) -> dict[str, int]:
    """Recompute every derived table from the ledger (from ``since`` on, or all)."""
    now = utcnow()
    day_filter = (lambda column: column >= since) if since is not None else (lambda column: column.is_not(None))
    billable = [_m.c.billable.is_(True), day_filter(_m.c.created_on)]
    with database.write() as conn:
        lock_derived_tables(conn)
        for table in (_usage, _tracking, _performance):
            conn.execute(delete(table).where(day_filter(table.c.day)))
        from ai_core.dashboard.rollup import forget_days  # the dashboard's rollup of those tracking rows

        forget_days(conn, since)

        failures = failure_counts(conn, day_filter(_failures.c.created_on))
        usage = usage_rows(conn, billable, failures, now)
        if usage:
            conn.execute(_usage.insert(), usage)

        tracking: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in conn.execute(
            select(
                _m.c.created_on, _m.c.user_id, _m.c.tenant, _m.c.tags, _m.c.provider, _m.c.model, _m.c.currency,
                _m.c.cost_known, _m.c.input_tokens, _m.c.output_tokens, _m.c.cost,
            ).where(*billable)
        ):  # fmt: skip
            group = (row.created_on, row.user_id or "", row.tenant or "", tags_key(row.tags or ()), row.provider,
                   row.model, row.currency or "USD")  # fmt: skip
            entry = tracking.get(group)
            if entry is None:
                entry = tracking[group] = {
                    "day": group[0], "user_key": group[1], "tenant_key": group[2], "tags_key": group[3],
                    "provider": group[4], "model": group[5], "currency": group[6], "requests": 0,
                    "unknown_cost_requests": 0, "input_tokens": 0, "output_tokens": 0, "cost": Decimal(0),
                    "updated_at": now,
                }  # fmt: skip
            entry["requests"] += 1
            entry["unknown_cost_requests"] += 0 if row.cost_known else 1
            entry["input_tokens"] += row.input_tokens or 0
            entry["output_tokens"] += row.output_tokens or 0
            entry["cost"] += row.cost if row.cost is not None else Decimal(0)
        tracking_rows = list(tracking.values())
        if tracking_rows:
            conn.execute(_tracking.insert(), tracking_rows)

        performance = performance_rows(conn, billable, failures, now)
        if performance:
            conn.execute(_performance.insert(), performance)
    return {
        "ai_usage_analytics": len(usage),
        "ai_cost_tracking": len(tracking_rows),
        "ai_model_performance": len(performance),
    }


# -- the rows of ai_usage_analytics and ai_model_performance, for a full rebuild and the live refresh
# (ai_core.integrations.analytics) alike: one set of queries, so both make the same rows.

DayKey = tuple[date, str, str]
"""(day, provider, model): the key of a usage and a performance row."""


def failure_counts(conn: Any, where: ColumnElement[bool]) -> dict[DayKey, int]:
    """Failed attempts (``ai_failed_attempts`` rows matching ``where``) per day, provider and model."""
    counts: dict[DayKey, int] = {}
    for row in conn.execute(
        select(_failures.c.created_on, _failures.c.provider, _failures.c.model, func.count())
        .where(where)
        .group_by(_failures.c.created_on, _failures.c.provider, _failures.c.model)
    ):
        counts[(row[0], row[1], row[2])] = int(row[3])
    return counts


def usage_rows(
    conn: Any, where: Sequence[ColumnElement[bool]], failures: dict[DayKey, int], now: datetime
) -> list[dict[str, Any]]:
    """The ``ai_usage_analytics`` rows of the ledger's messages matching ``where``."""
    rows = []
    for row in conn.execute(
        select(
            _m.c.created_on, _m.c.provider, _m.c.model, _m.c.currency,
            func.count().label("requests"), func.sum(_m.c.input_tokens).label("input_tokens"),
            func.sum(_m.c.output_tokens).label("output_tokens"), money_sum(_m.c.cost).label("cost"),
            _unknown().label("unknown_cost_requests"),
            func.sum(_m.c.cached_input_tokens).label("cached"), func.sum(_m.c.reasoning_tokens).label("reasoning"),
            func.avg(_m.c.latency_ms).label("latency"),
        ).where(*where).group_by(_m.c.created_on, _m.c.provider, _m.c.model, _m.c.currency)
    ):  # fmt: skip
        rows.append({
            "day": row.created_on, "provider": row.provider, "model": row.model, "currency": row.currency or "USD",
            "requests": row.requests, "failed_requests": failures.get((row.created_on, row.provider, row.model), 0),
            "unknown_cost_requests": row.unknown_cost_requests or 0, "input_tokens": row.input_tokens or 0,
            "output_tokens": row.output_tokens or 0, "cached_input_tokens": row.cached or 0,
            "reasoning_tokens": row.reasoning or 0, "cost": row.cost or Decimal(0),
            "avg_latency_ms": float(row.latency) if row.latency is not None else None, "built_at": now,
        })  # fmt: skip
    return rows


def performance_rows(
    conn: Any, where: Sequence[ColumnElement[bool]], failures: dict[DayKey, int], now: datetime
) -> list[dict[str, Any]]:
    """The ``ai_model_performance`` rows of the ledger's messages matching ``where`` and of ``failures``."""
    latencies: dict[DayKey, list[float]] = defaultdict(list)
    successes: dict[DayKey, int] = defaultdict(int)
    for row in conn.execute(select(_m.c.created_on, _m.c.provider, _m.c.model, _m.c.latency_ms).where(*where)):
        key = (row.created_on, row.provider, row.model)
        successes[key] += 1
        if row.latency_ms is not None:
            latencies[key].append(float(row.latency_ms))
    rows = []
    for key in sorted(set(successes) | set(failures), key=lambda k: (k[0], k[1] or "", k[2] or "")):
        ok, failed = successes.get(key, 0), failures.get(key, 0)
        values = sorted(latencies.get(key, []))
        total = ok + failed
        rows.append({
            "day": key[0], "provider": key[1], "model": key[2], "requests": total, "successes": ok,
            "failures": failed, "success_rate": ok / total if total else 0.0,
            "error_rate": failed / total if total else 0.0,
            "avg_latency_ms": statistics.fmean(values) if values else None,
            "p50_latency_ms": _percentile(values, 0.50), "p95_latency_ms": _percentile(values, 0.95),
            "max_latency_ms": values[-1] if values else None, "built_at": now,
        })  # fmt: skip
    return rows


def lock_derived_tables(conn: Any) -> None:
    """Serialise writers of the derived tables (a rebuild, the live analytics listener) for the
    rest of the transaction: on PostgreSQL two of them deleting and inserting the same rows at
    once would collide on the unique keys. SQLite's writers are serialised already."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(725300106)"))


def _percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of sorted ``values``."""
    if not values:
        return None
    index = max(0, min(len(values) - 1, round(fraction * len(values) + 0.5) - 1))
    return values[index]
