"""Processed-event markers and one delivery's transaction, on SQLite and PostgreSQL;
and the default: no queue configured, listeners run in process as before."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from ai_core.events.listener import Listener
from ai_core.events.types import ModelSynced
from ai_core.queue.delivery import deliver_once, delivery_connection, event_class
from ai_core.queue.processed import is_processed, mark_processed

EFFECTS = "CREATE TABLE IF NOT EXISTS qtest_unit_effects (event_id VARCHAR(64))"


@pytest.fixture
def database(database: Any) -> Iterator[Any]:
    """The shared database, without the tests' own table afterwards (PostgreSQL's is shared by the session)."""
    yield database
    with database.write() as conn:
        conn.execute(text("DROP TABLE IF EXISTS qtest_unit_effects"))


def _count(database: Any, event_id: str) -> int:
    with database.write() as conn:
        conn.execute(text(EFFECTS))
    with database.read() as conn:
        return int(
            conn.execute(
                text("SELECT COUNT(*) FROM qtest_unit_effects WHERE event_id = :e"), {"e": event_id}
            ).scalar_one()
        )


def test_a_marker_is_written_once(database: Any) -> None:
    with database.write() as conn:
        assert mark_processed(conn, "e1", "mod:listener", "model.synced") is True
    with database.write() as conn:
        assert mark_processed(conn, "e1", "mod:listener", "model.synced") is False  # a twin: nothing changes
        assert mark_processed(conn, "e1", "mod:other", "model.synced") is True  # per listener
    with database.read() as conn:
        assert is_processed(conn, "e1", "mod:listener") and not is_processed(conn, "e2", "mod:listener")


def test_the_effect_and_the_marker_commit_together(database: Any) -> None:
    event = ModelSynced(provider="fake", models=1)
    payload = event.model_dump_json()
    calls: list[str] = []

    def failing(received: ModelSynced) -> None:
        conn = delivery_connection()
        assert conn is not None
        conn.execute(text(EFFECTS))
        conn.execute(text("INSERT INTO qtest_unit_effects VALUES (:e)"), {"e": received.id})
        calls.append(received.id)
        raise RuntimeError("killed after its write")  # as if the worker died here

    listener = Listener(events=ModelSynced, handler=failing, name="unit")
    with pytest.raises(RuntimeError):
        deliver_once(database, listener, "tests:unit", event.name, payload)
    assert _count(database, event.id) == 0  # rolled back with the marker that was never written
    with database.read() as conn:
        assert not is_processed(conn, event.id, "tests:unit")

    def working(received: ModelSynced) -> None:
        conn = delivery_connection()
        assert conn is not None
        conn.execute(text("INSERT INTO qtest_unit_effects VALUES (:e)"), {"e": received.id})
        calls.append(received.id)

    listener = Listener(events=ModelSynced, handler=working, name="unit")
    assert deliver_once(database, listener, "tests:unit", event.name, payload) is True
    assert deliver_once(database, listener, "tests:unit", event.name, payload) is False  # redelivered: skipped
    assert _count(database, event.id) == 1
    assert calls == [event.id, event.id]
    assert delivery_connection() is None  # outside a delivery


@pytest.mark.anyio
async def test_async_listener_gets_the_delivery_on_both_backends(database: Any, anyio_backend: str) -> None:
    import anyio.to_thread

    event = ModelSynced(provider="fake", models=2)
    seen: list[str] = []

    async def handler(received: ModelSynced) -> None:
        import sniffio

        conn = delivery_connection()
        assert conn is not None
        conn.execute(text(EFFECTS))
        conn.execute(text("INSERT INTO qtest_unit_effects VALUES (:e)"), {"e": received.id})
        seen.append(sniffio.current_async_library())

    listener = Listener(events=ModelSynced, handler=handler, name="unit-async")
    # A worker thread runs the listener on the configured backend (here: the test's).
    payload = event.model_dump_json()
    done = await anyio.to_thread.run_sync(
        lambda: deliver_once(database, listener, "tests:unit-async", event.name, payload, async_backend=anyio_backend)
    )
    assert done is True and seen == [anyio_backend]
    assert _count(database, event.id) == 1


def test_event_class_by_name() -> None:
    assert event_class("model.synced") is ModelSynced
    with pytest.raises(LookupError):
        event_class("no.such.event")


def test_default_keeps_listeners_in_process(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import qtest_listeners

    from ai_core import AI, builtin
    from ai_core.drivers import fake_plugin
    from ai_core.plugins import PluginRegistry
    from ai_core.queue import queue_status

    monkeypatch.setenv("AI_CONFIG_FILE", str(tmp_path / "none.toml"))
    monkeypatch.setenv("QTEST_DIR", str(tmp_path))
    qtest_listeners.LOCAL_CALLS.clear()
    registry = PluginRegistry([("core", builtin), ("fake", fake_plugin), ("qtest", qtest_listeners)])
    with AI(persistence=False, registry=registry) as ai:
        assert ai.events.relay is None
        assert "qtest-response" in [item.name for item in ai.events.listeners]
        ai.conversation("fake/echo").user("hello").send()
        assert ai.events.drain(30)
    assert len(qtest_listeners.LOCAL_CALLS) == 1
    status = queue_status()
    assert status["engine"] == "in-process" and status["configured"] is False


def test_worker_without_a_queue_is_one_clear_line(tmp_path: Any) -> None:
    env = {"PATH": "/usr/bin:/bin", "AI_CONFIG_FILE": str(tmp_path / "none.toml"), "AI_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", "from ai_core.cli import main; main()", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: no task queue is configured: set AI_QUEUE_URL=redis://host:port/db or [queue] url in the config file"
    ]
    status = subprocess.run(
        [sys.executable, "-c", "from ai_core.cli import main; main()", "worker", "--status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert status.returncode == 0 and status.stdout.startswith("queue: in process")
    as_json = subprocess.run(
        [sys.executable, "-c", "from ai_core.cli import main; main()", "worker", "--status", "--json"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert json.loads(as_json.stdout)["engine"] == "in-process"


def test_queue_url_is_masked_in_the_status(monkeypatch: pytest.MonkeyPatch) -> None:
    from ai_core.config import Settings
    from ai_core.queue.status import queue_status

    status = queue_status(Settings(queue_url="redis://user:s3cret-pass@127.0.0.1:1/0"))
    assert "s3cret-pass" not in repr(status)
    assert status["error"]  # nothing listens on port 1: reported, not raised
