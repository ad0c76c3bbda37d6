"""A real PostgreSQL 15 server for the test session, on 127.0.0.1 (one per pytest-xdist worker).

The server runs from the image's binaries (``/usr/lib/postgresql/15/bin``, or
``AI_TEST_PG_BIN``) in a temporary data directory, on a free port, with
durability off (tests do not need fsync). PostgreSQL refuses to run as root,
so under root ``initdb``/``pg_ctl`` run as the unprivileged ``postgres`` user
via ``runuser``. Missing binaries skip with a message that names them (and in
CI a skip is a failure). ``AI_TEST_POSTGRES_URL`` uses an existing server
instead.

Each test gets a fresh database cloned from a template that already has the
schema, which costs milliseconds instead of a migration run.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["PostgresServer", "_postgres_server_session", "postgres_server", "start_postgres"]

PG_BIN = Path(os.environ.get("AI_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
TEMPLATE = "ai_core_template"


@dataclass
class PostgresServer:
    host: str
    port: int
    user: str
    _stop: object = None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        import psycopg

        address = {"host": self.host, "port": self.port, "user": self.user}
        with psycopg.connect(**address, dbname="postgres", autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def create_database(self, template: str | None = None) -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        # FILE_COPY clones a small template faster than PostgreSQL 15's default WAL_LOG.
        clone = f' TEMPLATE "{template}" STRATEGY FILE_COPY' if template else ""
        self.admin(f'CREATE DATABASE "{name}"{clone}')
        return name

    def drop_database(self, name: str) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_server_user(args: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return args
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.skip("running as root and `runuser` is missing: cannot start PostgreSQL as the postgres user")
    return [runuser, "-u", "postgres", "--", *args]


def start_postgres() -> tuple[PostgresServer, object]:
    """Start a throwaway server; return it and a function that stops it."""
    missing = [name for name in ("initdb", "pg_ctl", "postgres") if not (PG_BIN / name).exists()]
    if missing:
        pytest.skip(f"PostgreSQL binaries missing in {PG_BIN}: {', '.join(missing)} (install postgresql-15)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg 3 is not installed (pip install 'psycopg[binary]')")
    root = Path(tempfile.mkdtemp(prefix="ai-core-pg-"))
    data, log = root / "data", root / "server.log"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    root.chmod(0o700)
    subprocess.run(
        _as_server_user(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--locale=C",
            ]
        ),
        check=True,
        capture_output=True,
    )
    for attempt in range(3):
        # A port found free can be taken before the server binds it (another xdist worker starts
        # its own server at the same moment): then the server says so and we try another.
        port = _free_port()
        options = (
            f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        started = subprocess.run(
            _as_server_user(
                [str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"]
            ),
            capture_output=True,
            text=True,
        )
        if started.returncode == 0:
            break
        detail = log.read_text(errors="replace")[-2000:] if log.exists() else started.stderr
        if attempt < 2 and "could not bind" in detail:
            log.unlink(missing_ok=True)
            continue
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {detail}")

    def stop() -> None:
        subprocess.run(
            _as_server_user([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)

    server = PostgresServer(host="127.0.0.1", port=port, user="postgres")
    deadline = time.monotonic() + 30
    while True:
        try:
            server.admin("SELECT 1")
            break
        except Exception:
            if time.monotonic() > deadline:
                stop()
                raise
            time.sleep(0.1)
    return server, stop


def _prepare_template(server: PostgresServer) -> None:
    from ai_core.storage.database import Database

    server.admin(f'CREATE DATABASE "{TEMPLATE}"')
    database = Database.open(server.url(TEMPLATE), migrate=True)
    database.close()


@pytest.fixture(scope="session")
def _postgres_server_session() -> Iterator[PostgresServer]:
    """The session's one server (tests/conftest.py registers this once for the whole tree)."""
    external = os.environ.get("AI_TEST_POSTGRES_URL")
    if external:
        from sqlalchemy.engine import make_url

        url = make_url(external)
        server = PostgresServer(host=url.host or "127.0.0.1", port=url.port or 5432, user=url.username or "postgres")
        server.drop_database(TEMPLATE)
        _prepare_template(server)
        yield server
        return
    server, stop = start_postgres()
    try:
        _prepare_template(server)
        yield server
    finally:
        stop()  # type: ignore[operator]


@pytest.fixture(scope="session")
def postgres_server(_postgres_server_session: PostgresServer) -> PostgresServer:
    """A running server whose ``ai_core_template`` database has the current schema.

    Each conftest that imports this name gets its own session fixture of that name, so the server
    itself lives in ``_postgres_server_session``, defined once: one server per session (per xdist
    worker), not one per test directory.
    """
    return _postgres_server_session
