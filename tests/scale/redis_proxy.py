"""A TCP proxy in front of the test Redis that counts round trips as the network sees them.

A round trip is a burst of bytes from a client that follows the server's last reply
on that connection (or opens it): a pipeline, a script or a plain command each
count once however many packets they take, and any client of any library is
counted the same. Threads, loopback only; closed with the test.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

__all__ = ["CountingProxy", "counting_proxy"]


class CountingProxy:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.round_trips = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, db: str) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def connection_setup(self, url: str) -> int:
        """Round trips redis-py makes to open a connection (hello, client info, select), measured."""
        import redis

        before = self.round_trips
        client = redis.Redis.from_url(url)
        try:
            client.execute_command("PING")
        finally:
            client.close()
        return self.round_trips - before - 1

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            with self._lock:
                self.connections += 1
                self._sockets += [client, server]
            turn = ["server"]  # who spoke last on this connection
            threading.Thread(target=self._pump, args=(client, server, turn, "client"), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, turn, "server"), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, turn: list[str], side: str) -> None:
        try:
            while chunk := source.recv(65536):
                with self._lock:
                    if side == "client" and turn[0] == "server":
                        self.round_trips += 1
                    turn[0] = side
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._closed = True
        self.listener.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()


@contextmanager
def counting_proxy(redis_url: str) -> Iterator[tuple[CountingProxy, str]]:
    """A proxy to ``redis_url`` and the URL (same database) that goes through it."""
    parts = urlsplit(redis_url)
    proxy = CountingProxy((parts.hostname or "127.0.0.1", parts.port or 6379))
    try:
        yield proxy, proxy.url(parts.path.lstrip("/") or "0")
    finally:
        proxy.close()
