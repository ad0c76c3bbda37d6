"""``AnalyticsListener``: ``ai_usage_analytics`` and ``ai_model_performance`` kept current.

The derived tables used to wait for the daily job; now each call refreshes the
rows it touched. The conversation store tells the updater the (day, provider,
model) of every billable call and failed attempt it writes (its ``written``
taps, once the rows are committed), and the updater recomputes just those rows
from the ledger, with the very queries of the full rebuild (the functions of
:mod:`ai_core.storage.analytics`), restricted to those keys.
So the tables equal what ``ai usage rebuild`` makes (a test compares them), a
refresh that fails only leaves a row stale until the next call of that model or
the next rebuild, and money is never counted from anything but the ledger.

It listens to no event: an event per call (built, queued, handed to the event
thread) cost a fifth of the persisted path's CPU, the store's tap a set insert.
It stays a listener for what listeners have: a name to turn it off by
(``AI_LISTENERS_DISABLED=analytics``), ``ai plugins``, drain and close.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, or_, select, tuple_

from ai_core.events.listener import Listener
from ai_core.integrations.base import BindableHandler, BoundHandler
from ai_core.logging import get_logger
from ai_core.storage.analytics import (
    DayKey,
    failure_counts,
    lock_derived_tables,
    performance_rows,
    usage_rows,
)
from ai_core.storage.analytics_tables import ModelPerformance, UsageAnalytics
from ai_core.storage.base import table_of
from ai_core.storage.columns import utcnow
from ai_core.storage.conversation_tables import FailedAttempt, StoredMessage

if TYPE_CHECKING:
    from ai_core.services import Services
    from ai_core.storage.database import Database

__all__ = ["AnalyticsListener", "AnalyticsUpdater", "refresh_analytics"]

log = get_logger("ai_core.analytics")

Key = DayKey

_m = table_of(StoredMessage)
_failures = table_of(FailedAttempt)
_usage = table_of(UsageAnalytics)
_performance = table_of(ModelPerformance)


class AnalyticsListener(BindableHandler):
    """Registered by core's plugin as the listener named ``analytics``; needs the SQL store."""

    def bind(self, services: Services) -> Listener | None:
        taps = getattr(services.store, "written", None)
        if services.database is None or taps is None:
            return None  # another store does not write the ledger these tables are made from
        updater = AnalyticsUpdater(services.database)
        taps.append(updater.note)
        return Listener(events=(), handler=updater, name="analytics")


class AnalyticsUpdater(BoundHandler):
    """Refreshes the keys it is told of, off the caller's thread.

    A refresh reads the day's rows of each key it recomputes, so under load
    they are batched: at most one refresh per ``interval`` seconds, the keys
    touched meanwhile refreshed together when a timer thread finds it due.
    """

    interval = 1.0
    drained_with_events = True  # ``ai.events.drain()`` refreshes what is pending

    def __init__(self, database: Database) -> None:
        self.database = database
        self._dirty: set[Key] = set()
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._last = 0.0
        self._gap = self.interval
        self._timer: threading.Timer | None = None

    def note(self, key: Key) -> None:
        """A call or failed attempt of ``key`` was written: refresh its rows soon."""
        with self._lock:
            self._dirty.add(key)
            if self._timer is not None:
                return
            self._timer = threading.Timer(max(0.0, self._last + self._gap - time.monotonic()), self.flush)
            self._timer.daemon = True
            self._timer.start()

    def __call__(self, event: Any) -> None:  # listens to no event (see the module's doc)
        return None

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
                    self._dirty |= keys  # tried again at the next call
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
        failures = failure_counts(conn, of(_failures, "created_on"))
        billable = [_m.c.billable.is_(True), of(_m, "created_on")]
        usage = usage_rows(conn, billable, failures, now)
        performance = performance_rows(conn, billable, failures, now)
    with database.write() as conn:
        lock_derived_tables(conn)
        # A rebuild, or another process's refresh, that read the ledger after this one did may
        # have written its rows meanwhile: those keys keep the newer rows.
        newer = _built_after(conn, keys, now)
        if newer:
            keys = [key for key in keys if key not in newer]
            usage = [row for row in usage if (row["day"], row["provider"], row["model"]) not in newer]
            performance = [row for row in performance if (row["day"], row["provider"], row["model"]) not in newer]
            if not keys:
                return 0
        conn.execute(delete(_usage).where(tuple_(_usage.c.day, _usage.c.provider, _usage.c.model).in_(keys)))
        conn.execute(
            delete(_performance).where(
                tuple_(_performance.c.day, _performance.c.provider, _performance.c.model).in_(keys)
            )
        )
        if usage:
            conn.execute(_usage.insert(), usage)
        if performance:
            conn.execute(_performance.insert(), performance)
    return len(usage) + len(performance)


def _built_after(conn: Any, keys: list[Key], snapshot: datetime) -> set[Key]:
    """The keys whose stored rows were built from a later read of the ledger than ``snapshot``."""
    found: set[Key] = set()
    for table in (_usage, _performance):
        columns = (table.c.day, table.c.provider, table.c.model)
        rows = conn.execute(select(*columns).where(tuple_(*columns).in_(keys), table.c.built_at > snapshot))
        found.update((day, provider, model) for day, provider, model in rows)
    return found
