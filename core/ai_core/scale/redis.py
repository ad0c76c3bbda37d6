"""One Redis connection per ``AI`` instance (``AI_REDIS_URL``), usable from asyncio and trio.

redis-py's asyncio client belongs to the event loop that made it, so there is
one per loop (an ``AI`` may serve a sync caller's loop thread and async code at
once). Trio has no asyncio client: there the thread-safe blocking client runs
in a worker thread. Either way a command is one round trip.

:meth:`RedisConnection.round_trip` runs the scale layer's one script per call
(:mod:`ai_core.scale.shared`) and carries the writes queued with
:meth:`RedisConnection.defer`; a background thread sends the writes no round
trip carried within ``write_delay`` seconds, so nobody waits for them.

The URL may carry a password: it is kept as a secret and never shown
(:func:`safe_url` gives the host, port and database only).
"""

from __future__ import annotations

import atexit
import os
import threading
import time
import weakref
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from ai_core import errors
from ai_core.logging import get_logger

__all__ = ["MAX_PENDING", "RedisConnection", "safe_url"]

MAX_PENDING = 10_000
"""Writes kept for Redis while it cannot be reached; past that the oldest tenth is dropped (and logged)."""


def safe_url(url: str) -> str:
    """``redis://host:port/db`` without user or password."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _import_redis() -> Any:
    try:
        import redis
    except ImportError:
        raise errors.ConfigurationError(
            "AI_REDIS_URL is set but the redis client is not installed: pip install 'ai-core[redis]'"
        ) from None
    return redis


class RedisConnection:
    """Commands to one Redis server; clients made on first use, per event loop."""

    def __init__(self, url: SecretStr | str) -> None:
        self._url = url if isinstance(url, SecretStr) else SecretStr(url)
        self.url = safe_url(self._url.get_secret_value())
        self._async: dict[int, tuple[weakref.ref[Any], Any]] = {}
        self._sync: Any = None
        self.round_trips = 0
        """Round trips made by this connection, its write thread included (for the benchmark)."""
        self.write_delay = 0.05
        """Seconds a queued write waits for a round trip to carry it before the write thread sends it."""
        self._pending: list[tuple[Any, ...]] = []
        self._oldest: float | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._writer: threading.Thread | None = None
        self._closed = False
        self._at_exit = False
        _import_redis()

    @property
    def secret_url(self) -> str:
        return self._url.get_secret_value()

    def __repr__(self) -> str:
        return f"<RedisConnection {self.url}>"

    def sync_client(self) -> Any:
        if self._sync is None:
            self._sync = _import_redis().Redis.from_url(self.secret_url)
        return self._sync

    def _async_client(self) -> Any | None:
        """The asyncio client of the running loop, or None under trio."""
        import sniffio

        if sniffio.current_async_library() != "asyncio":
            return None
        import asyncio

        loop = asyncio.get_running_loop()
        found = self._async.get(id(loop))
        if found is not None and found[0]() is loop:
            return found[1]
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(self.secret_url)
        self._async[id(loop)] = (weakref.ref(loop), client)
        return client

    # -- the one round trip per call, and the writes it carries ----------------

    def defer(self, write: tuple[Any, ...]) -> None:
        """Queue a write (``("set" | "add", key, value, px)`` or ``("fill", prev, cur, limit, expiry, amount)``)
        for the next round trip, or the write thread ``write_delay`` seconds from now."""
        with self._lock:
            if len(self._pending) >= MAX_PENDING:  # Redis has been away for a while: keep the newest
                del self._pending[: MAX_PENDING // 10]
                get_logger("ai_core.scale").error("redis_writes_lost", writes=MAX_PENDING // 10)
            self._pending.append(write)
            if self._oldest is None:
                self._oldest = time.monotonic()
            if self._writer is None:
                if not self._at_exit:
                    atexit.register(_flush_at_exit, weakref.ref(self))
                    os.register_at_fork(after_in_child=partial(_forked, weakref.ref(self)))
                    self._at_exit = True
                self._closed = False
                self._writer = threading.Thread(target=self._write_loop, name="ai-core-redis-writes", daemon=True)
                self._writer.start()
        self._wake.set()

    def _take(self) -> list[tuple[Any, ...]]:
        if not self._pending:
            return []
        with self._lock:
            writes, self._pending, self._oldest = self._pending, [], None
        return writes

    async def round_trip(
        self,
        cache_key: str | None = None,
        breaker: tuple[str, float] | None = None,
        slots: list[tuple[str, str, int, int, int]] | None = None,
        fresh_at: float | None = None,
    ) -> Any:
        """One ``EVALSHA`` of :func:`ai_core.scale.shared.script`: the queued writes,
        then the lookup, the breaker and the limits asked for. Returns its :class:`Reply`."""
        from ai_core.scale.shared import arguments, parse

        writes = self._take()
        try:
            return parse(await self._evalsha(arguments(writes, cache_key, breaker, slots or [], fresh_at)))
        except BaseException:
            if writes:  # not applied (or not known to be): keep them for the next trip
                with self._lock:
                    self._pending[:0] = writes
                    self._oldest = self._oldest or time.monotonic()
                self._wake.set()
            raise

    async def _evalsha(self, args: list[Any]) -> Any:
        from ai_core.scale.shared import script

        text, sha = script()
        try:
            return await self.execute("EVALSHA", sha, 0, *args, flush=False)
        except errors.StorageError as exc:
            if not isinstance(exc.__cause__, _import_redis().exceptions.NoScriptError):
                raise
        return await self.execute("EVAL", text, 0, *args, flush=False)  # loads it for the EVALSHAs after

    def _write_loop(self) -> None:
        """Send the writes that waited ``write_delay`` seconds for a round trip to carry them."""
        while True:
            with self._lock:
                if self._closed:
                    return
                oldest = self._oldest
                if oldest is None:
                    self._wake.clear()
            if oldest is None:
                self._wake.wait()
                continue
            delay = oldest + self.write_delay - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                self.flush_now()

    def flush_now(self) -> None:
        """Send the queued writes from this thread, blocking (the write thread; exit)."""
        from ai_core.scale.shared import arguments, script

        writes = self._take()
        if not writes:
            return
        text, sha = script()
        args = arguments(writes, None, None, [])
        redis = _import_redis()
        self.round_trips += 1
        try:
            try:
                self.sync_client().execute_command("EVALSHA", sha, 0, *args)
            except redis.exceptions.NoScriptError:
                self.round_trips += 1
                self.sync_client().execute_command("EVAL", text, 0, *args)
        except Exception as exc:  # the answers were given; only the bookkeeping is late or lost
            get_logger("ai_core.scale").error("redis_writes_lost", writes=len(writes), error=f"{type(exc).__name__}")

    async def execute(self, command: str, *args: Any, flush: bool = True) -> Any:
        """Run one command (``GET``, ``SET``, ``EVAL`` ...) and return its reply.
        Queued writes are applied first (one more round trip), so a read sees them."""
        if flush and self._pending:
            await self.round_trip()
        client = self._async_client()
        self.round_trips += 1
        try:
            if client is not None:
                return await client.execute_command(command, *args)
            import anyio.to_thread

            sync = self.sync_client()
            return await anyio.to_thread.run_sync(lambda: sync.execute_command(command, *args))
        except _import_redis().RedisError as exc:
            raise errors.StorageError(f"Redis at {self.url}: {type(exc).__name__}: {exc}") from exc

    async def aclose(self) -> None:
        if self._pending:
            try:
                await self.round_trip()
            except errors.StorageError as exc:
                get_logger("ai_core.scale").error("redis_writes_lost", writes=len(self._take()), error=str(exc))
        with self._lock:
            self._closed, self._writer = True, None
        self._wake.set()
        import asyncio

        import sniffio

        try:
            running = asyncio.get_running_loop() if sniffio.current_async_library() == "asyncio" else None
        except RuntimeError:
            running = None
        for key, (owner, client) in list(self._async.items()):
            if owner() is running:
                try:
                    await client.aclose()
                except Exception:  # closing is best effort
                    pass
            del self._async[key]
        if self._sync is not None:
            self._sync.close()
            self._sync = None


def _flush_at_exit(ref: weakref.ref[RedisConnection]) -> None:
    connection = ref()
    if connection is not None and not connection._closed:
        connection.flush_now()


def _forked(ref: weakref.ref[RedisConnection]) -> None:
    """In a forked child the write thread is gone: the next write starts one."""
    connection = ref()
    if connection is not None:
        connection._lock = threading.Lock()
        connection._wake = threading.Event()
        connection._writer = None
