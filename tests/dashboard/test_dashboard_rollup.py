"""The spend rollup equals the ledger: after it is built, after late writes to closed days and
after a rebuild, on SQLite and PostgreSQL.

The ledger is written by the real pipeline (fake provider) with the store's clock set to
days in closed months, so the rollup has days, a whole month and a month cut by the range
to read; every figure is compared with ``ai usage --json`` (``usage_report``) and with the
page's own path over the tracking rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from ai_core.dashboard import queries, rollup
from ai_core.dashboard.queries import SPEND_GROUPINGS, Filters, bucket_start, models_report, spend_report
from ai_core.dashboard.rollup_tables import SpendRollup, SpendRollupStamp
from ai_core.storage.analytics import rebuild_analytics, usage_report

TODAY = datetime.now(UTC).date()
MONTH = (TODAY.replace(day=1) - timedelta(days=40)).replace(day=1)
"""A month that closed at least a week ago: its days are rolled up, and the month too."""
DAYS = [MONTH + timedelta(days=n) for n in (1, 9, 20, 27)] + [TODAY - timedelta(days=2), TODAY]


@contextmanager
def _clock(monkeypatch: pytest.MonkeyPatch, day: date) -> Iterator[None]:
    """The store records what it writes now as written on ``day`` (a late commit looks like this)."""
    with monkeypatch.context() as patch:
        moment = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=23, minutes=59)
        patch.setattr("ai_core.storage.conversation_store.utcnow", lambda: moment)
        yield


def _call(ai: Any, user: str, tenant: str, tags: tuple[str, ...], text: str) -> None:
    ai.conversation("fake/echo", user=user, tenant=tenant, tags=tags).user(text).send()


@contextmanager
def _writer(url: str, directory: Any) -> Iterator[Callable[..., None]]:
    """``write(day, user, tenant, tags)``: one call through the real pipeline, recorded on ``day``."""
    from ai_core.app import AI

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AI_DATA_DIR", str(directory / "data"))
        patch.setenv("AI_CONFIG_FILE", str(directory / "none.toml"))
        with AI(persistence=True, database_url=url) as ai:

            def write(day: date, user: str = "ann", tenant: str = "acme", tags: tuple[str, ...] = ("red",)) -> None:
                with _clock(patch, day):
                    _call(ai, user, tenant, tags, f"on {day} from {user} {'x' * (len(user) * 7)}")

            yield write


@pytest.fixture(scope="session")
def six_days(make_database: Callable[..., str], tmp_path_factory: pytest.TempPathFactory) -> str:
    """A ledger with calls on six days (two tenants, users, tags), written once per session."""
    url = make_database()
    with _writer(url, tmp_path_factory.mktemp("six-days")) as write:
        for index, day in enumerate(DAYS):
            write(day, "ann", "acme", ("red", "support"))
            write(day, f"user{index % 3}", "globex" if index % 2 else "acme", () if index % 3 else ("red",))
    return url


@pytest.fixture
def ledger(six_days: str, make_database: Callable[..., str], tmp_path) -> Iterator[tuple[Any, Callable[..., None]]]:
    """A copy of the six days' ledger for this test; ``write(day, ...)`` adds a call to it."""
    from contextlib import ExitStack

    from ai_core.storage.database import Database

    url = make_database(six_days)
    with ExitStack() as stack:
        writers: list[Callable[..., None]] = []

        def write(*args: Any) -> None:
            if not writers:  # the pipeline is started for the tests that write only
                writers.append(stack.enter_context(_writer(url, tmp_path)))
            writers[0](*args)

        database = stack.enter_context(Database.open(url, migrate=False))
        yield database, write


def _by_key(by: str, rows: list[dict[str, Any]]) -> dict[Any, tuple[Any, ...]]:
    return {
        row[by] or None: (row["requests"], row["input_tokens"], row["output_tokens"], row["cost"],
                          row["unknown_cost_requests"])
        for row in rows
    }  # fmt: skip


def _assert_equals_ledger(database: Any, since: date) -> None:
    """Every grouping of the page equals ``ai usage --json`` from ``since`` on, to the last digit."""
    for by in SPEND_GROUPINGS:
        shown = spend_report(database, Filters(since=since), by=by)
        assert queries._rollup_serves(Filters(since=since), by)
        ledger = usage_report(database, by=by, since=since)  # type: ignore[arg-type]
        assert _by_key(by, shown["rows"]) == _by_key(by, ledger), by
        assert shown["total"]["cost"] == sum((r["cost"] for r in ledger), start=Decimal(0))
        assert sum((s["total"] for s in shown["series"]), start=Decimal(0)) == shown["total"]["cost"]


def _charted(top: list[Any], timed: queries.Timed, grain: str) -> dict[tuple[date, Any], Decimal]:
    drawn: dict[tuple[date, Any], Decimal] = defaultdict(Decimal)
    for day, name, cost in timed:
        drawn[(bucket_start(day, grain), name if name in top else "other")] += cost
    return {key: cost for key, cost in drawn.items() if cost}


def _assert_equals_tracking(database: Any, filters: Filters, grains: tuple[str, ...] = ("day",)) -> None:
    """The rollup's rows and chart equal the page's path over the tracking rows themselves
    (short ranges included, which the page itself reads from the tracking rows)."""
    for by in SPEND_GROUPINGS:
        if (filters.provider or filters.model) and by not in ("provider", "model"):
            continue
        rows, top, timed = queries._spend_from_rollup(database, filters, by)
        expected_rows, expected_top, expected_timed = queries._spend_from_tracking(database, filters, by)
        assert rows == expected_rows and top == expected_top, (by, filters)
        for grain in grains:
            assert _charted(top, timed, grain) == _charted(top, expected_timed, grain), (by, grain)
            shown = spend_report(database, filters, by=by, grain=grain)
            assert shown["rows"] == rows and shown["keys"] == top
            drawn: dict[tuple[date, Any], Decimal] = defaultdict(Decimal)
            for item in shown["series"]:
                for name, cost in [*item["values"].items(), ("other", item["other"])]:
                    drawn[(item["start"], name)] += cost
            assert {k: v for k, v in drawn.items() if v} == _charted(top, expected_timed, grain), (by, grain)


def _stamps(database: Any) -> dict[tuple[str, date], datetime]:
    with database.read() as conn:
        rows = conn.execute(select(SpendRollupStamp.grain, SpendRollupStamp.day, SpendRollupStamp.built_at))
        return {(row.grain, row.day): row.built_at for row in rows}


def test_the_rollup_equals_the_ledger(ledger) -> None:
    database, _ = ledger
    since = MONTH - timedelta(days=3)
    _assert_equals_ledger(database, since)
    stamps = _stamps(database)
    # Closed days and the closed month were rolled up; today was read live.
    assert {("day", d) for d in DAYS[:-1]} | {("month", MONTH)} <= set(stamps)
    assert ("day", TODAY) not in stamps
    periods = rollup.prepare(database, since, None)
    assert MONTH in periods.months and periods.live_from == TODAY
    with database.read() as conn:
        assert conn.execute(select(func.count()).select_from(SpendRollup)).scalar_one() > 0
    # A month cut by the range: read as the month less its first days, or as its days.
    _assert_equals_tracking(database, Filters(since=MONTH + timedelta(days=5)), ("day", "week", "month"))
    for filters in (
        Filters(since=MONTH + timedelta(days=25), until=TODAY - timedelta(days=2)),
        Filters(since=MONTH + timedelta(days=5), tenant="acme"),
        Filters(since=MONTH, until=MONTH + timedelta(days=20), tenant="globex"),
        Filters(since=MONTH, provider="fake"),
        Filters(since=MONTH, model="echo"),
        Filters(),
    ):
        _assert_equals_tracking(database, filters)
    cut = rollup.prepare(database, MONTH + timedelta(days=5), None)
    assert MONTH in cut.months and cut.minus == [(MONTH, MONTH + timedelta(days=4))]
    models = {row["model"]: row for row in models_report(database, Filters(since=since))}
    ledger_models = {row["model"]: row for row in usage_report(database, by="model", since=since)}
    assert {k: (v["calls"], v["cost"]) for k, v in models.items()} == {
        k: (v["requests"], v["cost"]) for k, v in ledger_models.items()
    }


def test_a_late_write_to_a_closed_day_is_read_at_once(ledger) -> None:
    database, write = ledger
    since = MONTH - timedelta(days=3)
    _assert_equals_ledger(database, since)
    before = _stamps(database)
    # Calls committed after their day closed: on an existing key of a recent day (checked in
    # full), and on a settled day in the rolled-up month, a new key (a new user, tenant and tag)
    # beside one more call of an existing key.
    assert TODAY - DAYS[4] < timedelta(days=rollup.RECHECKED_DAYS) <= TODAY - DAYS[1]
    write(DAYS[4], "ann", "acme", ("red", "support"))
    write(DAYS[1], "ann", "acme", ("red", "support"))
    write(DAYS[1], "zoe", "initech", ("late",))
    _assert_equals_ledger(database, since)
    _assert_equals_tracking(database, Filters(since=MONTH + timedelta(days=5)))
    after = _stamps(database)
    assert after[("day", DAYS[1])] > before[("day", DAYS[1])] and after[("day", DAYS[4])] > before[("day", DAYS[4])]
    assert after[("month", MONTH)] > before[("month", MONTH)]
    assert after[("day", DAYS[0])] == before[("day", DAYS[0])]  # untouched days are not rolled up again
    shown = spend_report(database, Filters(since=since, tenant="initech"), by="tag")
    assert [(row["tag"], row["requests"]) for row in shown["rows"]] == [("late", 1)]


def test_a_settled_day_is_read_again_after_a_rebuild(ledger) -> None:
    database, write = ledger
    since = MONTH - timedelta(days=3)
    _assert_equals_ledger(database, since)
    # One more call on an existing key of a settled day (only a clock days behind writes one):
    # a rebuild (`ai usage rebuild`, the generate-analytics job) makes the rollup forget the day.
    write(DAYS[2], "ann", "acme", ("red", "support"))
    rebuild_analytics(database, since=DAYS[2])
    _assert_equals_ledger(database, since)


def test_a_rebuild_of_the_tracking_table_is_read_at_once(ledger) -> None:
    database, _ = ledger
    since = MONTH - timedelta(days=3)
    _assert_equals_ledger(database, since)
    before = _stamps(database)
    rebuild_analytics(database, since=MONTH)  # `ai usage rebuild`: every tracking row rewritten
    _assert_equals_ledger(database, since)
    after = _stamps(database)
    assert all(after[("day", d)] > before[("day", d)] for d in DAYS[:-1])


def test_conversations_deleted_by_cleanup_leave_the_rollup_at_once(ledger) -> None:
    """cleanup-conversations --delete on a settled day of a rolled-up month, one call of a key
    that keeps another (the day keeps its tracking rows, only their sums change): the pages
    equal the ledger left behind at once, without a rebuild."""
    from sqlalchemy import update

    from ai_core.jobs.cleanup_conversations import cleanup_conversations
    from ai_core.storage.conversation_tables import Conversation, StoredMessage

    database, write = ledger
    since = MONTH - timedelta(days=3)
    conversations, messages = Conversation.__table__, StoredMessage.__table__
    anns = select(messages.c.conversation_id).where(messages.c.created_on == DAYS[1], messages.c.user_id == "ann")
    with database.read() as conn:
        seeded = set(conn.execute(anns).scalars())
    write(DAYS[1], "ann", "acme", ("red", "support"))  # a second call of ann's key that day...
    rebuild_analytics(database, since=DAYS[1])  # ...in the tracking rows and the rollup
    _assert_equals_ledger(database, since)
    with database.write() as conn:
        (extra,) = set(conn.execute(anns).scalars()) - seeded
        conn.execute(
            update(conversations)
            .where(conversations.c.id == extra)
            .values(updated_at=datetime.now(UTC) - timedelta(days=400))
        )
    assert cleanup_conversations(database, older_than_days=365, action="delete") == 1
    _assert_equals_ledger(database, since)
    shown = spend_report(database, Filters(since=DAYS[1], until=DAYS[1], tenant="acme"), by="user")
    assert {row["user"]: row["requests"] for row in shown["rows"]}["ann"] == 1


def test_a_database_the_dashboard_cannot_write_is_read_live(ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import OperationalError

    database, _ = ledger

    @contextmanager
    def refused() -> Iterator[None]:
        raise OperationalError("INSERT", {}, Exception("permission denied for table ai_spend_rollup"))
        yield

    monkeypatch.setattr(database, "write", refused)
    since = MONTH - timedelta(days=3)
    _assert_equals_ledger(database, since)
    periods = rollup.prepare(database, since, None)
    assert periods.months == [] and set(DAYS[:-1]) <= set(periods.live_days)
    assert _stamps(database) == {}


def test_latency_of_today_is_live_and_of_past_days_as_last_refreshed(ledger) -> None:
    from ai_core.dashboard.queries import latency_refreshed_at
    from ai_core.storage.analytics import _percentile
    from ai_core.storage.analytics_tables import ModelPerformance
    from ai_core.storage.conversation_tables import StoredMessage

    database, _ = ledger
    with database.read() as conn:
        today = sorted(
            float(value)
            for value in conn.execute(
                select(StoredMessage.latency_ms).where(StoredMessage.billable, StoredMessage.created_on == TODAY)
            ).scalars()
        )
    assert today
    with database.write() as conn:  # no refresh has run (the listener may have written today's row)
        conn.execute(delete(ModelPerformance))
    assert latency_refreshed_at(database, Filters(since=MONTH)) is None
    (model,) = models_report(database, Filters(since=TODAY))
    assert model["p50_latency_ms"] == _percentile(today, 0.5) and model["max_latency_ms"] == today[-1]
    rebuild_analytics(database)
    assert latency_refreshed_at(database, Filters(since=MONTH)) is not None
    with database.read() as conn:
        past = conn.execute(
            select(ModelPerformance.successes, ModelPerformance.p50_latency_ms).where(ModelPerformance.day < TODAY)
        ).all()
    weighed = sum(ok * p50 for ok, p50 in past) + len(today) * _percentile(today, 0.5)  # type: ignore[operator]
    (model,) = models_report(database, Filters(since=MONTH - timedelta(days=3)))
    assert model["p50_latency_ms"] == pytest.approx(weighed / (sum(ok for ok, _ in past) + len(today)))


def test_ai_dashboard_rolls_up_the_closed_days_at_start(ledger) -> None:
    import threading

    from starlette.testclient import TestClient

    from ai_core.dashboard.app import create_app

    database, _ = ledger
    with TestClient(create_app(database, prebuild=True), base_url="http://127.0.0.1"):
        for thread in threading.enumerate():
            if thread.name == "ai-dashboard-rollup":
                thread.join(60)
    assert {("day", d) for d in DAYS[:-1]} | {("month", MONTH)} <= set(_stamps(database))
