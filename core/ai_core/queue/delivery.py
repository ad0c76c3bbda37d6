"""Run one queued event through one listener, once in effect.

The worker calls :func:`deliver_once` for every ``ai_core_deliver`` message:

1. an event whose marker exists (its effect is committed) is acknowledged and skipped;
2. the listener runs; :func:`delivery_connection` gives it a write transaction
   that is opened on first use and held until the listener returns;
3. the marker is inserted in that same transaction, which then commits; a twin
   that got there first makes it roll back instead.

A worker killed anywhere before the commit leaves neither the effect nor the
marker, and Dramatiq (which acknowledges late) hands the message out again; one
killed after the commit leaves the marker, so the redelivery is skipped. Side
effects outside the database (an e-mail, a webhook) are at least once: a
listener dedupes those itself, keyed on ``event.id``.
"""

from __future__ import annotations

import contextvars
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ai_core.events.types import Event, event_types
from ai_core.logging import get_logger
from ai_core.queue.processed import is_processed, mark_processed

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from ai_core.events.listener import Listener
    from ai_core.storage.database import Database

__all__ = ["Delivery", "deliver_once", "delivery_connection", "event_class"]

log = get_logger("ai_core.queue")

_current: contextvars.ContextVar[Delivery | None] = contextvars.ContextVar("ai_core_delivery", default=None)


@dataclass
class Delivery:
    """One event on its way through one listener, with its lazily opened transaction."""

    database: Database
    event_id: str
    event_name: str
    listener: str
    _scope: AbstractContextManager[Connection] | None = field(default=None, repr=False)
    _conn: Connection | None = field(default=None, repr=False)

    def connection(self) -> Connection:
        if self._conn is None:
            self._scope = self.database.write()
            self._conn = self._scope.__enter__()
        return self._conn

    def commit(self) -> bool:
        """Write the marker with the listener's writes; False (and nothing kept) if a twin was first."""
        conn = self.connection()
        assert self._scope is not None
        scope, self._scope, self._conn = self._scope, None, None
        try:
            first = mark_processed(conn, self.event_id, self.listener, self.event_name)
            if not first:
                raise _Twin
        except _Twin:
            scope.__exit__(_Twin, _Twin(), None)
            return False
        except BaseException as exc:
            scope.__exit__(type(exc), exc, exc.__traceback__)
            raise
        scope.__exit__(None, None, None)
        return True

    def abort(self, exc: BaseException) -> None:
        if self._scope is not None:
            scope, self._scope, self._conn = self._scope, None, None
            scope.__exit__(type(exc), exc, exc.__traceback__)


class _Twin(Exception):
    """Another delivery of the same event committed first."""


def delivery_connection() -> Connection | None:
    """The write transaction of the queued delivery running in this thread, or None outside one.

    Write a listener's database effects through it and they commit together
    with the event's processed-marker, so a redelivered event changes nothing
    twice. Outside a worker (listeners running in process) it is None.
    """
    delivery = _current.get()
    return delivery.connection() if delivery is not None else None


def event_class(name: str) -> type[Event]:
    """The event type called ``name`` (core's, or any imported subclass of :class:`Event`)."""
    for kind in event_types():
        if kind.name == name:
            return kind
    todo = list(Event.__subclasses__())
    while todo:
        kind = todo.pop()
        if kind.name == name:
            return kind
        todo.extend(kind.__subclasses__())
    raise LookupError(f"unknown event type {name!r}")


def deliver_once(
    database: Database, listener: Listener, key: str, event_name: str, payload: str, *, async_backend: str = "asyncio"
) -> bool:
    """Run ``listener`` on the event in ``payload`` unless done before; True when it ran and committed."""
    event = event_class(event_name).model_validate_json(payload)
    with database.read() as conn:
        if is_processed(conn, event.id, key):
            log.info("event_already_processed", event_name=event_name, event_id=event.id, listener=key)
            return False
    delivery = Delivery(database, event.id, event_name, key)
    token = _current.set(delivery)
    try:
        if listener.is_async:
            import anyio

            anyio.run(_run_async, listener, event, backend=async_backend)
        else:
            listener.handler(event)
        committed = delivery.commit()
    except BaseException as exc:
        delivery.abort(exc)
        raise
    finally:
        _current.reset(token)
    if not committed:
        log.info("event_processed_by_twin", event_name=event_name, event_id=event.id, listener=key)
    return committed


async def _run_async(listener: Listener, event: Any) -> None:
    import anyio

    # anyio.run starts a fresh context copy: the delivery set by the caller is visible here.
    with anyio.fail_after(listener.timeout):
        await listener.handler(event)
