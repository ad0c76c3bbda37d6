"""A real Redis server on 127.0.0.1 for the session's tests that share state between processes.

Import the fixtures into a conftest::

    from support.redis_server import redis_server, redis_url  # noqa: F401

``redis_server`` starts ``redis-server`` once per session (no persistence, a free port) and
skips, naming the missing program, where it is not installed (CI turns that skip into a
failure). ``redis_url`` gives each test its own empty logical database.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["RedisServer", "redis_server", "redis_url"]


@dataclass(frozen=True)
class RedisServer:
    host: str
    port: int
    process: subprocess.Popen[bytes]

    def url(self, db: int = 0) -> str:
        return f"redis://{self.host}:{self.port}/{db}"

    def flush(self, db: int) -> None:
        """Empty logical database ``db`` (RESP over a plain socket: no client library needed)."""
        with socket.create_connection((self.host, self.port), timeout=5) as sock:
            sock.sendall(f"*2\r\n$6\r\nSELECT\r\n${len(str(db))}\r\n{db}\r\n*1\r\n$7\r\nFLUSHDB\r\n".encode())
            replies = b""
            while replies.count(b"\r\n") < 2:
                chunk = sock.recv(1024)
                if not chunk:
                    break
                replies += chunk


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    program = shutil.which("redis-server")
    if program is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server; .ci/run installs it)")
    port = _free_port()
    workdir: Path = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [
            program,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--databases",
            "64",
            "--protected-mode",
            "yes",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"redis-server did not start on 127.0.0.1:{port}") from None
            time.sleep(0.05)
    server = RedisServer("127.0.0.1", port, process)
    try:
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


_next_db = iter(range(1, 64))


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """An empty logical database of the session's Redis (1..63, reused round-robin)."""
    global _next_db
    try:
        db = next(_next_db)
    except StopIteration:
        _next_db = iter(range(1, 64))
        db = next(_next_db)
    redis_server.flush(db)
    return redis_server.url(db)
