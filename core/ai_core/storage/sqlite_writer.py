"""File SQLite's writer: writes on the event loop when nothing waits, checkpoints off it.

A ledger write is a few hundred microseconds of SQLite work; handing it to a
worker thread and back cost about as much again. So when the in-process writer
lock is free and SQLite's own write lock can be taken at once, the write runs
right where the caller is (:meth:`Database.raw_write` with ``wait=False``).
Anything that would wait (another thread writing, another process holding the
database) raises :class:`WriteBusy` before a statement ran, and the caller
writes from a worker thread as before.

What could still block the event loop is SQLite's automatic checkpoint, which
a commit runs when the WAL passes 1,000 pages and which syncs the disk (tens
to hundreds of milliseconds here). The kept writer connection turns it off and
a :class:`Checkpointer` thread runs the checkpoints instead, after every
:data:`COMMITS_PER_CHECKPOINT` commits.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["COMMITS_PER_CHECKPOINT", "Checkpointer", "WriteBusy", "begin_now"]

# About 15-25 WAL pages per ledger write, several of them the same hot pages every time (the
# conversation table's and indexes' right edges, the day's cost-tracking row): a checkpoint copies
# each page once however many commits changed it, so checkpointing every 256 commits rather than
# every 48 (SQLite's 1,000-page default) saved about 80 us of CPU per call, measured; the WAL
# then reaches about 20 MB before it is copied back.
COMMITS_PER_CHECKPOINT = 256


class WriteBusy(Exception):  # a signal between two internal paths, never raised to users
    """The write cannot start without waiting: take it to a worker thread."""


def begin_now(cursor: Any) -> None:
    """``BEGIN IMMEDIATE`` on a connection whose busy timeout is 0: :class:`WriteBusy`
    if another connection holds the write lock."""
    try:
        cursor.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise WriteBusy from None
        raise


class Checkpointer:
    """A daemon thread that checkpoints the WAL (``PASSIVE``: never waits for readers or the writer)."""

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect
        self._wanted = threading.Event()
        self._stopping = False
        self._commits = 0
        self.checkpoints = 0  # checkpoints run (for tests and `ai status`)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def committed(self) -> None:
        """Count a commit of the writer; every so many, wake the thread."""
        self._commits += 1
        if self._commits >= COMMITS_PER_CHECKPOINT:
            self._commits = 0
            if self._thread is None:
                with self._lock:
                    if self._thread is None and not self._stopping:
                        self._thread = threading.Thread(target=self._run, name="ai-core-checkpoint", daemon=True)
                        self._thread.start()
            self._wanted.set()

    def _run(self) -> None:
        connection: Any = None  # kept: opening one per checkpoint cost more than the checkpoint
        try:
            while True:
                self._wanted.wait()
                self._wanted.clear()
                if self._stopping:
                    return
                # A failed checkpoint (a full disk, say) leaves the WAL longer; the next one tries again.
                try:
                    if connection is None:
                        connection = self._connect()
                    cursor = connection.cursor()
                    cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    cursor.fetchall()
                    cursor.close()
                    self.checkpoints += 1
                except Exception:
                    with contextlib.suppress(Exception):
                        if connection is not None:
                            connection.close()
                    connection = None
        finally:
            if connection is not None:
                with contextlib.suppress(Exception):
                    connection.close()

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            thread = self._thread
        self._wanted.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
