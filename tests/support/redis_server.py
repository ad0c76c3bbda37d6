"""A real Redis server on 127.0.0.1 for the session's tests that share state between processes.

Import the fixtures into a conftest::

    from support.redis_server import redis_server, redis_url  # noqa: F401

``redis_server`` starts ``redis-server`` once per session (one per pytest-xdist worker: no persistence, a free port) and
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

__all__ = ["RedisServer", "_redis_server_session", "redis_server", "redis_url"]


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


def _start(program: str, port: int, workdir: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
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


def _server_pid(port: int) -> int | None:
    """The ``process_id`` that the Redis on ``port`` reports (``INFO server``, RESP over a socket)."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
        reply = b""
        while b"\r\n" not in reply or len(reply) < reply.index(b"\r\n") + 2 + int(reply[1 : reply.index(b"\r\n")]):
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    for line in reply.decode(errors="replace").splitlines():
        if line.startswith("process_id:"):
            return int(line.partition(":")[2])
    return None


def _wait_until_listening(process: subprocess.Popen[bytes], port: int) -> bool:
    """True once ``process`` itself answers on ``port`` (not another server that took the port)."""
    deadline = time.monotonic() + 20
    while process.poll() is None and time.monotonic() < deadline:
        try:
            return _server_pid(port) == process.pid
        except (OSError, ValueError):
            time.sleep(0.05)
    return False


@pytest.fixture(scope="session")
def _redis_server_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """The session's one server (tests/conftest.py registers this once for the whole tree)."""
    program = shutil.which("redis-server")
    if program is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server; .ci/run installs it)")
    workdir: Path = tmp_path_factory.mktemp("redis")
    for attempt in range(3):
        # A port found free can be taken before redis binds it (another xdist worker starts its
        # own server at the same moment): redis then exits, and we try another port.
        port = _free_port()
        process = _start(program, port, workdir)
        if _wait_until_listening(process, port):
            break
        process.kill()
        process.wait()
        if attempt == 2:
            raise RuntimeError(f"redis-server did not start on 127.0.0.1:{port}")
    server = RedisServer("127.0.0.1", port, process)
    try:
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def redis_server(_redis_server_session: RedisServer) -> RedisServer:
    """The session's Redis. Each conftest that imports this name gets its own session fixture of
    that name, so the server lives in ``_redis_server_session``, defined once: one server per
    session (per xdist worker), not one per test directory."""
    return _redis_server_session


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
