"""``WebhookListener``: events to HTTP endpoints, signed, retried, recorded, replayable.

Configured endpoints (``[[webhooks]]`` in the config file: name, url, secret,
events, tenant) receive each event they want as a Standard Webhooks request
(:mod:`.webhook_signing`). Delivery happens on a thread of its own with its
own event loop, so a slow or dead receiver never holds up a call, nor the
other listeners: the event worker only hands the event over.

Per endpoint, first attempts go out in the order the events happened; a
failed delivery is retried with exponential backoff (``backoff`` seconds,
doubled each time, at most ``max_backoff``, ``max_attempts`` in all) without
holding up later events. Every delivery is a row of ``ai_webhook_deliveries``
(status, attempts, last status code or error, next try), and each attempt's
outcome is an :class:`~ai_core.events.types.ExternalIntegrationTriggered`
event. Deliveries still pending when the process stops stay ``pending`` with
their next try, and are resumed by the next sender of their endpoint (on
binding to an ``AI`` with a database, then every :data:`RESUME_INTERVAL`
seconds): every attempt first claims its row (a conditional UPDATE moving the
next try to a lease of ``timeout`` + :data:`LEASE_MARGIN` seconds), so two
processes sharing the database never send one delivery at the same time, and
a delivery a dead process left in flight is taken again once its lease ends.
``ai webhooks replay ID`` sends one again now (same ``webhook-id``, so a
receiver that saw it already can drop it).
"""

from __future__ import annotations

import random
import threading
from collections import deque
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from ai_core.events.listener import Listener
from ai_core.events.types import Event, ExternalIntegrationTriggered, event_types
from ai_core.integrations.base import BindableHandler, BoundHandler
from ai_core.integrations.webhook_log import DeliveryLog, MemoryDeliveryLog, delivery_log
from ai_core.integrations.webhook_signing import event_body, signed_headers
from ai_core.logging import get_logger
from ai_core.pipeline.store import new_id
from ai_core.storage.columns import utcnow
from ai_core.threads import LoopThread

if TYPE_CHECKING:
    from ai_core.integrations.settings import WebhookEndpoint
    from ai_core.services import Services

__all__ = [
    "LEASE_MARGIN", "RESUME_INTERVAL", "WebhookListener", "WebhookSender", "backoff_delay", "lease_until",
    "new_delivery", "send_once",
]  # fmt: skip

log = get_logger("ai_core.webhooks")

RESUME_INTERVAL = 30.0
"""Seconds between two looks for pending deliveries that are due (left by this or another process)."""
LEASE_MARGIN = 30.0
"""Seconds beyond the endpoint's ``timeout`` that a claimed delivery stays with the process that claimed it."""
RESUME_BATCH = 100
RESUME_CONCURRENCY = 10


class WebhookListener(BindableHandler):
    """Registered by core's plugin as the listener named ``webhooks``; inert without endpoints."""

    def bind(self, services: Services) -> Listener | None:
        endpoints = list(services.settings.webhooks)
        if not endpoints:
            return None
        wanted = _wanted_types(endpoints)
        if not wanted:
            return None
        sender = WebhookSender(services, endpoints, delivery_log(services.database))
        if services.database is not None:  # deliveries a stopped process left pending are resumed now
            sender.resume()
        return Listener(events=wanted, handler=sender, name="webhooks")


def _wanted_types(endpoints: list[WebhookEndpoint]) -> tuple[type[Event], ...]:
    """The event classes some endpoint wants; never the webhook's own outcome events (a loop)."""
    names = {name for endpoint in endpoints for name in endpoint.events}
    return tuple(
        cls for cls in event_types()
        if cls is not ExternalIntegrationTriggered and ("*" in names or cls.name in names)
    )  # fmt: skip


def _client() -> Any:
    """A pooled client on the running loop (aiohttp underneath on asyncio: far less CPU per request)."""
    from ai_core.drivers.http import ClientOptions, build_client

    return build_client(ClientOptions(name="webhooks", max_connections=20, max_keepalive=20))


def backoff_delay(endpoint: WebhookEndpoint, attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failed ones, jittered by +-20%."""
    base: float = min(endpoint.max_backoff, endpoint.backoff * 2 ** (attempts - 1))
    return base * (0.8 + 0.4 * random.random())


def lease_until(endpoint: WebhookEndpoint, now: datetime) -> datetime:
    """Until when a delivery claimed at ``now`` is this process's: no other one takes it before."""
    return now + timedelta(seconds=endpoint.timeout + LEASE_MARGIN)


def new_delivery(
    endpoint: WebhookEndpoint, event_id: str, event_name: str, tenant: str | None, body: str
) -> dict[str, Any]:
    """A new row, claimed by its maker for the first attempt (its next try is the lease's end)."""
    now = utcnow()
    return {
        "id": new_id(), "endpoint": endpoint.name, "url": endpoint.url, "tenant": tenant, "event_id": event_id,
        "event_name": event_name, "payload": body, "status": "pending", "attempts": 0, "last_status_code": None,
        "last_error": None, "next_attempt_at": lease_until(endpoint, now), "created_at": now, "updated_at": now,
        "delivered_at": None,
    }  # fmt: skip


async def send_once(
    client: Any, endpoint: WebhookEndpoint, delivery_id: str, body: str
) -> tuple[int | None, str | None]:
    """POST one signed attempt: (status code, error); error is None on a 2xx answer."""
    from ai_core.drivers.http import HTTPError

    headers = signed_headers(endpoint.secret.get_secret_value(), delivery_id, body)
    try:
        response = await client.post(endpoint.url, content=body.encode(), headers=headers, timeout=endpoint.timeout)
    except HTTPError as exc:
        return None, f"{type(exc).__name__}: {str(exc)[:200]}"
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, f"HTTP {response.status_code}"


def outcome(endpoint: WebhookEndpoint, row: dict[str, Any], code: int | None, error: str | None) -> dict[str, Any]:
    """The row's new values after one attempt."""
    now, attempts = utcnow(), row["attempts"] + 1
    values: dict[str, Any] = {"attempts": attempts, "last_status_code": code, "last_error": error, "updated_at": now}
    if error is None:
        values.update(status="delivered", delivered_at=now, next_attempt_at=None)
    elif attempts >= endpoint.max_attempts:
        values.update(status="failed", next_attempt_at=None)
    else:
        values.update(status="pending", next_attempt_at=now + timedelta(seconds=backoff_delay(endpoint, attempts)))
    return values


class WebhookSender(BoundHandler):
    """One ``AI`` instance's deliveries: a daemon thread with its own loop and HTTP client."""

    def __init__(self, services: Services, endpoints: list[WebhookEndpoint], deliveries: DeliveryLog) -> None:
        self.services = services
        self.endpoints = endpoints
        self.log = deliveries
        self._loop = LoopThread("ai-core-webhooks")
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._first_attempts = 0  # handed over, first attempt not finished: what close() waits for
        self._queues: dict[str, deque[tuple[str, str, str | None, str]]] = {}
        self._inbox: deque[tuple[WebhookEndpoint, str, str, str | None, str]] = deque()
        self._pumping = False
        self._consuming: set[str] = set()
        self._group: Any = None
        self._client: Any = None
        self._closed = False
        self._resuming = False
        self._resumed: set[str] = set()  # ids a resume task holds (queued or in flight)
        self.resume_interval = RESUME_INTERVAL

    # -- the event worker's side ------------------------------------------------------

    def __call__(self, event: Event) -> None:
        tenant = getattr(event, "tenant", None)
        targets = [endpoint for endpoint in self.endpoints if endpoint.wants(event.name, tenant)]
        if not targets or self._closed:
            return
        body = event_body(event)
        portal = self._loop.portal or self._start()
        with self._lock:
            self._pending += len(targets)
            self._first_attempts += len(targets)
            self._inbox.extend((endpoint, event.id, event.name, tenant, body) for endpoint in targets)
            wake = not self._pumping
            self._pumping = True
        if wake:  # one hop into the loop per burst of events, not per event
            portal.start_task_soon(self._pump)

    def _start(self) -> Any:
        with self._lock:
            if self._loop.portal is not None:
                return self._loop.portal
            portal = self._loop.start()
            ready = threading.Event()
            portal.start_task_soon(self._main, ready)
            ready.wait()
            return portal

    def resume(self) -> None:
        """Start the delivery thread now, and with it the looks for due pending deliveries
        (the first one counts as pending work: :meth:`drain` waits for it and what it found)."""
        with self._lock:
            self._resuming = True
            self._pending += 1  # the first look
        self._start()

    async def _main(self, ready: threading.Event) -> None:
        self._client = _client()
        async with anyio.create_task_group() as group:
            self._group = group
            if self._resuming:  # _start holds the lock until ready: resume() counted the first look
                group.start_soon(self._resume_loop)
            ready.set()
            await anyio.sleep_forever()

    # -- the delivery loop ------------------------------------------------------------

    async def _pump(self) -> None:
        """Move what the event worker handed over to each endpoint's queue, in order."""
        while True:
            with self._lock:
                if not self._inbox:
                    self._pumping = False
                    return
                items, self._inbox = self._inbox, deque()
            for endpoint, event_id, name, tenant, body in items:
                self._queues.setdefault(endpoint.name, deque()).append((event_id, name, tenant, body))
                if endpoint.name not in self._consuming:
                    self._consuming.add(endpoint.name)
                    self._group.start_soon(self._consume, endpoint)

    async def _consume(self, endpoint: WebhookEndpoint) -> None:
        """First attempts of one endpoint, one at a time, in the order the events happened."""
        queue = self._queues[endpoint.name]
        try:
            while queue:
                item = queue.popleft()
                try:
                    await self._first(endpoint, *item)
                except Exception as exc:  # a broken log must not stop the endpoint's queue
                    log.error("webhook_delivery_failed", endpoint=endpoint.name, error=f"{type(exc).__name__}: {exc}")
                finally:
                    with self._lock:
                        self._first_attempts -= 1
                    self._done()
        finally:
            with self._lock:
                self._consuming.discard(endpoint.name)
                self._idle.notify_all()

    async def _first(self, endpoint: WebhookEndpoint, event_id: str, name: str, tenant: str | None, body: str) -> None:
        row = new_delivery(endpoint, event_id, name, tenant, body)
        await self._logged(self.log.insert, row)
        await self._attempt(endpoint, row)

    async def _attempt(self, endpoint: WebhookEndpoint, row: dict[str, Any]) -> None:
        code, error = await send_once(self._client, endpoint, row["id"], row["payload"])
        values = outcome(endpoint, row, code, error)
        row.update(values)
        await self._logged(lambda: self.log.update(row["id"], **values))
        status = "retrying" if row["status"] == "pending" else row["status"]
        if status != "delivered":
            log.warning("webhook_attempt_failed", endpoint=endpoint.name, delivery=row["id"], status=status,
                        attempts=row["attempts"], error=error)  # fmt: skip
        events = self.services.events
        if events.wants(ExternalIntegrationTriggered):
            events.emit(ExternalIntegrationTriggered(
                integration="webhook", target=endpoint.name, status=status, attempts=row["attempts"],
                event_name=row["event_name"], event_id=row["event_id"], delivery_id=row["id"], status_code=code,
                error=error,
            ))  # fmt: skip
        if row["status"] == "pending":
            delay = (row["next_attempt_at"] - utcnow()).total_seconds()
            with self._lock:
                self._pending += 1
            self._group.start_soon(self._retry, endpoint, row, max(0.0, delay))

    async def _logged(self, write: Any, *args: Any) -> None:
        """A database write in a worker thread; the memory log needs no thread hop."""
        if isinstance(self.log, MemoryDeliveryLog):
            write(*args)
        else:
            await anyio.to_thread.run_sync(write, *args)

    async def _retry(self, endpoint: WebhookEndpoint, row: dict[str, Any], delay: float) -> None:
        try:
            await anyio.sleep(delay)  # due by this timer, even if the wall clock lags a little behind it
            await self._claimed_attempt(endpoint, row["id"], due=row["next_attempt_at"])
        except Exception as exc:
            log.error("webhook_delivery_failed", endpoint=endpoint.name, error=f"{type(exc).__name__}: {exc}")
        finally:
            self._done()

    async def _resume_loop(self) -> None:
        limiter = anyio.CapacityLimiter(RESUME_CONCURRENCY)
        first = True
        while True:
            if not first:
                with self._lock:
                    self._pending += 1
            try:
                await self._resume_due(limiter)
            except Exception as exc:  # a database away for a while: the next look tries again
                log.error("webhook_resume_failed", error=f"{type(exc).__name__}: {exc}")
            finally:
                self._done()
            first = False
            await anyio.sleep(self.resume_interval)

    async def _resume_due(self, limiter: anyio.CapacityLimiter) -> None:
        """Hand each due pending delivery of these endpoints to a task that claims it and tries it."""
        endpoints = {endpoint.name: endpoint for endpoint in self.endpoints}
        due = await anyio.to_thread.run_sync(self.log.due, list(endpoints), utcnow(), RESUME_BATCH)
        for delivery_id, name in due:
            with self._lock:
                if delivery_id in self._resumed:
                    continue
                self._resumed.add(delivery_id)
                self._pending += 1
            self._group.start_soon(self._resume_one, endpoints[name], delivery_id, limiter)

    async def _resume_one(self, endpoint: WebhookEndpoint, delivery_id: str, limiter: anyio.CapacityLimiter) -> None:
        try:
            async with limiter:  # claimed only when it can go out at once: the lease covers the attempt
                await self._claimed_attempt(endpoint, delivery_id)
        except Exception as exc:
            log.error("webhook_delivery_failed", endpoint=endpoint.name, error=f"{type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._resumed.discard(delivery_id)
            self._done()

    async def _claimed_attempt(self, endpoint: WebhookEndpoint, delivery_id: str, due: datetime | None = None) -> None:
        """One attempt, if this process claims the delivery: still pending, and due (another process
        that claimed it meanwhile moved its next try to its lease's end)."""
        now = utcnow()
        claim, at = self.log.claim, now if due is None else max(now, due)
        row = await anyio.to_thread.run_sync(claim, delivery_id, at, lease_until(endpoint, now))
        if row is not None:
            await self._attempt(endpoint, row)

    def _done(self) -> None:
        with self._lock:
            self._pending -= 1
            self._idle.notify_all()

    # -- lifetime ---------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Deliveries queued, being attempted, or waiting for a retry."""
        return self._pending

    def drain(self, timeout: float | None = 30) -> bool:
        """Wait until no delivery is queued, in flight or waiting to be retried; False on timeout."""
        with self._lock:
            return self._idle.wait_for(lambda: self._pending <= 0, timeout=timeout)

    def close(self, timeout: float | None = 10) -> None:
        """Let queued first attempts finish (up to ``timeout``), then stop. Retries
        not yet due stay ``pending`` in the log with their next try."""
        self._closed = True
        portal = self._loop.portal
        if portal is None:
            return
        with self._lock:
            self._idle.wait_for(lambda: self._first_attempts <= 0, timeout=timeout)
        try:
            if self._client is not None:
                portal.call(self._client.aclose)
            if self._group is not None:  # retries not yet due: their rows say when
                portal.call(self._group.cancel_scope.cancel)
        finally:
            self._loop.stop()


async def deliver_now(endpoint: WebhookEndpoint, row: dict[str, Any], deliveries: DeliveryLog) -> dict[str, Any]:
    """One attempt now, outside the retry schedule (``ai webhooks test`` and ``replay``):
    the row ends ``delivered`` or ``failed``."""
    async with _client() as client:
        code, error = await send_once(client, endpoint, row["id"], row["payload"])
    values = outcome(endpoint, row, code, error)
    if error is not None:
        values.update(status="failed", next_attempt_at=None)
    row.update(values)
    await anyio.to_thread.run_sync(lambda: deliveries.update(row["id"], **values))
    return row
