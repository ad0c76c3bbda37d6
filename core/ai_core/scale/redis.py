"""One Redis connection per ``AI`` instance (``AI_REDIS_URL``), usable from asyncio and trio.

redis-py's asyncio client belongs to the event loop that made it, so there is
one per loop (an ``AI`` may serve a sync caller's loop thread and async code at
once). Trio has no asyncio client: there the thread-safe blocking client runs
in a worker thread. Either way a command is one round trip.

The URL may carry a password: it is kept as a secret and never shown
(:func:`safe_url` gives the host, port and database only).
"""

from __future__ import annotations

import weakref
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from ai_core import errors

__all__ = ["RedisConnection", "safe_url"]


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
        """Commands sent by this connection and by the rate limiter over it (for the benchmark)."""
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

    async def execute(self, command: str, *args: Any) -> Any:
        """Run one command (``GET``, ``SET``, ``EVAL`` ...) and return its reply."""
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
