"""Real worker and scheduler processes against the session's Redis, for the queue tests.

A :class:`Stack` is one test's world: a SQLite file, an empty Redis database, a
config file with a short ``requeue_after`` and ``action_lease`` (so a killed
worker's task comes back in about a second, not a minute), the agent actions of
tests/queue/qtest_actions.py (``[queue] actions``), and the ``qtest`` plugin
(tests/queue/qtest_listeners.py) installed as an entry point that both the test process and
the workers load.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WAIT = 90.0  # seconds before a wait calls it a hang (never a timing assertion)


def wait_until(predicate: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


@dataclass
class Stack:
    root: Path
    redis_url: str
    db_url: str = ""
    """The database every process shares (default: a SQLite file in ``root``)."""
    schedule: dict[str, float] = field(default_factory=dict)
    async_backend: str = "asyncio"
    action_sweep: float = 60.0
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.signals = self.root / "signals"
        self.signals.mkdir()
        self.db_url = self.db_url or f"sqlite:///{self.root / 'ai.db'}"
        site = self.root / "site"
        info = site / "qtest-1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: qtest\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text("[ai_core]\nqtest = qtest_listeners\n")
        self.site = site
        schedule = ", ".join(f'"{name}" = {seconds}' for name, seconds in self.schedule.items())
        self.config = self.root / "config.toml"
        self.config.write_text(
            "[queue]\nrequeue_after = 1.0\nmaintenance_chance = 1000000\nretries = 2\n"
            f'async_backend = "{self.async_backend}"\nschedule = {{ {schedule} }}\n'
            f'actions = ["qtest_actions"]\naction_lease = 1.0\naction_sweep = {self.action_sweep}\n'
        )
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AI_")}
        self.env.update(
            AI_QUEUE_URL=self.redis_url,
            AI_DATABASE_URL=self.db_url,
            AI_CONFIG_FILE=str(self.config),
            AI_DATA_DIR=str(self.root / "data"),
            AI_CORE_PLUGINS="fake,qtest",
            QTEST_DIR=str(self.signals),
            PYTHONPATH=os.pathsep.join([str(site), str(HERE), os.environ.get("PYTHONPATH", "")]),
        )

    # -- processes ------------------------------------------------------------------------------

    def ai(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``ai ARGS`` to completion."""
        return subprocess.run(
            [sys.executable, "-c", "from ai_core.cli import main; main()", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=WAIT,
            check=check,
        )

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        """``ai ARGS`` in the background, in its own process group."""
        log = open(self.root / f"{args[0]}-{len(self.processes)}.log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            [sys.executable, "-c", "from ai_core.cli import main; main()", *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> int:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        return process.wait(timeout=WAIT)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                self.kill(process)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')}" for p in sorted(self.root.glob("*.log")))

    # -- what happened --------------------------------------------------------------------------

    def started(self, event_id: str | None = None) -> list[tuple[str, int]]:
        """(event id, pid) of every start of the response listener, in any process."""
        found = []
        for path in self.signals.glob("started-*"):
            _, event, pid, _ = path.name.split("-")
            if event_id is None or event == event_id:
                found.append((event, int(pid)))
        return found

    def _rows(self, sql: str) -> list[tuple[Any, ...]]:
        from sqlalchemy import create_engine, text
        from sqlalchemy.exc import DBAPIError

        engine = create_engine(self.db_url)
        try:
            with engine.connect() as conn:
                return [tuple(row) for row in conn.execute(text(sql))]
        except DBAPIError:  # no listener committed anything yet: no table
            return []
        finally:
            engine.dispose()

    def effects(self) -> list[tuple[str, int, str]]:
        return [(str(e), int(p), str(k)) for e, p, k in self._rows("SELECT event_id, pid, kind FROM qtest_effects")]

    def markers(self) -> list[tuple[str, str]]:
        return [(str(e), str(n)) for e, n in self._rows("SELECT event_id, listener FROM ai_processed_events")]

    def action_rows(self) -> dict[str, tuple[str, str, int, str | None, str | None]]:
        """Stored agent actions: id -> (name, status, attempts, result, error)."""
        found = self._rows("SELECT id, name, status, attempts, result, error FROM ai_agent_actions")
        return {str(r[0]): (str(r[1]), str(r[2]), int(r[3]), r[4], r[5]) for r in found}

    def action_starts(self, action_id: str) -> list[int]:
        """The pid of every start of the ``send_followup_email`` action ``action_id``, in any process."""
        return [int(path.name.split("-")[2]) for path in self.signals.glob(f"action-{action_id}-*")]

    def messages_like(self, conversation_id: str, pattern: str) -> int:
        """How many stored messages of the conversation contain ``pattern`` (SQL LIKE, without the %)."""
        sql = (
            "SELECT COUNT(*) FROM ai_messages WHERE conversation_id = '{c}' AND CAST(parts AS TEXT) LIKE '%{p}%'"
        ).format(c=conversation_id.replace("'", ""), p=pattern.replace("'", ""))
        return int(self._rows(sql)[0][0])

    def drop_effects(self) -> None:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.db_url)
        try:
            with engine.begin() as conn:
                conn.execute(text("DROP TABLE IF EXISTS qtest_effects"))
        finally:
            engine.dispose()

    def settings(self) -> Any:
        from ai_core.config import Settings

        return Settings(queue_url=self.redis_url, queue={"requeue_after": 1.0, "schedule": self.schedule})

    def status(self) -> dict[str, Any]:
        """What ``ai worker --status --json`` prints (read in this process: a CLI start per poll is slow)."""
        from ai_core.queue.status import queue_status

        return queue_status(self.settings())

    def idle(self) -> bool:
        """Nothing waiting, retrying or held by a worker."""
        status = self.status()
        queues = status["queues"].values()
        return status["in_progress"] == 0 and all(q["waiting"] == 0 and q["retrying"] == 0 for q in queues)


def make_stack(root: Path, redis_url: str, **options: Any) -> Iterator[Stack]:
    stack = Stack(root, redis_url, **options)
    try:
        yield stack
    finally:
        stack.stop_all()
        stack.drop_effects()  # a PostgreSQL database is shared by the session's tests
