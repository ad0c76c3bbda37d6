"""Deliver events to listeners in the background.

The caller never waits for listeners: :meth:`EventDispatcher.emit` puts the
event on a queue and returns. One daemon worker thread (started on the first
event, never at import) takes events off the queue and calls sync listeners
there, off every event loop; async listeners are handed to a second daemon
thread running an event loop, under their timeout. Either way a failing
listener is logged and counted and the others still run.

One queue hop per event is deliberate: a loop hop plus a worker-thread hop per
listener cost about 1 ms of CPU per request with a single listener attached
(benchmarks/bench_openai.py); the queue costs a few microseconds.

:meth:`drain` waits for everything pending; ``close`` (also run at interpreter
exit) drains before stopping, so no event is lost at exit.
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from collections import deque
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
_STOP = object()


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
        self._idle = threading.Condition(self._lock)
        self._queue: deque[Any] = deque()
        self._wake = threading.Event()
        self._worker: threading.Thread | None = None
        self._async_loop = LoopThread("ai-core-events-async")
        self._pending = 0
        self._closed = False
        self.delivered = 0
        self.failures = 0
        self.relay: Any = None
        """Where listeners that run elsewhere get events (:class:`ai_core.queue.relay.QueueRelay`), or None."""

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
            answer = any(issubclass(event_type, item.events) for item in self._listeners)
            answer = self._wants[event_type] = answer or (self.relay is not None and self.relay.wants(event_type))
        return answer

    @property
    def listeners(self) -> list[Listener]:
        return list(self._listeners)

    # -- emitting ----------------------------------------------------------

    def emit(self, event: Event) -> None:
        """Queue ``event`` for every interested listener and return at once."""
        if self._closed or not self.wants(type(event)):
            return
        with self._lock:
            self._pending += 1
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="ai-core-events", daemon=True)
                self._worker.start()
                _live.add(self)
        self._queue.append(event)
        if not self._wake.is_set():  # the worker is asleep: wake it; a busy one finds the event anyway
            self._wake.set()

    batch_window = 0.002
    """Seconds the worker lets events gather after waking: waking a thread and
    handing it the GIL per event costs far more CPU than the listeners do."""

    def _work(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(self.batch_window)
            self._wake.clear()
            while self._queue:
                event = self._queue.popleft()
                if event is _STOP:
                    return
                self._dispatch(event)

    def _dispatch(self, event: Event) -> None:
        try:
            if self.relay is not None:  # queued for workers; what cannot be queued runs here
                for listener in self.relay.send(event):
                    self._deliver(listener, event)
            for listener in self._listeners:
                if listener.accepts(event):
                    try:
                        self._deliver(listener, event)
                    except Exception:  # the worker must outlive any failure, even in logging
                        self.failures += 1
        finally:
            self._done()

    def _deliver(self, listener: Listener, event: Event) -> None:
        if listener.is_async:
            with self._lock:
                self._pending += 1
            portal = self._async_loop.portal or self._async_loop.start()
            portal.start_task_soon(self._deliver_async, listener, event)
            return
        try:
            listener.handler(event)
            self.delivered += 1
        except Exception as exc:  # isolation: one listener never breaks another
            self._failed(listener, event, exc)

    async def _deliver_async(self, listener: Listener, event: Event) -> None:
        try:
            with anyio.fail_after(listener.timeout):
                await listener.handler(event)
            self.delivered += 1
        except Exception as exc:
            self._failed(listener, event, exc)
        finally:
            self._done()

    def _failed(self, listener: Listener, event: Event, exc: BaseException) -> None:
        self.failures += 1
        error = f"{type(exc).__name__}: {exc}"
        log.warning("listener_failed", listener=listener.name, event_name=event.name, error=error)

    def _done(self) -> None:
        with self._lock:
            self._pending -= 1
            if self._pending <= 0:
                self._idle.notify_all()

    # -- shutdown ----------------------------------------------------------

    @property
    def pending(self) -> int:
        return self._pending

    def drain(self, timeout: float | None = 30) -> bool:
        """Block until every queued event is delivered, and the quick work of listeners
        that ask for it (``drained_with_events``) is done; False on timeout."""
        with self._lock:
            if not self._idle.wait_for(lambda: self._pending <= 0, timeout=timeout):
                return False
        handlers: list[Any] = [listener.handler for listener in self._listeners]
        return all(handler.drain(timeout) for handler in handlers if getattr(handler, "drained_with_events", False))

    async def adrain(self, timeout: float | None = 30) -> bool:  # noqa: ASYNC109 - waits on a thread, not a task
        return await anyio.to_thread.run_sync(self.drain, timeout)

    def close(self, timeout: float | None = 30) -> None:
        """Drain, then stop the dispatcher threads. Later events are dropped."""
        if self._closed:
            return
        self.drain(timeout)
        self._closed = True
        worker, self._worker = self._worker, None
        if worker is not None and worker is not threading.current_thread():
            self._queue.append(_STOP)
            self._wake.set()
            worker.join(timeout)
        self._async_loop.stop()
        _live.discard(self)
