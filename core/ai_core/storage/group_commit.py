"""Group commit for SQLite: concurrent writers share one transaction.

SQLite has one writer at a time, so a thread hop and a BEGIN/COMMIT per
message is mostly overhead when hundreds of conversations write at once.
Here every event loop gets a :class:`WriteBatcher`: a task that wants to
write queues its job; whichever task finds no batch running takes every
queued job to a worker thread and runs them in one transaction, each inside
its own SAVEPOINT, so one failing job rolls back alone and the others commit.
The jobs' callers wake when the batch has committed (or failed).

A task cancelled while its job is still queued takes the job back out: it is
either written whole or not at all, never half.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
import sniffio

from ai_core.shield import shielded
from ai_core.storage.sqlite_writer import WriteBusy

if TYPE_CHECKING:
    from ai_core.storage.database import Database
    from ai_core.storage.fastsql import RawTransaction

__all__ = ["WriteBatcher"]

MAX_BATCH = 256
ALONE_BEFORE_SKIPPING = 8
PROBE = 8


@dataclass
class _Job:
    fn: Callable[[RawTransaction], Any]
    result: Any = None
    error: BaseException | None = None
    done: bool = False
    taken: bool = field(default=False)


class WriteBatcher:
    """Group commit for one event loop: SQLite transactions, or (``statements=True``)
    PostgreSQL one-statement writes sent together in one pipeline."""

    def __init__(self, database: Database, *, statements: bool = False) -> None:
        self.database = database
        self._statements = statements
        self._write_here = _write_here_for(sniffio.current_async_library())
        self.pending: list[_Job] = []
        self.busy = False
        self.finished = anyio.Event()
        self._alone = 0  # leads in a row that waited for company and found none
        self._leads = 0

    async def submit(self, fn: Callable[[RawTransaction], Any]) -> Any:
        job = _Job(fn)
        self.pending.append(job)
        try:
            while not job.done:
                if self.busy:
                    await self.finished.wait()
                    continue
                await self._lead()
        except BaseException:
            if not job.taken and job in self.pending:
                self.pending.remove(job)
            raise
        if job.error is not None:
            raise job.error
        return job.result

    async def _lead(self) -> None:
        self.busy = True
        batch: list[_Job] = []
        try:
            # Let the tasks that are ready run first: those about to write join this transaction.
            # That turn of the loop is wasted when no other task writes (one call at a time):
            # after a run of leads that found no company, only every PROBE-th lead waits for it.
            self._leads += 1
            if len(self.pending) > 1 or self._alone < ALONE_BEFORE_SKIPPING or self._leads % PROBE == 0:
                await anyio.lowlevel.cancel_shielded_checkpoint()
                self._alone = self._alone + 1 if len(self.pending) == 1 else 0
            batch, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
            for job in batch:
                job.taken = True
            if self._statements:
                await shielded(self.database.run, _run_statements, self.database, batch)
                return
            try:
                self._write_here(self.database, batch)
            except WriteBusy:
                await shielded(self.database.run, _run_batch, self.database, batch)
        finally:
            for job in batch:
                job.done = True
            self.busy = False
            finished, self.finished = self.finished, anyio.Event()
            finished.set()


def _write_here(database: Database, batch: list[_Job]) -> None:
    """Write on the event loop's thread, if no lock is taken (:class:`WriteBusy` otherwise)."""
    _run_batch(database, batch, wait=False)


def _write_here_for(backend: str) -> Callable[[Database, list[_Job]], None]:
    if backend == "trio":  # Ctrl-C must not land between the statements of a ledger write
        import trio.lowlevel

        return trio.lowlevel.enable_ki_protection(_write_here)
    return _write_here


def _run_batch(database: Database, batch: list[_Job], *, wait: bool = True) -> None:
    """Run the jobs in one transaction; ``wait=False`` raises :class:`WriteBusy`
    (before any job ran) rather than wait for a lock."""
    if len(batch) == 1:  # alone, the job's own transaction is its savepoint
        _run_alone(database, batch[0], wait=wait)
        return
    try:
        with database.raw_write(wait=wait) as tx:
            for job in batch:
                tx.cursor.execute("SAVEPOINT ai_job")
                try:
                    job.result = job.fn(tx)
                except Exception as exc:
                    tx.cursor.execute("ROLLBACK TO ai_job")
                    job.error = exc
                tx.cursor.execute("RELEASE ai_job")
    except WriteBusy:
        raise
    except BaseException as exc:  # the commit itself failed: nothing of the batch is stored
        for job in batch:
            if job.error is None:
                job.error = exc
                job.result = None


def _run_statements(database: Database, batch: list[_Job]) -> None:
    for job, (result, error) in zip(batch, database.autocommit.run_pipelined([job.fn for job in batch]), strict=True):
        job.result, job.error = result, error


def _run_alone(database: Database, job: _Job, *, wait: bool) -> None:
    try:
        with database.raw_write(wait=wait) as tx:
            job.result = job.fn(tx)
    except WriteBusy:
        raise
    except BaseException as exc:  # the job or the commit failed: nothing of it is stored
        job.error = exc
        job.result = None
