"""Rate limits and the response cache in memory (one process), both anyio backends.

The fake provider answers; the local Chat Completions server plays a provider
that goes down. Cache hits on the ledger: SQLite and PostgreSQL.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from servers.fixtures import TEST_API_KEY
from servers.openai_compat import Completion, ErrorReply, OpenAICompatServer, Usage
from sqlalchemy import select

from ai_core import AI, ChatRequest, Message, StreamCompleted, TextDelta
from ai_core.errors import ConfigurationError, ProviderUnavailableError, RateLimitReachedError
from ai_core.pipeline.middleware import Middleware
from ai_core.scale.cache import _KEYED, _NOT_KEYED, MemoryCache, request_digest
from ai_core.storage.analytics_tables import CostTracking
from ai_core.storage.conversation_tables import Conversation, StoredMessage

pytestmark = pytest.mark.anyio


def fake_ai(**kwargs: Any) -> AI:
    return AI(persistence=False, **kwargs)


# -- rate limits -------------------------------------------------------------------


async def test_a_spent_request_limit_refuses_naming_the_limit_and_when_it_frees() -> None:
    async with fake_ai(rate_limits=[{"scope": "user", "name": "bob", "requests_per_minute": 2}]) as ai:
        ai.providers.scale.limiter.wait = 0  # type: ignore[union-attr]
        for _ in range(2):
            await ai.conversation("fake/echo", user="bob").user("Hi").asend()
        with pytest.raises(RateLimitReachedError) as caught:
            await ai.conversation("fake/echo", user="bob").user("Hi").asend()
        await ai.conversation("fake/echo", user="alice").user("Hi").asend()  # her own calls are not bob's
    assert caught.value.limit == "2 requests per minute for user 'bob'"
    assert 0 < caught.value.retry_after <= 60
    assert "frees in" in str(caught.value) and not caught.value.retryable


async def test_a_limit_without_a_name_applies_to_each_tenant_separately() -> None:
    async with fake_ai(rate_limits=[{"scope": "tenant", "requests_per_minute": 1}]) as ai:
        ai.providers.scale.limiter.wait = 0  # type: ignore[union-attr]
        await ai.conversation("fake/echo", tenant="a").user("Hi").asend()
        await ai.conversation("fake/echo", tenant="b").user("Hi").asend()
        with pytest.raises(RateLimitReachedError, match="tenant 'a'"):
            await ai.conversation("fake/echo", tenant="a").user("Hi").asend()


async def test_tokens_per_minute_count_the_answer_too(openai_server: OpenAICompatServer) -> None:
    provider = {"api_key": TEST_API_KEY, "base_url": openai_server.base_url}
    openai_server.reply(Completion(text="long", usage=Usage(prompt_tokens=5, completion_tokens=120)))
    limits = [{"scope": "model", "name": "openai/gpt-4o-mini", "tokens_per_minute": 100}]
    async with AI(persistence=False, providers={"openai": provider}, rate_limits=limits) as ai:
        ai.providers.scale.limiter.wait = 0  # type: ignore[union-attr]
        await ai.conversation("openai/gpt-4o-mini").user("Hi").asend()  # ~1 token estimated, 125 used
        with pytest.raises(RateLimitReachedError, match="100 tokens per minute for model 'openai/gpt-4o-mini'"):
            await ai.conversation("openai/gpt-4o-mini").user("Hi").asend()
    assert len(openai_server.chat_bodies) == 1


async def test_a_limited_call_waits_at_most_as_long_as_configured() -> None:
    async with fake_ai(rate_limits=[{"scope": "provider", "name": "fake", "requests_per_minute": 1}]) as ai:
        limiter = ai.providers.scale.limiter
        assert limiter is not None
        limiter.wait = 0.2  # the window frees in up to a minute: more than this wait
        await ai.conversation("fake/echo").user("Hi").asend()
        with pytest.raises(RateLimitReachedError):
            await ai.conversation("fake/echo").user("Hi").asend()


def test_a_bad_rate_limit_is_one_clear_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from ai_core.config import load_settings

    monkeypatch.setenv("AI_RATE_LIMITS", '[{"scope": "planet", "requests_per_minute": 1}]')
    with pytest.raises(ConfigurationError, match="AI_RATE_LIMITS"):
        load_settings()
    monkeypatch.setenv("AI_RATE_LIMITS", '[{"scope": "model", "name": "gpt-4o", "requests_per_minute": 1}]')
    with pytest.raises(ConfigurationError, match="provider/model"):
        load_settings()


# -- response cache ------------------------------------------------------------------


class Counting(Middleware):
    """Sits where the budget layer sits (inside the cache): counts the calls that reach it."""

    name = "counting"
    order = 100

    def __init__(self) -> None:
        self.calls = 0

    async def rewrite(self, call: Any) -> Any:
        self.calls += 1
        return call


async def test_a_repeated_request_is_answered_from_the_cache_at_no_cost() -> None:
    counting = Counting()
    async with fake_ai(middleware=[counting]) as ai:
        first = await ai.conversation("fake/echo").cache(60).user("Hi").asend()
        second = await ai.conversation("fake/echo").cache(60).user("Hi").asend()
        other = await ai.conversation("fake/echo").cache(60).user("Hello").asend()
        uncached = await ai.conversation("fake/echo").user("Hi").asend()
    assert (first.cached, second.cached, other.cached, uncached.cached) == (False, True, False, False)
    assert second.text == first.text and second.usage == first.usage
    assert second.cost is not None and second.cost.total == Decimal(0)
    assert counting.calls == 3  # the hit reached neither the budget's place nor the provider


async def test_the_cache_keeps_tenants_apart_and_streams_hits() -> None:
    async with fake_ai() as ai:
        await ai.conversation("fake/echo", tenant="a").cache(60).user("Hi").asend()
        theirs = await ai.conversation("fake/echo", tenant="b").cache(60).user("Hi").asend()
        events = [e async for e in ai.conversation("fake/echo", tenant="a").cache(60).user("Hi").astream()]
    assert not theirs.cached
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Echo: Hi"
    final = events[-1]
    assert isinstance(final, StreamCompleted) and final.response.cached


async def test_the_response_cache_by_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AI_RESPONSE_CACHE_TTL", "60")
    async with fake_ai() as ai:
        await ai.conversation("fake/echo").user("Hi").asend()
        hit = await ai.conversation("fake/echo").user("Hi").asend()
        skipped = await ai.conversation("fake/echo").without_middleware("response_cache").user("Hi").asend()
    assert hit.cached and not skipped.cached


_OPTION_VALUES = {
    "system": st.none() | st.text(max_size=5),
    "temperature": st.none() | st.sampled_from([0.0, 0.5, 1.0]),
    "top_p": st.none() | st.sampled_from([0.1, 1.0]),
    "max_tokens": st.none() | st.integers(1, 3),
    "stop": st.none() | st.lists(st.sampled_from(["a", "b"]), max_size=2),
    "seed": st.none() | st.integers(0, 2),
    "reasoning_effort": st.none() | st.sampled_from(["low", "high"]),
    "provider_options": st.dictionaries(st.sampled_from(["x", "y"]), st.integers(0, 1), max_size=2),
    "user": st.none() | st.text(max_size=3),
    "metadata": st.dictionaries(st.sampled_from(["k"]), st.text(max_size=2), max_size=1),
}
_requests = st.fixed_dictionaries(
    {"model": st.sampled_from(["m1", "m2"]), "texts": st.lists(st.text(max_size=4), min_size=1, max_size=3)},
    optional=_OPTION_VALUES,
)


def _request(fields: dict[str, Any]) -> ChatRequest:
    values = {k: v for k, v in fields.items() if k != "texts"}
    return ChatRequest(provider="p", messages=[Message.user(t) for t in fields["texts"]], **values)


def test_every_request_field_is_keyed_or_named_as_not() -> None:
    """A field added to ChatRequest must be placed: keyed (it changes the answer) or not."""
    assert set(ChatRequest.model_fields) == _KEYED | _NOT_KEYED and not _KEYED & _NOT_KEYED


@given(_requests, _requests, st.sampled_from([None, "t1", "t2"]), st.sampled_from([None, "t1", "t2"]))
@settings(max_examples=300, deadline=None)
def test_two_requests_share_a_cache_key_exactly_when_what_changes_the_answer_is_the_same(
    a: dict[str, Any], b: dict[str, Any], tenant_a: str | None, tenant_b: str | None
) -> None:
    first, second = _request(a), _request(b)
    same_answer = tenant_a == tenant_b and first.model_dump(include=_KEYED) == second.model_dump(include=_KEYED)
    assert (request_digest(first, tenant_a) == request_digest(second, tenant_b)) == same_answer


async def test_the_last_word_on_caching_a_conversation_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    """``.cache()`` and ``.without_middleware("response_cache")``: whichever comes last."""
    monkeypatch.setenv("AI_RESPONSE_CACHE_TTL", "60")
    async with fake_ai() as ai:
        await ai.conversation("fake/echo").user("Hi").asend()
        skipped_last = ai.conversation("fake/echo").cache(60).without_middleware("response_cache").user("Hi")
        cached_last = ai.conversation("fake/echo").without_middleware("response_cache").cache(60).user("Hi")
        assert not (await skipped_last.asend()).cached
        assert (await cached_last.asend()).cached


async def test_a_conversations_own_ttl_and_fallback_apply_to_its_calls_only() -> None:
    async with fake_ai() as ai:
        await ai.conversation("fake/echo").cache(0.05).user("short").asend()
        await ai.conversation("fake/echo").cache(60).user("long").asend()
        await anyio.sleep(0.2)
        short = await ai.conversation("fake/echo").cache(60).user("short").asend()
        long = await ai.conversation("fake/echo").cache(0.05).user("long").asend()
        other = await ai.conversation("fake/echo").user("long").asend()
    assert (short.cached, long.cached, other.cached) == (False, True, False)


async def test_memory_cache_is_bounded_and_expires() -> None:
    cache = MemoryCache(maxsize=2)
    await cache.set("a", 1, 60)
    await cache.set("b", 2, 60)
    await cache.get("a")
    await cache.set("c", 3, 60)
    assert (await cache.get("a"), await cache.get("b"), await cache.get("c")) == (1, None, 3)
    await cache.set("d", 4, 0.001)
    await anyio.sleep(0.01)  # past its ttl (a microsecond's ttl could still be alive on a fast call)
    assert await cache.get("d") is None and len(cache) == 1  # "a" made room for "d", which expired


async def test_when_every_provider_is_down_an_expired_answer_serves_if_opted_in(
    openai_server: OpenAICompatServer,
) -> None:
    provider = {"api_key": TEST_API_KEY, "base_url": openai_server.base_url, "retry_attempts": 0}
    openai_server.reply(Completion(text="remembered"))
    async with AI(persistence=False, providers={"openai": provider}) as ai:
        await ai.conversation("openai/gpt-4o-mini").cache(0.01, fallback=True).user("Hi").asend()
        await ai.conversation("openai/gpt-4o-mini").cache(0.01).user("Again").asend()  # no fallback: not kept
        import anyio

        await anyio.sleep(0.05)  # past the TTL
        openai_server.reply(*[ErrorReply.unavailable() for _ in range(4)])
        served = await ai.conversation("openai/gpt-4o-mini").cache(0.01, fallback=True).user("Hi").asend()
        with pytest.raises(ProviderUnavailableError):
            await ai.conversation("openai/gpt-4o-mini").cache(0.01, fallback=True).user("Again").asend()
    assert served.cached and served.text == "remembered"


async def test_a_cache_hit_is_on_the_ledger_with_the_usage_it_saved_at_zero_cost(
    openai_server: OpenAICompatServer, database_url: str
) -> None:
    provider = {"api_key": TEST_API_KEY, "base_url": openai_server.base_url, "retry_attempts": 0}
    openai_server.reply(Completion(text="paid once", usage=Usage(prompt_tokens=40, completion_tokens=10)))
    async with AI(database_url=database_url, providers={"openai": provider}) as ai:
        paid = ai.conversation("openai/gpt-4o-mini").cache(60)
        await paid.user("Hi").asend()
        free = ai.conversation("openai/gpt-4o-mini").cache(60)
        hit = await free.user("Hi").asend()
        table = StoredMessage.__table__
        with ai.services.database.read() as conn:
            rows = list(conn.execute(select(table).where(table.c.role == "assistant").order_by(table.c.created_at)))
            totals = {c.id: c for c in conn.execute(select(Conversation.__table__))}
            tracked = list(conn.execute(select(CostTracking.__table__)))
    assert len(openai_server.chat_bodies) == 1 and hit.cached and hit.message_id is not None
    by_id = {r.id: r for r in rows}
    row = by_id[hit.message_id]
    assert (row.outcome, row.billable, row.cost, row.input_tokens, row.output_tokens) == (
        "cache_hit",
        False,
        Decimal(0),
        40,
        10,
    )
    assert totals[free.id].total_cost == Decimal(0) and totals[free.id].total_input_tokens == 0
    assert totals[paid.id].total_cost > 0
    assert sum(t.requests for t in tracked) == 1  # only the paid call is in cost tracking


async def test_a_providers_model_list_is_cached_for_an_hour(openai_server: OpenAICompatServer) -> None:
    provider = {"api_key": TEST_API_KEY, "base_url": openai_server.base_url}
    async with AI(persistence=False, providers={"openai": provider}) as ai:
        first = await ai.providers.list_models("openai")
        again = await ai.providers.list_models("openai")
        openai_server.models = ["gpt-4o", "gpt-new"]
        fresh = await ai.providers.list_models("openai", fresh=True)
        stored = await ai.providers.scale.store.get("ai:models:openai")
    asked = [r for r in openai_server.requests if r.path.endswith("/models")]
    assert len(asked) == 2 and [m.id for m in first] == [m.id for m in again]
    assert "gpt-new" in [m.id for m in fresh] and [m["id"] for m in stored] == [m.id for m in fresh]


async def test_prices_another_process_stored_are_read_again_once_a_day(
    openai_server: OpenAICompatServer, database_url: str
) -> None:
    from datetime import UTC, date, datetime

    from ai_core.storage.catalog import upsert_model, upsert_price, upsert_provider
    from ai_core.types import ModelInfo, ModelPrice

    provider = {"api_key": TEST_API_KEY, "base_url": openai_server.base_url}
    usage = Usage(prompt_tokens=1000, completion_tokens=0)
    openai_server.reply(Completion(text="a", usage=usage), Completion(text="b", usage=usage))
    async with AI(database_url=database_url, providers={"openai": provider}) as ai:
        first = await ai.conversation("openai/gpt-brand-new").user("Hi").asend()
        price = ModelPrice(
            provider="openai",
            model="gpt-brand-new",
            effective_from=date(2020, 1, 1),
            input_per_mtok=Decimal("2"),
            output_per_mtok=Decimal("8"),
        )
        now = datetime.now(UTC)
        with ai.services.database.write() as conn:  # what `ai models sync --prices` elsewhere leaves
            model = upsert_model(
                conn,
                upsert_provider(conn, "openai"),
                ModelInfo(provider="openai", id="gpt-brand-new"),
                source="remote",
                now=now,
            )
            upsert_price(conn, model, price, now=now)
        ai.providers.scale.prices_due.clear()  # a day has passed: the model's prices are looked up again
        ai.providers.scale.price_store._entries.clear()  # and its ai:costs key has expired
        ai.providers.scale._table_read_at = None  # and so has this process's read of the table
        second = await ai.conversation("openai/gpt-brand-new").user("Hi").asend()
    assert first.cost is not None and first.cost.total is None  # unknown, never zero
    assert second.cost is not None and second.cost.total == Decimal("0.002")


async def test_a_model_held_by_its_limit_hands_the_call_to_the_fallback() -> None:
    limits = [{"scope": "model", "name": "fake/echo", "requests_per_minute": 1}]
    async with fake_ai(rate_limits=limits) as ai:
        ai.providers.scale.limiter.wait = 0  # type: ignore[union-attr]
        await ai.conversation("fake/echo").user("Hi").asend()
        reply = await ai.conversation("fake/echo").fallback("fake/other").user("Hi").asend()
        with pytest.raises(RateLimitReachedError):
            await ai.conversation("fake/echo").user("Hi").asend()
    assert reply.model == "other"


async def test_without_redis_a_process_reads_the_price_table_at_most_once_a_day(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ai_core.storage import catalog

    reads: list[int] = []
    real_read = catalog.read_prices
    monkeypatch.setattr(catalog, "read_prices", lambda database: reads.append(1) or real_read(database))
    async with AI(database_url=f"sqlite:///{tmp_path}/ai.db") as ai:
        reads.clear()  # the read when the instance was made
        for model in ("fake/echo", "fake/other", "fake/echo", "fake/third"):
            await ai.conversation(model).user("Hi").asend()
        kept = await ai.providers.scale.price_store.get("ai:costs:fake:echo")
    assert reads == [1] and kept == []  # one look at the table for every model; none had stored rows
