"""Run async code from sync callers, even inside a running event loop.

Each :class:`ai_core.AI` owns one loop thread, started on the first sync call.
Sync calls hop onto it, so they work the same in a script, a thread pool or a
Jupyter cell whose loop is already running, and every pooled HTTP client made
for sync use lives on that one loop.

A ``KeyboardInterrupt`` (Ctrl-C) or any other exception raised in the calling
thread while it waits is turned into a cancellation of the task on the loop:
the task, and the async generator it is stepping, run their cleanup there
(``finally`` blocks, shielded work such as recording what a stream delivered),
and only then does the caller get its ``KeyboardInterrupt`` back. A second
Ctrl-C stops waiting for that cleanup.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any, TypeVar

from ai_core.threads import LoopThread

__all__ = ["SyncBridge"]

T = TypeVar("T")
_DONE = object()


class SyncBridge:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop = LoopThread("ai-core-sync")

    def _get_portal(self) -> Any:
        portal = self._loop.portal
        if portal is None:
            with self._lock:
                portal = self._loop.portal or self._loop.start()
        return portal

    @property
    def started(self) -> bool:
        return self._loop.running

    def call(self, func: Callable[..., Awaitable[T]], *args: Any) -> T:
        """``await func(*args)`` on the loop thread, and wait for it here."""
        return self._run(self._get_portal(), func, *args)  # type: ignore[no-any-return]

    def iterate(self, factory: Callable[[], AsyncIterator[T]]) -> Iterator[T]:
        """Drive an async iterator from sync code, one item per hop.

        Leaving early (``break``, an exception in the loop body, closing this
        generator) closes the async iterator on its loop; an interrupt while an
        item is awaited cancels that step there instead, which ends the async
        iterator with its cleanup done.
        """
        portal = self._get_portal()
        iterator = factory()
        ended = False  # the async iterator finished (exhausted, failed or cancelled)
        stepping = False  # a step is running on the loop (set and cleared there)

        async def step() -> Any:
            nonlocal ended, stepping
            stepping = True
            try:
                return await iterator.__anext__()
            except StopAsyncIteration:
                ended = True
                return _DONE
            except BaseException:
                ended = True
                raise
            finally:
                stepping = False

        try:
            while True:
                item = self._run(portal, step)
                if item is _DONE:
                    return
                yield item
        finally:
            # Left between items (a break, an exception in the caller's loop body,
            # an interrupt that came as a step finished): close it on its loop. A
            # step still running (a second Ctrl-C cut the wait) owns it.
            close = getattr(iterator, "aclose", None)
            if not ended and not stepping and close is not None:
                self._run(portal, close)

    @staticmethod
    def _run(portal: Any, func: Callable[..., Any], *args: Any) -> Any:
        """Run ``func`` as a task on the portal's loop and wait for its result.

        If this thread is interrupted while waiting (a signal handler raising
        ``KeyboardInterrupt``), cancel the task and wait until it has finished
        its cleanup on the loop, then re-raise the interrupt. An interrupt that
        comes while the task is being handed to the loop is held until it has
        been (otherwise the task would run on, unowned). SIGTERM, where a
        handler turns it into an exception (``ai`` does), is treated the same.
        """
        cleaned = threading.Event()

        async def task() -> Any:
            try:
                return await func(*args)
            finally:
                cleaned.set()

        future: Future[Any] | None = None
        try:
            with _held_interrupts():  # a signal held here is raised on leaving, with the task owned
                future = portal.start_task_soon(task)
            return future.result()
        except BaseException:
            if future is None or future.done():  # never started, or its own outcome (or it just ended)
                raise
            future.cancel()  # the portal cancels the task's scope on the loop thread
            try:
                cleaned.wait()
            except BaseException:  # a second interrupt: stop waiting for the cleanup
                pass
            raise

    def close(self) -> None:
        with self._lock:
            self._loop.stop()


_HELD_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM") if hasattr(signal, name))


@contextmanager
def _held_interrupts() -> Iterator[list[int]]:
    """Hold Ctrl-C (and SIGTERM) while a task is handed to the loop.

    A signal whose Python handler raises (``KeyboardInterrupt``, or the CLI's
    SIGTERM handler) must not interrupt the hand-over: the task would start
    with nobody owning it. So for the duration of the block each such handler
    is replaced by one that notes the signal; afterwards the original handler
    is called for each signal noted, raising where the caller can cancel the
    task. Only in the main thread, the one Python runs signal handlers in.
    """
    held: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield held
        return
    previous = {number: signal.getsignal(number) for number in _HELD_SIGNALS}
    replaced = {number: handler for number, handler in previous.items() if callable(handler)}
    for number in replaced:
        signal.signal(number, lambda number, frame: held.append(number))
    try:
        yield held
    finally:
        for number, handler in replaced.items():
            signal.signal(number, handler)
    for number in held:
        replaced[number](number, None)
