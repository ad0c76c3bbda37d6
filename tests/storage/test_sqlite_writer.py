"""File SQLite's writer: on the event loop when nothing waits, in a worker thread when a lock is
taken (by another process here), never blocking the loop, and checkpoints outside commits."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from pathlib import Path

import anyio
import pytest
from sqlalchemy import func, select, table

from ai_core.storage import sqlite_writer
from ai_core.storage.database import Database
from ai_core.storage.fastsql import RawTransaction

pytestmark = pytest.mark.anyio

_HOLD_THE_LOCK = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
connection.execute("COMMIT")
"""


@pytest.fixture
def sqlite_database(sqlite_template: Path, tmp_path: Path):
    target = tmp_path / "ai-core.db"
    shutil.copyfile(sqlite_template, target)
    database = Database.open(f"sqlite:///{target}")
    yield database
    database.close()


def _where(threads: list[int]):
    def job(tx: RawTransaction) -> None:
        threads.append(threading.get_ident())
        tx.cursor.execute(
            "INSERT INTO ai_processed_events (event_id, listener, event_name, processed_at)"
            " VALUES (?, 'test', 'Test', '2026-01-01 00:00:00.000000')",
            (f"e{len(threads)}",),
        )

    return job


def _stored(database: Database) -> int:
    with database.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table("ai_processed_events"))).scalar_one())


async def test_a_write_with_nothing_in_its_way_runs_on_the_event_loop(sqlite_database: Database) -> None:
    threads: list[int] = []
    for _ in range(3):
        await sqlite_database.write_job(_where(threads))
    # The first write opens the connection in a worker thread; the next ones need no thread hop.
    assert threads[1:] == [threading.get_ident()] * 2
    assert _stored(sqlite_database) == 3


async def test_while_another_process_holds_the_database_the_write_waits_off_the_loop(
    sqlite_database: Database,
) -> None:
    threads: list[int] = []
    await sqlite_database.write_job(_where(threads))  # the kept writer exists now
    path = str(sqlite_database.url.database)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_THE_LOCK, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        ticks = 0
        written = anyio.Event()

        async def write() -> None:
            await sqlite_database.write_job(_where(threads))
            written.set()

        async with anyio.create_task_group() as group:
            group.start_soon(write)
            while ticks < 20:  # the loop keeps running while the write waits for the other process
                await anyio.sleep(0.01)
                ticks += 1
            assert not written.is_set()
            assert holder.stdin is not None
            holder.stdin.write("\n")
            holder.stdin.flush()
        assert ticks == 20
        assert threads[-1] != threading.get_ident()
        assert _stored(sqlite_database) == 2
    finally:
        holder.kill()
        holder.wait()


async def test_checkpoints_run_in_their_own_thread_not_in_a_commit(
    sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_writer, "COMMITS_PER_CHECKPOINT", 3)
    threads: list[int] = []
    for _ in range(10):
        await sqlite_database.write_job(_where(threads))
    writer = sqlite_database._writer
    cursor = writer.cursor()
    assert cursor.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    cursor.close()
    with anyio.fail_after(10):
        while sqlite_database._checkpointer.checkpoints < 1:
            await anyio.sleep(0.01)
    assert _stored(sqlite_database) == 10


async def test_a_connection_the_writer_gives_back_waits_for_locks_again(sqlite_database: Database) -> None:
    await sqlite_database.write_job(_where([]))

    def fails(tx: RawTransaction) -> None:
        raise RuntimeError("the job fails")

    with pytest.raises(RuntimeError):
        await sqlite_database.write_job(fails)
    assert sqlite_database._writer is None
    # The pool hands the retired connection out again, with the busy timeout every connection has.
    timeouts = []
    for _ in range(12):
        with sqlite_database.read() as conn:
            timeouts.append(conn.exec_driver_sql("PRAGMA busy_timeout").scalar())
            checkpoints = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
            assert checkpoints == 1000
    assert set(timeouts) == {sqlite_database._busy_ms}


# asyncio delivers the first Ctrl-C as a cancellation of the main task, never inside a write;
# trio raises KeyboardInterrupt wherever the code is not protected from it.
@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_under_trio_ctrl_c_cannot_land_inside_a_ledger_write(sqlite_database: Database) -> None:
    import trio.lowlevel

    seen: list[bool] = []
    await sqlite_database.write_job(_where([]))

    def job(tx: RawTransaction) -> None:
        seen.append(trio.lowlevel.currently_ki_protected())

    await sqlite_database.write_job(job)
    assert seen == [True]
