"""Deliver events to listeners in the background.

The caller never waits for listeners. Events go to one dispatcher thread that
runs its own event loop (started on the first event, never at import), so
delivery works the same whether the application uses asyncio, trio or no loop
at all. Sync listeners run in worker threads, async ones in the dispatcher's
loop under a timeout; a failing listener is logged and the others still run.
:meth:`EventDispatcher.drain` waits for everything pending, and ``close`` (also
run at interpreter exit) drains before stopping, so no event is lost at exit.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from collections.abc import Iterable
from typing import Any

import anyio
import anyio.to_thread

from ai_core.events.listener import Listener
from ai_core.events.types import Event
from ai_core.logging import get_logger
from ai_core.threads import LoopThread

__all__ = ["EventDispatcher"]

log = get_logger("ai_core.events")

_live: weakref.WeakSet[EventDispatcher] = weakref.WeakSet()


def _close_all_at_exit() -> None:
    for dispatcher in list(_live):
        dispatcher.close(timeout=10)


atexit.register(_close_all_at_exit)


class EventDispatcher:
    """Fan events out to listeners without blocking the emitter."""

    def __init__(self, listeners: Iterable[Listener] = ()) -> None:
        self._listeners: list[Listener] = list(listeners)
        self._wants: dict[type[Event], bool] = {}
        self._lock = threading.Lock()
        self._loop = LoopThread("ai-core-events")
        self._pending = 0
        self._idle = threading.Condition(self._lock)
        self._closed = False
        self.delivered = 0
        self.failures = 0

    # -- listeners ---------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        with self._lock:
            self._listeners = [*self._listeners, listener]
            self._wants = {}

    def remove_listener(self, listener: Listener) -> None:
        with self._lock:
            self._listeners = [item for item in self._listeners if item is not listener]
            self._wants = {}

    def wants(self, event_type: type[Event]) -> bool:
        """Whether any listener takes ``event_type``: lets emitters skip building
        events nobody listens to, which keeps the hot path cheap."""
        answer = self._wants.get(event_type)
        if answer is None:
            answer = self._wants[event_type] = any(issubclass(event_type, item.events) for item in self._listeners)
        return answer

    @property
    def listeners(self) -> list[Listener]:
        return list(self._listeners)

    # -- emitting ----------------------------------------------------------

    def emit(self, event: Event) -> None:
        """Queue ``event`` for every interested listener and return at once."""
        targets = [listener for listener in self._listeners if listener.accepts(event)]
        if not targets or self._closed:
            return
        portal = self._ensure_started()
        with self._lock:
            self._pending += len(targets)
        for listener in targets:
            try:
                portal.start_task_soon(self._deliver, listener, event)
            except RuntimeError:  # the portal stopped under us (interpreter exit)
                self._done()

    async def _deliver(self, listener: Listener, event: Event) -> None:
        try:
            if listener.is_async:
                with anyio.fail_after(listener.timeout):
                    await listener.handler(event)
            else:
                await anyio.to_thread.run_sync(listener.handler, event, abandon_on_cancel=True)
            self.delivered += 1
        except Exception as exc:  # isolation: one listener never breaks another
            self.failures += 1
            log.warning(
                "listener_failed", listener=listener.name, event=event.name, error=f"{type(exc).__name__}: {exc}"
            )
        finally:
            self._done()

    def _done(self) -> None:
        with self._lock:
            self._pending -= 1
            if self._pending <= 0:
                self._idle.notify_all()

    def _ensure_started(self) -> Any:
        portal = self._loop.portal
        if portal is not None:
            return portal
        with self._lock:
            if self._loop.portal is None:
                self._loop.start()
                _live.add(self)
            return self._loop.portal

    # -- shutdown ----------------------------------------------------------

    @property
    def pending(self) -> int:
        return self._pending

    def drain(self, timeout: float | None = 30) -> bool:
        """Block until every queued event is delivered; False on timeout."""
        with self._lock:
            return self._idle.wait_for(lambda: self._pending <= 0, timeout=timeout)

    async def adrain(self, timeout: float | None = 30) -> bool:  # noqa: ASYNC109 - waits on a thread, not a task
        return await anyio.to_thread.run_sync(self.drain, timeout)

    def close(self, timeout: float | None = 30) -> None:
        """Drain, then stop the dispatcher thread. Later events are dropped."""
        if self._closed:
            return
        self.drain(timeout)
        self._closed = True
        self._loop.stop()
        _live.discard(self)
