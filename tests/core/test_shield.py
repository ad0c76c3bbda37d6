"""shielded(): bookkeeping runs to its end whatever cancels its caller."""

from __future__ import annotations

import asyncio

import anyio
import anyio.lowlevel
import pytest

from ai_core.shield import shielded, wait_shielded

pytestmark = pytest.mark.anyio


async def test_a_cancelled_scope_waits_for_the_work_then_cancels() -> None:
    done: list[str] = []

    async def write() -> str:
        await anyio.sleep(0.05)
        done.append("written")
        return "id"

    after: list[str] = []
    with anyio.move_on_after(0.01) as scope:
        value = await shielded(write)
        await anyio.lowlevel.checkpoint()  # trio delivers the cancellation here, asyncio already did
        after.append(value)
    assert scope.cancelled_caught and done == ["written"] and after == []


async def test_the_work_s_result_and_error_reach_the_caller() -> None:
    async def value(x: int, *, y: int) -> int:
        await anyio.sleep(0)
        return x + y

    async def fail() -> None:
        raise ValueError("bad row")

    assert await shielded(value, 1, y=2) == 3
    with pytest.raises(ValueError, match="bad row"):
        await shielded(fail)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # trio has no cancellation but its scopes
@pytest.mark.parametrize("times", [1, 3])
async def test_native_asyncio_cancellation_waits_for_the_work(times: int) -> None:
    done: list[str] = []
    started = asyncio.Event()

    async def write() -> None:
        started.set()
        await asyncio.sleep(0.05)
        done.append("written")

    async def caller() -> None:
        await shielded(write)
        done.append("after")  # never: the caller was cancelled

    task = asyncio.ensure_future(caller())
    await started.wait()
    for _ in range(times):  # as asyncio.gather and asyncio.run's Ctrl-C do, maybe more than once
        task.cancel()
        await asyncio.sleep(0.005)
    assert not task.done() and done == []
    with pytest.raises(asyncio.CancelledError):
        await task
    assert done == ["written"]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_wait_shielded_waits_for_work_whose_caller_is_gone() -> None:
    done: list[str] = []

    async def write() -> None:
        await asyncio.sleep(0.05)
        done.append("written")

    task = asyncio.ensure_future(shielded(write))
    await asyncio.sleep(0)
    task.cancel()  # the caller's task ends...
    await asyncio.sleep(0.001)
    assert done == []
    with anyio.fail_after(5):
        await wait_shielded()  # ...what it started is waited for before the database closes
    assert done == ["written"]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_asyncio_timeout_still_times_out_once_the_work_is_done() -> None:
    done: list[str] = []

    async def write() -> None:
        await asyncio.sleep(0.05)
        done.append("written")

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await shielded(write)
    assert done == ["written"]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_cancellation_pending_before_the_work_starts_waits_for_it_too() -> None:
    done: list[str] = []

    async def write() -> None:
        await asyncio.sleep(0.01)
        done.append("written")

    async def caller() -> None:
        current = asyncio.current_task()
        assert current is not None
        current.cancel()  # delivered at this task's next wait: the shielded one
        await shielded(write)

    with pytest.raises(asyncio.CancelledError):
        await asyncio.ensure_future(caller())
    assert done == ["written"]


async def test_every_shielded_step_of_a_cleanup_runs_whole_in_a_cancelled_scope() -> None:
    """anyio cancels again at each wait of a cancelled scope: the second shielded step of an
    ``except`` block ran its work, then the scope's cancellation skipped the rest (a stream
    cut by Ctrl-C in ``ai chat`` lost its ledger row this way)."""
    done: list[str] = []

    async def step(name: str) -> None:
        await anyio.sleep(0.01)
        done.append(name)

    with anyio.move_on_after(0.01):
        try:
            await anyio.sleep_forever()
        except BaseException:
            await shielded(step, "failed attempts")
            await shielded(step, "what was delivered")
            raise
    assert done == ["failed attempts", "what was delivered"]


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_on_trio_the_work_is_protected_from_ctrl_c() -> None:
    """trio raises KeyboardInterrupt in whatever unprotected code runs when Ctrl-C comes, in any
    task and through any shield; protected, it is handed to the main task's next wait instead."""
    import trio.lowlevel

    async def write() -> bool:
        await anyio.sleep(0)
        return trio.lowlevel.currently_ki_protected()

    assert not trio.lowlevel.currently_ki_protected()
    assert await shielded(write)
