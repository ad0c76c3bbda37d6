"""``NotificationListener``: tell a person when something needs attention.

Budget thresholds and overshoots, a provider's circuit breaker opening (a
service disruption), error-rate spikes (per provider, over a sliding window)
and, if asked, cost anomalies are sent through the configured channels
(``[notifications]``: e-mail over SMTP, a Slack-compatible incoming webhook,
a signed webhook endpoint). Each subject (this budget's threshold this period,
this provider's breaker, this provider's error rate) is sent at most once per
``dedupe_seconds``: a storm of errors sends one message. With a database the
marks live in ``ai_notification_marks``, so processes sharing it share them.

Counting and deduplicating run on the event worker; sending runs on a loop
thread of its own (SMTP in a worker thread of that loop), off every call.
Each send is an :class:`~ai_core.events.types.ExternalIntegrationTriggered`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import anyio
from sqlalchemy import select, update

from ai_core.errors import _money
from ai_core.events.listener import Listener
from ai_core.events.types import (
    BudgetOvershoot,
    BudgetThresholdReached,
    CircuitOpened,
    CostAnomalyDetected,
    Event,
    ExternalIntegrationTriggered,
    MessageAdded,
    RequestFailed,
)
from ai_core.integrations.base import BindableHandler, BoundHandler
from ai_core.integrations.notify_channels import send_notification
from ai_core.integrations.tables import NotificationMark
from ai_core.logging import get_logger
from ai_core.storage.base import table_of
from ai_core.storage.columns import as_utc, utcnow
from ai_core.threads import LoopThread

if TYPE_CHECKING:
    from ai_core.integrations.settings import NotificationSettings
    from ai_core.services import Services
    from ai_core.storage.database import Database

__all__ = ["DedupeMarks", "NotificationListener", "Notifier", "describe"]

log = get_logger("ai_core.notifications")
_marks = table_of(NotificationMark)

_TRIGGERS: dict[str, tuple[type[Event], ...]] = {
    "budget": (BudgetThresholdReached, BudgetOvershoot),
    "circuit": (CircuitOpened,),
    "error_rate": (RequestFailed, MessageAdded),
    "cost_anomaly": (CostAnomalyDetected,),
}


class NotificationListener(BindableHandler):
    """Registered by core's plugin as the listener named ``notifications``; inert without channels."""

    def bind(self, services: Services) -> Listener | None:
        settings = services.settings.notifications
        if not settings.channels or not settings.on:
            return None
        types = tuple(dict.fromkeys(t for trigger in settings.on for t in _TRIGGERS[trigger]))
        return Listener(events=types, handler=Notifier(services, settings), name="notifications")


def describe(event: Event) -> tuple[str, str, str] | None:
    """(dedupe subject, title, text) for an event that notifies by itself."""
    if isinstance(event, BudgetThresholdReached):
        subject = f"budget:{event.budget}:{event.period_start.date()}:{event.threshold}"
        return subject, f"Budget {event.budget!r} reached {_money(event.threshold * 100)}%", str(event)
    if isinstance(event, BudgetOvershoot):
        subject = f"budget-over:{event.budget}:{event.period_start.date()}"
        return subject, f"Budget {event.budget!r} is over its hard limit", str(event)
    if isinstance(event, CircuitOpened):
        text = (
            f"provider {event.provider!r} is unavailable: its circuit breaker opened after {event.failures} "
            f"consecutive failures ({event.error_type}); calls to it are refused for {event.cooldown_seconds:g} s "
            "and fall back where fallbacks are configured"
        )
        return f"circuit:{event.provider}", f"Provider {event.provider} unavailable", text
    if isinstance(event, CostAnomalyDetected):
        who = event.user if event.basis == "user" else f"{event.provider}/{event.model}"
        text = (
            f"a call to {event.provider}/{event.model} cost {_money(event.cost)} {event.currency}, "
            f"{_money(event.ratio)} times the recent average of {_money(event.average)} for {event.basis} {who}"
        )
        return f"anomaly:{event.basis}:{who}", f"Cost anomaly: {event.provider}/{event.model}", text
    return None


class ErrorRate:
    """Failures and successes per provider over the last ``window`` seconds."""

    def __init__(self, settings: NotificationSettings) -> None:
        self.settings = settings
        self._calls: dict[str, deque[tuple[float, bool]]] = {}

    def add(self, provider: str, failed: bool, now: float) -> tuple[int, int] | None:
        """Record one call; (failures, total) when the window is over the threshold."""
        calls = self._calls.setdefault(provider, deque())
        calls.append((now, failed))
        while calls and calls[0][0] < now - self.settings.error_rate_window:
            calls.popleft()
        total = len(calls)
        failures = sum(1 for _, bad in calls if bad)
        enough = total >= self.settings.error_rate_min_requests
        if failed and enough and failures / total >= self.settings.error_rate_threshold:
            return failures, total
        return None


class DedupeMarks:
    """At most one message per subject per period: in the database when there is one."""

    def __init__(self, database: Database | None, period: float) -> None:
        self.database = database
        self.period = timedelta(seconds=period)
        self._memory: dict[str, Any] = {}
        self._lock = threading.Lock()

    def claim(self, subject: str) -> bool:
        """True when ``subject`` may be sent now (and mark it sent)."""
        now = utcnow()
        subject = subject[:512]
        if self.database is None:
            with self._lock:
                last = self._memory.get(subject)
                if last is not None and now - last < self.period:
                    return False
                self._memory[subject] = now
                return True
        from ai_core.storage.sql import dialect_insert_for

        with self.database.write() as conn:
            first = conn.execute(
                dialect_insert_for(conn.dialect.name, _marks)
                .values(subject=subject, sent_at=now, suppressed=0)
                .on_conflict_do_nothing()
                .returning(_marks.c.subject)
            ).first()
            if first is not None:  # the first message of this subject
                return True
            query = select(_marks.c.sent_at).where(_marks.c.subject == subject)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update()  # two processes deciding at once: one sends
            last = as_utc(conn.execute(query).scalar_one())
            if last is not None and now - last < self.period:
                conn.execute(
                    update(_marks).where(_marks.c.subject == subject).values(suppressed=_marks.c.suppressed + 1)
                )
                return False
            conn.execute(update(_marks).where(_marks.c.subject == subject).values(sent_at=now, suppressed=0))
            return True


class Notifier(BoundHandler):
    """Sync on the event worker (counting and deduplicating cost microseconds); the sends
    themselves run on a loop thread of their own, started at the first one."""

    def __init__(self, services: Services, settings: NotificationSettings) -> None:
        self.services = services
        self.settings = settings
        self.marks = DedupeMarks(services.database, settings.dedupe_seconds)
        self.error_rate = ErrorRate(settings)
        self.endpoints = {endpoint.name: endpoint for endpoint in services.settings.webhooks}
        self._loop = LoopThread("ai-core-notifications")
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0

    def __call__(self, event: Event) -> None:
        found = self._subject(event)
        if found is None or not self.marks.claim(found[0]):
            return
        with self._lock:
            self._pending += 1
            portal = self._loop.portal or self._loop.start()
        portal.start_task_soon(self._send, event.name, event.id, *found)

    async def _send(self, event_name: str, event_id: str, subject: str, title: str, text: str) -> None:
        try:
            data = {"event": event_name, "event_id": event_id}
            for channel in self.settings.channels:
                status, code, error = "delivered", None, None
                try:
                    with anyio.fail_after(channel.timeout + 5):
                        code = await send_notification(channel, f"[ai-core] {title}", text, data, self.endpoints)
                except Exception as exc:  # one channel failing must not stop the others
                    status, error = "failed", f"{type(exc).__name__}: {exc}"
                    log.warning("notification_failed", channel=channel.label(), subject=subject, error=error)
                events = self.services.events
                if events.wants(ExternalIntegrationTriggered):
                    events.emit(ExternalIntegrationTriggered(
                        integration="notification", target=channel.label(), status=status, event_name=event_name,
                        event_id=event_id, status_code=code, error=error,
                    ))  # fmt: skip
        finally:
            with self._lock:
                self._pending -= 1
                self._idle.notify_all()

    def drain(self, timeout: float | None = 30) -> bool:
        """Wait until every notification decided on is sent (or failed)."""
        with self._lock:
            return self._idle.wait_for(lambda: self._pending <= 0, timeout=timeout)

    def close(self, timeout: float | None = 10) -> None:
        self.drain(timeout)
        self._loop.stop()

    def _subject(self, event: Event) -> tuple[str, str, str] | None:
        if isinstance(event, RequestFailed | MessageAdded):
            if isinstance(event, MessageAdded) and (event.role != "assistant" or not event.provider):
                return None
            provider = event.provider or ""
            spike = self.error_rate.add(provider, isinstance(event, RequestFailed), time.monotonic())
            if spike is None:
                return None
            failures, total = spike
            window = self.settings.error_rate_window
            text = (
                f"{failures} of the last {total} calls to {provider!r} failed within {window:g} s "
                f"({failures * 100 // total}%; the alert threshold is {self.settings.error_rate_threshold:.0%})"
            )
            return f"error_rate:{provider}", f"Error rate of {provider} at {failures * 100 // total}%", text
        return describe(event)
