"""Event-loop threads that never keep the interpreter alive.

anyio's ``start_blocking_portal`` runs its loop in a non-daemon thread, and
Python joins non-daemon threads *before* running ``atexit`` handlers: a user
who forgets ``ai.close()`` would hang at exit, and our exit-time event drain
would never run. These loops run in daemon threads instead; ai-core's own
``atexit`` handler drains and stops them in order.
"""

from __future__ import annotations

import threading
from typing import Any

import anyio
from anyio.from_thread import BlockingPortal

__all__ = ["LoopThread"]


class LoopThread:
    """An asyncio loop in a daemon thread, driven through an anyio portal."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.portal: BlockingPortal | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> BlockingPortal:
        ready = threading.Event()
        failure: list[BaseException] = []

        async def host() -> None:
            try:
                async with BlockingPortal() as portal:
                    self.portal = portal
                    ready.set()
                    await portal.sleep_until_stopped()
            except BaseException as exc:  # surface start-up failures to the caller
                failure.append(exc)
                ready.set()
                raise

        self._thread = threading.Thread(target=anyio.run, args=(host,), name=self.name, daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        assert self.portal is not None
        return self.portal

    def stop(self, timeout: float | None = 10) -> None:
        portal, thread = self.portal, self._thread
        self.portal, self._thread = None, None
        if portal is None or thread is None:
            return
        if threading.current_thread() is thread:
            raise RuntimeError(f"{self.name} cannot stop itself from its own loop")
        try:
            portal.call(portal.stop, False)
        except RuntimeError:  # already stopped
            pass
        thread.join(timeout)

    @property
    def running(self) -> bool:
        return self.portal is not None

    def call(self, func: Any, *args: Any) -> Any:
        assert self.portal is not None
        return self.portal.call(func, *args)
