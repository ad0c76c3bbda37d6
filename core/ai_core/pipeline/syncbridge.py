"""Run async code from sync callers, even inside a running event loop.

Each :class:`ai_core.AI` owns one loop thread, started on the first sync call.
Sync calls hop onto it, so they work the same in a script, a thread pool or a
Jupyter cell whose loop is already running, and every pooled HTTP client made
for sync use lives on that one loop.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
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
        return self._get_portal().call(func, *args)  # type: ignore[no-any-return]

    def iterate(self, factory: Callable[[], AsyncIterator[T]]) -> Iterator[T]:
        """Drive an async iterator from sync code, one item per hop."""
        portal = self._get_portal()
        iterator = factory()

        async def step() -> Any:
            try:
                return await iterator.__anext__()
            except StopAsyncIteration:
                return _DONE

        finished = False
        try:
            while True:
                item = portal.call(step)
                if item is _DONE:
                    finished = True
                    return
                yield item
        finally:
            close = getattr(iterator, "aclose", None)
            if not finished and close is not None:
                portal.call(close)

    def close(self) -> None:
        with self._lock:
            self._loop.stop()
