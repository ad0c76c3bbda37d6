"""ai_usage_analytics and ai_model_performance are current after each turn, and equal the rebuild."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from ai_core import ToolCallPart
from ai_core.drivers.fake import FakeDriver
from ai_core.errors import ProviderUnavailableError
from ai_core.storage.analytics import rebuild_analytics
from ai_core.storage.analytics_tables import ModelPerformance, UsageAnalytics
from ai_core.storage.base import table_of
from tests.integrations.helpers import make_ai, settle


def _rows(database: Any) -> dict[str, list[dict[str, Any]]]:
    tables = {"usage": table_of(UsageAnalytics), "performance": table_of(ModelPerformance)}
    found: dict[str, list[dict[str, Any]]] = {}
    with database.read() as conn:
        for name, table in tables.items():
            rows = [
                {k: v for k, v in row.items() if k not in ("id", "built_at")}
                for row in conn.execute(select(table)).mappings()
            ]
            found[name] = sorted(rows, key=lambda r: (str(r["day"]), r["provider"], r["model"]))
    return found


def ping() -> str:
    return "pong"


def test_incremental_tables_equal_the_rebuild(database_url: str) -> None:
    boom = ProviderUnavailableError("down for a moment", provider="fake")
    fake = FakeDriver.scripted([
        "first answer",
        boom,  # a failed turn (no retries)
        "an answer of the other model",
        [ToolCallPart(id="c1", name="ping", arguments={})],
        "after the tool",
        "streamed answer",
    ])  # fmt: skip
    ai = make_ai(database_url, drivers={"fake": fake}, retry_attempts=0)
    try:
        ai.conversation("fake/echo").user("one").send()
        with pytest.raises(ProviderUnavailableError):
            ai.conversation("fake/echo").user("two").send()
        ai.conversation("fake/other-model").user("three").send()
        ai.conversation("fake/echo").tools([ping]).user("four").send()
        for _ in ai.conversation("fake/echo").user("five").stream():
            pass
        settle(ai)  # events handled, and the refresh that may wait for its interval done now
        database = ai.services.database
        live = _rows(database)
        rebuild_analytics(database)
        rebuilt = _rows(database)
    finally:
        ai.close()
    assert live == rebuilt
    performance = {r["model"]: r for r in live["performance"]}
    assert (performance["echo"]["successes"], performance["echo"]["failures"]) == (4, 1)
    usage = {r["model"]: r for r in live["usage"]}
    assert usage["echo"]["requests"] == 4 and usage["echo"]["failed_requests"] == 1
    assert usage["other-model"]["requests"] == 1


def test_turned_off_by_configuration(database_url: str) -> None:
    ai = make_ai(database_url, listeners_disabled="analytics")
    try:
        assert "analytics" not in [listener.name for listener in ai.events.listeners]
        ai.conversation().user("x").send()
        assert ai.events.drain(30)
        assert _rows(ai.services.database) == {"usage": [], "performance": []}
    finally:
        ai.close()


def test_a_refresh_never_overwrites_rows_built_from_a_later_read(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refresh reads the ledger, then writes; a call and a rebuild that land in between
    are not undone by the refresh's older rows (this failed once in a loaded CI run)."""
    import ai_core.integrations.analytics as analytics

    ai = make_ai(database_url, listeners_disabled="analytics")
    try:
        ai.conversation("fake/echo").user("one").send()
        database = ai.services.database
        read = analytics.performance_rows

        def then_a_call_and_a_rebuild(*args: Any, **kwargs: Any) -> Any:
            rows = read(*args, **kwargs)  # the refresh has read the ledger: one call
            ai.conversation("fake/echo").user("two").send()
            rebuild_analytics(database)  # reads two calls
            return rows

        monkeypatch.setattr(analytics, "performance_rows", then_a_call_and_a_rebuild)
        analytics.refresh_analytics(database, [(datetime.now(UTC).date(), "fake", "echo")])
        assert [row["requests"] for row in _rows(database)["usage"]] == [2]
    finally:
        ai.close()


def test_the_persisted_path_builds_no_event_for_analytics(database_url: str) -> None:
    """The analytics listener learns of calls from the store, not from an event per call:
    with only core's listeners, a persisted call builds and queues no event at all."""
    from ai_core.events.types import ConversationUpdated, MessageAdded, RequestFailed

    ai = make_ai(database_url)
    try:
        assert "analytics" in [listener.name for listener in ai.events.listeners]
        assert not any(ai.events.wants(kind) for kind in (MessageAdded, ConversationUpdated, RequestFailed))
        ai.conversation("fake/echo").user("one").send()
        assert ai.events.pending == 0 and ai.events.delivered == 0
        deadline = time.monotonic() + 30  # refreshed by the updater's own timer, no drain needed
        while not _rows(ai.services.database)["usage"] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [row["requests"] for row in _rows(ai.services.database)["usage"]] == [1]
    finally:
        ai.close()
