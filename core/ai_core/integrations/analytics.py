"""``AnalyticsListener``: ``ai_usage_analytics`` and ``ai_model_performance`` kept current.

The derived tables used to wait for the daily job; now each turn refreshes the
rows it touched. The listener notes the (day, provider, model) of every
recorded call (:class:`~ai_core.events.types.MessageAdded` of an answer) and
failed attempt (:class:`~ai_core.events.types.RequestFailed`), and when the
turn's rows are written (:class:`~ai_core.events.types.ConversationUpdated`,
emitted after a turn succeeds or fails) recomputes just those rows from the
ledger, with the very queries of the full rebuild, restricted to those keys.
So the tables equal what ``ai usage rebuild`` makes (a test compares them),
a lost event only leaves a row stale until the next turn of that model or the
next rebuild, and money is never counted from events.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, func, or_, select, tuple_

from ai_core.events.listener import Listener
from ai_core.events.types import ConversationUpdated, Event, MessageAdded, RequestFailed
from ai_core.integrations.base import BindableHandler, BoundHandler
from ai_core.logging import get_logger
from ai_core.storage.analytics import _percentile, _unknown, lock_derived_tables
from ai_core.storage.analytics_tables import ModelPerformance, UsageAnalytics
from ai_core.storage.base import table_of
from ai_core.storage.columns import utcnow
from ai_core.storage.conversation_tables import FailedAttempt, StoredMessage
from ai_core.storage.money import money_sum

if TYPE_CHECKING:
    from ai_core.services import Services
    from ai_core.storage.database import Database

__all__ = ["AnalyticsListener", "AnalyticsUpdater", "refresh_analytics"]

log = get_logger("ai_core.analytics")

Key = tuple[date, str, str]

_m = table_of(StoredMessage)
_failures = table_of(FailedAttempt)
_usage = table_of(UsageAnalytics)
_performance = table_of(ModelPerformance)


class AnalyticsListener(BindableHandler):
    """Registered by core's plugin as the listener named ``analytics``; needs SQL storage."""

    def bind(self, services: Services) -> Listener | None:
        if services.database is None:
            return None
        return Listener(
            events=(MessageAdded, RequestFailed, ConversationUpdated),
            handler=AnalyticsUpdater(services.database),
            name="analytics",
        )


class AnalyticsUpdater(BoundHandler):
    """Sync: runs on the event worker, in event order.

    A refresh reads the day's rows of each key it recomputes, so under load
    they are batched: at most one refresh per ``interval`` seconds, the keys
    touched meanwhile refreshed together when it is due (a timer makes sure it
    happens even if no turn follows).
    """

    interval = 1.0

    def __init__(self, database: Database) -> None:
        self.database = database
        self._dirty: set[Key] = set()
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._last = 0.0
        self._gap = self.interval
        self._timer: threading.Timer | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, MessageAdded):
            if event.role == "assistant" and event.provider and event.model:
                self._dirty.add((event.occurred_at.date(), event.provider, event.model))
        elif isinstance(event, RequestFailed):
            self._dirty.add((event.occurred_at.date(), event.provider, event.model))
        elif isinstance(event, ConversationUpdated) and self._dirty:
            wait = self._last + self._gap - time.monotonic()
            if wait <= 0:
                self.flush()
            elif self._timer is None:
                self._timer = threading.Timer(wait, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        """Refresh every key touched since the last refresh, now."""
        with self._flushing:
            with self._lock:
                keys, self._dirty = self._dirty, set()
                timer, self._timer = self._timer, None
            if timer is not None and timer is not threading.current_thread():
                timer.cancel()
            self._last = started = time.monotonic()
            if not keys:
                return
            try:
                refresh_analytics(self.database, keys)
                # A refresh reads the day's rows of its keys: on a big ledger it takes longer, so
                # the next one waits ten times as long as this one took (at most a tenth of a thread).
                self._gap = max(self.interval, 10 * (time.monotonic() - started))
            except Exception as exc:
                with self._lock:
                    self._dirty |= keys  # tried again at the next turn
                log.warning("analytics_refresh_failed", error=f"{type(exc).__name__}: {exc}")

    def drain(self, timeout: float | None = 30) -> bool:
        """Refresh what is pending now (tests, shutdown)."""
        self.flush()
        return True

    def close(self, timeout: float | None = 10) -> None:
        self.flush()


def refresh_analytics(database: Database, keys: Iterable[Key]) -> int:
    """Recompute the usage and performance rows of ``keys`` from the ledger, as
    :func:`~ai_core.storage.analytics.rebuild_analytics` would; return rows written."""
    keys = sorted(set(keys))
    if not keys:
        return 0
    now = utcnow()

    def of(table: Any, day: str) -> Any:
        return or_(*(and_(table.c[day] == d, table.c.provider == p, table.c.model == m) for d, p, m in keys))

    # Read the ledger on a read connection: the scan never holds the writer lock that
    # ledger writes wait for. Only the swap of the derived rows is a (short) write.
    with database.read() as conn:
        failures: dict[Key, int] = {}
        for row in conn.execute(
            select(_failures.c.created_on, _failures.c.provider, _failures.c.model, func.count())
            .where(of(_failures, "created_on"))
            .group_by(_failures.c.created_on, _failures.c.provider, _failures.c.model)
        ):
            failures[(row[0], row[1], row[2])] = int(row[3])
        billable = [_m.c.billable.is_(True), of(_m, "created_on")]
        usage_rows = []
        for row in conn.execute(
            select(
                _m.c.created_on, _m.c.provider, _m.c.model, _m.c.currency,
                func.count().label("requests"), func.sum(_m.c.input_tokens).label("input_tokens"),
                func.sum(_m.c.output_tokens).label("output_tokens"), money_sum(_m.c.cost).label("cost"),
                _unknown().label("unknown_cost_requests"),
                func.sum(_m.c.cached_input_tokens).label("cached"), func.sum(_m.c.reasoning_tokens).label("reasoning"),
                func.avg(_m.c.latency_ms).label("latency"),
            ).where(*billable).group_by(_m.c.created_on, _m.c.provider, _m.c.model, _m.c.currency)
        ):  # fmt: skip
            usage_rows.append({
                "day": row.created_on, "provider": row.provider, "model": row.model, "currency": row.currency or "USD",
                "requests": row.requests, "failed_requests": failures.get((row.created_on, row.provider, row.model), 0),
                "unknown_cost_requests": row.unknown_cost_requests or 0, "input_tokens": row.input_tokens or 0,
                "output_tokens": row.output_tokens or 0, "cached_input_tokens": row.cached or 0,
                "reasoning_tokens": row.reasoning or 0, "cost": row.cost or Decimal(0),
                "avg_latency_ms": float(row.latency) if row.latency is not None else None, "built_at": now,
            })  # fmt: skip
        latencies: dict[Key, list[float]] = {}
        successes: dict[Key, int] = {}
        for row in conn.execute(select(_m.c.created_on, _m.c.provider, _m.c.model, _m.c.latency_ms).where(*billable)):
            key = (row.created_on, row.provider, row.model)
            successes[key] = successes.get(key, 0) + 1
            if row.latency_ms is not None:
                latencies.setdefault(key, []).append(float(row.latency_ms))
        performance_rows = []
        for key in sorted(set(successes) | set(failures), key=lambda k: (k[0], k[1] or "", k[2] or "")):
            ok, failed = successes.get(key, 0), failures.get(key, 0)
            values = sorted(latencies.get(key, []))
            total = ok + failed
            performance_rows.append({
                "day": key[0], "provider": key[1], "model": key[2], "requests": total, "successes": ok,
                "failures": failed, "success_rate": ok / total if total else 0.0,
                "error_rate": failed / total if total else 0.0,
                "avg_latency_ms": statistics.fmean(values) if values else None,
                "p50_latency_ms": _percentile(values, 0.50), "p95_latency_ms": _percentile(values, 0.95),
                "max_latency_ms": values[-1] if values else None, "built_at": now,
            })  # fmt: skip
    with database.write() as conn:
        lock_derived_tables(conn)
        conn.execute(delete(_usage).where(tuple_(_usage.c.day, _usage.c.provider, _usage.c.model).in_(keys)))
        conn.execute(
            delete(_performance).where(
                tuple_(_performance.c.day, _performance.c.provider, _performance.c.model).in_(keys)
            )
        )
        if usage_rows:
            conn.execute(_usage.insert(), usage_rows)
        if performance_rows:
            conn.execute(_performance.insert(), performance_rows)
    return len(usage_rows) + len(performance_rows)
