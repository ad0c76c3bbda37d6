"""Derived tables rebuild from the ledger; the jobs store, price, archive and delete."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from ai_core.events.types import ModelSynced
from ai_core.jobs.calculate_costs import calculate_costs
from ai_core.jobs.cleanup_conversations import cleanup_conversations
from ai_core.jobs.generate_analytics import generate_analytics
from ai_core.jobs.sync_models import sync_models
from ai_core.storage.analytics import usage_report
from ai_core.storage.analytics_tables import CostTracking, ModelPerformance, UsageAnalytics
from ai_core.storage.columns import utcnow
from ai_core.storage.conversation_tables import Conversation, StoredMessage
from ai_core.types import ModelPrice

pytestmark = pytest.mark.anyio


async def _seed(ai) -> list:
    replies = []
    for user, tags in (("ann", ("red",)), ("ann", ("red", "blue")), ("bob", ())):
        conversation = ai.conversation("fake/echo", user=user, tenant="acme", tags=tags)
        replies.append(await conversation.user("hello world").asend())
    return replies


@pytest.fixture
def ai(database_url: str):
    from ai_core.app import AI

    return AI(database_url=database_url, persistence=True)


async def test_usage_report_groups_the_ledger(ai) -> None:
    async with ai:
        replies = await _seed(ai)
        database = ai.services.database
        total = sum((r.cost.total for r in replies), Decimal(0))
        by_user = {row["user"]: row for row in usage_report(database, by="user")}
        assert by_user["ann"]["requests"] == 2 and by_user["bob"]["requests"] == 1
        assert by_user["ann"]["cost"] + by_user["bob"]["cost"] == total
        by_tag = {row["tag"]: row["requests"] for row in usage_report(database, by="tag")}
        assert by_tag == {"red": 2, "blue": 1}
        (day,) = usage_report(database, by="day")
        assert day["cost"] == total
        assert usage_report(database, by="tenant")[0]["tenant"] == "acme"
        assert usage_report(database, by="model")[0]["model"] == "fake/echo"
        assert usage_report(database, since=utcnow().date() + timedelta(days=1)) == []


def _tracking_rows(database) -> list[dict]:
    keep = (
        "day",
        "user_key",
        "tenant_key",
        "tags_key",
        "provider",
        "model",
        "currency",
        "requests",
        "unknown_cost_requests",
        "input_tokens",
        "output_tokens",
        "cost",
    )
    with database.read() as conn:
        rows = conn.execute(select(CostTracking.__table__)).mappings().all()
    return sorted(({k: row[k] for k in keep} for row in rows), key=lambda r: (r["user_key"], r["tags_key"]))


async def test_cost_tracking_is_written_with_the_ledger_by_tenant_and_tags(ai) -> None:
    async with ai:
        replies = await _seed(ai)
        database = ai.services.database
        # No event needs to run: the tracking rows are part of each call's ledger transaction.
        live = _tracking_rows(database)
        assert [(r["user_key"], r["tenant_key"], r["tags_key"]) for r in live] == [
            ("ann", "acme", ",blue,red,"),
            ("ann", "acme", ",red,"),
            ("bob", "acme", ""),
        ]
        total = sum((r.cost.total for r in replies), Decimal(0))
        assert sum((row["cost"] for row in live), Decimal(0)) == total
        with database.write() as conn:  # lose the table entirely ...
            conn.execute(CostTracking.__table__.delete())
        counts = generate_analytics(database)  # ... and rebuild it from the ledger, key for key
        assert counts == {"ai_usage_analytics": 1, "ai_cost_tracking": 3, "ai_model_performance": 1}
        assert _tracking_rows(database) == live
        with database.read() as conn:
            usage = conn.execute(select(UsageAnalytics.__table__)).mappings().one()
            performance = conn.execute(select(ModelPerformance.__table__)).mappings().one()
        assert usage["cost"] == total and usage["requests"] == 3 and performance["success_rate"] == 1.0


async def test_failures_count_in_model_performance(ai) -> None:
    from ai_core.errors import ProviderUnavailableError

    async with ai:
        await ai.conversation("fake/echo").user("ok").asend()
        with pytest.raises(ProviderUnavailableError):
            await (
                ai.conversation("fake/echo")
                .user("no")
                .option("fake_error", "unavailable")
                .option("retry_attempts", 0)
                .asend()
            )
        generate_analytics(ai.services.database)
        with ai.services.database.read() as conn:
            row = conn.execute(select(ModelPerformance.__table__)).mappings().one()
    assert row["successes"] == 1 and row["failures"] >= 1 and 0 < row["error_rate"] < 1


async def test_sync_models_stores_models_and_prices(ai) -> None:
    seen: list[ModelSynced] = []
    async with ai:
        ai.on(ModelSynced)(seen.append)
        (result,) = await sync_models(ai.services, provider="fake", remote=True, providers=ai.providers)
        await ai.events.adrain()
        assert result.models >= 1 and result.prices >= 1 and result.error is None
        from ai_core.storage.catalog import read_prices

        stored = read_prices(ai.services.database)
        assert any(p.provider == "fake" and p.model == "echo" and p.output_per_mtok == Decimal("1.5") for p in stored)
        assert [e.provider for e in seen] == ["fake"]
        # Syncing twice changes nothing.
        (again,) = await sync_models(ai.services, provider="fake")
        assert read_prices(ai.services.database) == stored and again.prices == result.prices


async def test_sync_models_unknown_provider(ai) -> None:
    from ai_core.errors import UnknownProviderError

    async with ai:
        with pytest.raises(UnknownProviderError):
            await sync_models(ai.services, provider="nope")


async def test_calculate_costs_prices_unknown_rows_later(ai) -> None:
    async with ai:
        reply = await ai.conversation("fake/later-model").user("hello").asend()
        assert reply.cost.total is None
        ai.services.prices.add(
            ModelPrice(
                provider="fake",
                model="later-model",
                effective_from=utcnow().date(),
                input_per_mtok=Decimal("1"),
                output_per_mtok=Decimal("2"),
            )
        )
        assert calculate_costs(ai.services) == 1
        totals = await ai.services.store.totals(reply.conversation_id)
        expected = (Decimal(reply.usage.input_tokens) * 1 + Decimal(reply.usage.output_tokens) * 2) / Decimal(10**6)
        assert totals["total_cost"] == expected and totals["unknown_cost_count"] == 0
        assert calculate_costs(ai.services) == 0
        # ai_cost_tracking (what budgets, the dashboard and `ai usage` by tenant or tag read) agrees.
        [tracked] = _tracking_rows(ai.services.database)
        assert tracked["cost"] == expected and tracked["unknown_cost_requests"] == 0 and tracked["requests"] == 1
        assert tracked["input_tokens"] == reply.usage.input_tokens
        # ...and so does the day's usage row of that model (it counted the call as unpriced).
        with ai.services.database.read() as conn:
            usage = conn.execute(select(UsageAnalytics.__table__)).mappings().one()
        assert usage["cost"] == expected and usage["unknown_cost_requests"] == 0 and usage["model"] == "later-model"


async def test_cleanup_archives_or_deletes_old_conversations(ai) -> None:
    async with ai:
        old = await ai.conversation("fake/echo").user("old").asend()
        new = await ai.conversation("fake/echo").user("new").asend()
        database = ai.services.database
        with database.write() as conn:
            conn.execute(
                update(Conversation.__table__)
                .where(Conversation.__table__.c.id == old.conversation_id)
                .values(updated_at=utcnow() - timedelta(days=40))
            )
        assert cleanup_conversations(database, older_than_days=30) == 1
        assert cleanup_conversations(database, older_than_days=30) == 0  # already archived
        assert (await ai.services.store.totals(old.conversation_id))["status"] == "archived"
        assert cleanup_conversations(database, older_than_days=30, action="delete") == 1
        assert await ai.services.store.load(old.conversation_id) is None
        assert await ai.services.store.load(new.conversation_id) is not None
        with database.read() as conn:
            left = conn.execute(select(StoredMessage.__table__.c.conversation_id)).scalars().all()
        assert set(left) == {new.conversation_id}
        with pytest.raises(ValueError):
            cleanup_conversations(database, older_than_days=-1)


async def test_deleting_old_conversations_keeps_every_derived_table_equal_to_the_ledger(ai) -> None:
    """cleanup --delete takes the deleted calls' spend out of ai_cost_tracking and analytics at
    once (they used to keep it until a rebuild), exactly as a rebuild from the ledger would."""
    from ai_core.storage.analytics import rebuild_analytics
    from ai_core.storage.analytics_tables import ModelPerformance, UsageAnalytics

    def derived(database) -> dict[str, list]:
        tables = {"usage": UsageAnalytics.__table__, "performance": ModelPerformance.__table__}
        with database.read() as conn:
            found = {name: sorted(
                tuple((k, v) for k, v in row.items() if k not in ("id", "built_at", "updated_at"))
                for row in conn.execute(select(table)).mappings()
            ) for name, table in tables.items()}  # fmt: skip
        return {**found, "tracking": _tracking_rows(database)}

    async with ai:
        old = [await ai.conversation("fake/echo", user=u, tags=["t"]).user(f"old {u}").asend() for u in ("a", "b")]
        await ai.conversation("fake/echo", user="a", tags=["t"]).user("new").asend()
        database = ai.services.database
        with database.write() as conn:
            conn.execute(
                update(Conversation.__table__)
                .where(Conversation.__table__.c.id.in_([r.conversation_id for r in old]))
                .values(updated_at=utcnow() - timedelta(days=40))
            )
        ai.events.drain()
        assert cleanup_conversations(database, older_than_days=30, action="delete") == 2
        after_cleanup = derived(database)
        assert [row["requests"] for row in after_cleanup["tracking"]] == [1]  # user b's row is gone
        rebuild_analytics(database)
        assert derived(database) == after_cleanup
