"""Run async code from sync callers, even inside a running event loop.

Each :class:`ai_core.AI` owns one loop thread, started on the first sync call.
Sync calls hop onto it, so they work the same in a script, a thread pool or a
Jupyter cell whose loop is already running, and every pooled HTTP client made
for sync use lives on that one loop.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import ExitStack
from typing import Any, TypeVar

import anyio.from_thread

__all__ = ["SyncBridge"]

T = TypeVar("T")
_DONE = object()


class SyncBridge:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stack: ExitStack | None = None
        self._portal: Any = None

    def _get_portal(self) -> Any:
        if self._portal is None:
            with self._lock:
                if self._portal is None:
                    stack = ExitStack()
                    self._portal = stack.enter_context(anyio.from_thread.start_blocking_portal(backend="asyncio"))
                    self._stack = stack
        return self._portal

    @property
    def started(self) -> bool:
        return self._portal is not None

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
            stack, self._stack, self._portal = self._stack, None, None
        if stack is not None:
            stack.close()
