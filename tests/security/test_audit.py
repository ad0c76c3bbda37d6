"""The audit chain: one record per call, tampering detected, safe under concurrent writers."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from click.testing import CliRunner
from sqlalchemy import text

from ai_core import errors
from ai_core.config import load_settings
from ai_core.security.audit import AuditTrail
from ai_core.storage.database import Database
from ai_core.testing import fake_ai


def make_ai(database_url: str, **settings: Any) -> Any:
    config = load_settings(database_url=database_url, audit=True, default_model="fake/echo", **settings)
    return fake_ai(settings=config)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database.open(database_url)
    yield database
    database.close()


def records(db: Database) -> list[dict[str, Any]]:
    return list(AuditTrail(db).export())


@pytest.mark.anyio
async def test_every_call_leaves_one_record_with_its_outcome(database_url: str, db: Database) -> None:
    async with make_ai(database_url, policies=[{"max_tokens": 100}]) as ai:
        answered = await ai.conversation(user="ada", tenant="acme").user("hello").asend()
        async for _ in ai.conversation(user="ada", tenant="acme").user("stream me").astream():
            pass
        with pytest.raises(errors.RequestValidationError):
            await ai.conversation(user="bob").max_tokens(500).user("too much").asend()
        with pytest.raises(errors.ProviderError):
            await ai.conversation().option("fake_error", "invalid_request").user("boom").asend()
    rows = records(db)
    assert [r["outcome"] for r in rows] == ["answered", "answered", "refused", "failed"]
    first = rows[0]
    assert (first["user"], first["tenant"], first["provider"], first["model"]) == ("ada", "acme", "fake", "echo")
    assert first["cost"] == str(answered.cost.total) and first["currency"] == "USD"
    assert len(first["request_sha256"]) == 64 and len(first["response_sha256"]) == 64
    assert first["policy"] == [{"policy": "policy", "decision": "allowed"}]
    assert rows[1]["streaming"] is True
    assert rows[2]["request_sha256"] is None  # refused: nothing was sent
    assert rows[2]["policy"] == [{"policy": "policy", "decision": "refused"}]
    assert [r["seq"] for r in rows] == [1, 2, 3, 4]
    assert rows[1]["prev_hash"] == rows[0]["hash"]
    assert AuditTrail(db).verify().ok


@pytest.mark.anyio
async def test_redactions_are_recorded(database_url: str, db: Database) -> None:
    async with make_ai(database_url, pii={"enabled": True}) as ai:
        await ai.conversation().user("write to a.b@example.com").asend()
    (row,) = records(db)
    assert row["redactions"]["request"] == {"email": 1}


def _fill(database_url: str, calls: int = 5) -> None:
    with make_ai(database_url) as ai:
        for index in range(calls):
            ai.conversation(tenant="acme").user(f"call {index}").send()


TAMPERING = {
    "changed payload": (
        'UPDATE ai_call_audit SET payload = REPLACE(payload, \'"tenant":"acme"\', \'"tenant":"evil"\') WHERE seq = 3'
    ),
    "changed column": "UPDATE ai_call_audit SET tenant = 'evil' WHERE seq = 3",
    "changed hash too": (
        "UPDATE ai_call_audit SET payload = REPLACE(payload, 'acme', 'evil'), hash = 'f' || SUBSTR(hash, 2) "
        "WHERE seq = 3"
    ),
    "deleted row": "DELETE FROM ai_call_audit WHERE seq = 3",
    "deleted newest": "DELETE FROM ai_call_audit WHERE seq = 5",
    "reordered": "UPDATE ai_call_audit SET seq = CASE seq WHEN 2 THEN 3 ELSE 2 END WHERE seq IN (2, 3)",
}


@pytest.mark.parametrize("tampering", list(TAMPERING), ids=list(TAMPERING))
def test_tampering_is_detected(database_url: str, db: Database, tampering: str) -> None:
    _fill(database_url)
    assert AuditTrail(db).verify().ok
    if tampering == "reordered":  # the primary key forbids a direct swap: go through a free number
        statements = [
            "UPDATE ai_call_audit SET seq = 1000 WHERE seq = 2",
            "UPDATE ai_call_audit SET seq = 2 WHERE seq = 3",
            "UPDATE ai_call_audit SET seq = 3 WHERE seq = 1000",
        ]
    else:
        statements = [TAMPERING[tampering]]
    with db.write() as conn:
        for statement in statements:
            conn.execute(text(statement))
    report = AuditTrail(db).verify()
    assert not report.ok, tampering
    assert report.problems


def test_rewriting_the_whole_tail_is_caught_by_the_anchor(database_url: str, db: Database) -> None:
    _fill(database_url)
    anchor = AuditTrail(db).verify().head_hash
    with db.write() as conn:  # delete the newest record and move the head back: only the anchor tells
        conn.execute(text("DELETE FROM ai_call_audit WHERE seq = 5"))
        conn.execute(
            text("UPDATE ai_call_audit_head SET seq = 4, hash = (SELECT hash FROM ai_call_audit WHERE seq = 4)")
        )
    assert AuditTrail(db).verify().ok
    assert not AuditTrail(db).verify(expect_head=anchor).ok


@pytest.mark.anyio
async def test_concurrent_calls_make_one_unbroken_chain(database_url: str, db: Database) -> None:
    async with make_ai(database_url) as ai:

        async def one(index: int) -> None:
            await ai.conversation().user(f"concurrent {index}").asend()

        async with anyio.create_task_group() as group:
            for index in range(30):
                group.start_soon(one, index)
    report = AuditTrail(db).verify()
    assert report.ok, report.problems
    assert report.records == 30 and report.head_seq == 30


def test_concurrent_threads_append_in_one_order(database_url: str, db: Database) -> None:
    trail = AuditTrail(db)
    seen: list[int] = []
    lock = threading.Lock()

    def writer(worker: int) -> None:
        for index in range(10):
            seq, _ = trail.append(
                {"provider": "fake", "model": "echo", "outcome": "answered", "n": f"{worker}-{index}"}
            )
            with lock:
                seen.append(seq)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(seen) == list(range(1, 81))
    assert trail.verify().ok


APPENDER = """
import sys
from ai_core.security.audit import AuditTrail
from ai_core.storage.database import Database

database = Database.open(sys.argv[1])
for index in range(15):
    AuditTrail(database).append({"provider": "p", "model": "m", "outcome": "answered", "n": f"{sys.argv[2]}-{index}"})
database.close()
"""


def test_two_processes_append_to_one_sqlite_chain(sqlite_template: Any, tmp_path: Any) -> None:
    """SQLite across processes (PostgreSQL's writers are real parallel connections in the threads test)."""
    import shutil
    import subprocess
    import sys

    shutil.copyfile(sqlite_template, tmp_path / "shared.db")
    database_url = f"sqlite:///{tmp_path / 'shared.db'}"
    workers = [subprocess.Popen([sys.executable, "-c", APPENDER, database_url, str(n)]) for n in range(2)]
    for worker in workers:
        assert worker.wait(120) == 0
    with Database.open(database_url) as db:
        report = AuditTrail(db).verify()
    assert report.ok and report.records == 30


def test_cli_verify_and_export(database_url: str, db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    from ai_core.cli import cli

    monkeypatch.setenv("AI_DATABASE_URL", database_url)
    monkeypatch.setenv("AI_CONFIG_FILE", str(tmp_path / "none.toml"))
    _fill(database_url, calls=3)
    runner = CliRunner()
    ok = runner.invoke(cli, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "3 records, chain intact" in ok.output
    head = AuditTrail(db).verify().head_hash
    assert runner.invoke(cli, ["audit", "verify", "--expect-head", head]).exit_code == 0
    exported = runner.invoke(cli, ["audit", "export", "--since", "2000-01-01"])
    lines = [json.loads(line) for line in exported.output.splitlines()]
    assert [line["seq"] for line in lines] == [1, 2, 3] and lines[-1]["hash"] == head
    assert runner.invoke(cli, ["audit", "export", "--since", "2999-01-01"]).output == ""
    bad = runner.invoke(cli, ["audit", "export", "--since", "yesterday"])
    assert bad.exit_code != 0 and "not a date" in bad.output
    with db.write() as conn:
        conn.execute(text("UPDATE ai_call_audit SET model = 'other' WHERE seq = 2"))
    broken = runner.invoke(cli, ["audit", "verify"])
    assert broken.exit_code == 1
    assert "record 2: column model was changed" in broken.output


def test_audit_needs_persistence() -> None:
    with pytest.raises(errors.ConfigurationError, match="audit trail is kept in the database"):
        fake_ai(settings=load_settings(persistence=False, audit=True))
