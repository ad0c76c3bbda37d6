"""Finish a piece of bookkeeping even when the caller is cancelled.

``with anyio.CancelScope(shield=True)`` keeps anyio's own cancel scopes out,
but not asyncio's native cancellation: ``asyncio.gather`` cancelling its
children, ``asyncio.wait_for`` and ``asyncio.timeout`` running out, Ctrl-C in
``asyncio.run`` and any ``task.cancel()`` throw ``CancelledError`` straight
into whatever the task awaits, shield or not. A ledger write or a hold's
release interrupted that way is half done: the worker thread still writes, but
the caller never learns the message id, and a hold stays taken until its lease
runs out.

:func:`shielded` runs such work so that it always finishes. On asyncio it runs
in a task of its own, which no cancellation of the caller reaches; the caller
waits for it to end and only then takes its cancellation. On trio a shielded
scope is enough against cancellation (trio has no other way to cancel), and the work
is protected from Ctrl-C, which trio would otherwise raise in the middle of it.
:func:`wait_shielded` lets
:meth:`AI.aclose <ai_core.AI.aclose>` wait for work still finishing before it
closes the database under it.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import anyio
import sniffio

__all__ = ["shielded", "wait_shielded"]

T = TypeVar("T")

_running: set[asyncio.Task[Any]] = set()  # finishing, on any loop: aclose waits for its own loop's


async def shielded(fn: Callable[..., Coroutine[Any, Any, T]], /, *args: Any, **kwargs: Any) -> T:
    """``await fn(*args, **kwargs)`` to its end whatever cancels the caller meanwhile;
    then the caller's cancellation (if any) is raised, else ``fn``'s result or error."""
    # anyio's scopes cancel again at every wait until the scope is left: shielded from them,
    # the next shielded piece of the same cleanup (an ``except`` block) still runs whole.
    with anyio.CancelScope(shield=True):
        if sniffio.current_async_library() == "trio":
            result = await _ki_protected(fn, args, kwargs)
        elif sniffio.current_async_library() != "asyncio":
            result = await fn(*args, **kwargs)
        else:
            task = _Finishing(fn(*args, **kwargs), loop=asyncio.get_running_loop(), **_EAGER)
            if not task.done():
                _running.add(task)
                task.add_done_callback(_finished)
            result = await task
    return result


class _Finishing(asyncio.Task):  # type: ignore[type-arg]
    """A task that cancelling refuses: cancelling the task that awaits it (asyncio
    passes a cancellation on to what a task awaits) marks that task to be cancelled
    as soon as this one has ended, and nothing else. One task and no extra waiter:
    the cheapest way found (``asyncio.shield`` or ``asyncio.wait`` cost a third more,
    measured)."""

    def cancel(self, msg: Any = None) -> bool:
        return False


async def _run(fn: Callable[..., Coroutine[Any, Any, T]], args: Any, kwargs: Any) -> T:
    return await fn(*args, **kwargs)


_ki_protected_run: Any = None


def _ki_protected(fn: Callable[..., Coroutine[Any, Any, T]], args: Any, kwargs: Any) -> Coroutine[Any, Any, T]:
    """On trio, Ctrl-C raises ``KeyboardInterrupt`` in whatever code runs at that instant,
    any task, shield or not, unless that code is protected: then trio hands it to the main
    task at its next wait instead (which cancels the rest, shields respected). trio is
    imported here, on trio, never at import: an asyncio program does not load it."""
    global _ki_protected_run
    if _ki_protected_run is None:
        import trio.lowlevel

        _ki_protected_run = trio.lowlevel.enable_ki_protection(_run)
    result: Coroutine[Any, Any, T] = _ki_protected_run(fn, args, kwargs)
    return result


# Python 3.12+ runs the work in the caller's turn of the loop until it first waits.
_EAGER: dict[str, Any] = {"eager_start": True} if sys.version_info >= (3, 12) else {}


def _finished(task: asyncio.Task[Any]) -> None:
    _running.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: when the awaiter was cancelled, nobody else will


async def wait_shielded() -> None:
    """Wait for the shielded work on this loop to end (bound it with a cancel scope)."""
    if sniffio.current_async_library() != "asyncio":
        return  # trio: shielded work runs in the task that asked for it, which has ended
    loop = asyncio.get_running_loop()
    mine = [task for task in _running if task.get_loop() is loop and task is not asyncio.current_task()]
    if mine:
        await asyncio.wait(mine)
