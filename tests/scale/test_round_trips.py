"""With Redis a call makes one round trip, counted on the wire by a proxy in front of Redis,
and the limits it takes are the ``limits`` library's own: a process using the library
directly sees them, and they see it. Both anyio backends.

Before ai_core.scale.shared, a call with two limits and a cache lookup made four
round trips (one library script per limit, a GET, and one to settle its tokens)
and a fifth to store its answer.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import anyio
import pytest
from limits import RateLimitItemPerMinute
from limits.storage import RedisStorage
from limits.strategies import SlidingWindowCounterRateLimiter
from scale.redis_proxy import CountingProxy, counting_proxy
from servers.fixtures import TEST_API_KEY
from servers.openai_compat import Completion, OpenAICompatServer, Usage

from ai_core import AI
from ai_core.errors import RateLimitReachedError
from ai_core.scale.limiter import Limiter
from ai_core.scale.rules import RateLimit

pytestmark = pytest.mark.anyio

LIMITS = [
    {"scope": "provider", "name": "fake", "requests_per_minute": 1000},
    {"scope": "model", "name": "fake/echo", "tokens_per_minute": 100000},
]


@pytest.fixture
async def proxied(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[CountingProxy, str]]:
    with counting_proxy(redis_url) as (proxy, url):
        monkeypatch.setenv("AI_REDIS_URL", url)
        monkeypatch.setenv("AI_RATE_LIMIT_WAIT", "0")
        yield proxy, url


def shared_ai(limits: list[dict[str, Any]] = LIMITS) -> AI:
    ai = AI(persistence=False, rate_limits=limits)
    # Queued writes ride on the next call's round trip; the write thread waits a minute, so any
    # round trip counted here is a call's own (the thread's own send is tested below).
    ai.providers.scale.redis.write_delay = 60.0
    return ai


def library_remaining(redis_url: str, amount: int, *identifiers: str) -> int:
    """What the ``limits`` library itself says is left of a limit."""
    limiter = SlidingWindowCounterRateLimiter(RedisStorage(redis_url))
    return int(limiter.get_window_stats(RateLimitItemPerMinute(amount, namespace="ai"), *identifiers).remaining)


async def test_a_call_with_two_limits_and_a_cache_lookup_is_one_round_trip(
    proxied: tuple[CountingProxy, str], redis_url: str
) -> None:
    proxy, _ = proxied
    calls = 12
    async with shared_ai() as ai:
        await ai.conversation("fake/echo").cache(60).user("warm up: connect, load the script").asend()
        before = proxy.round_trips
        replies = [await ai.conversation("fake/echo").cache(60).user(f"question {i}").asend() for i in range(calls)]
        misses = proxy.round_trips - before
        before = proxy.round_trips
        again = [await ai.conversation("fake/echo").cache(60).user(f"question {i}").asend() for i in range(calls)]
        hits = proxy.round_trips - before
        before = proxy.round_trips
        plain = [await ai.conversation("fake/echo").user(f"uncached {i}").asend() for i in range(calls)]
        uncached = proxy.round_trips - before
        used = sum(reply.usage.total_tokens for reply in [*replies, *plain])
    assert not any(reply.cached for reply in replies) and all(reply.cached for reply in again)
    assert [misses, hits, uncached] == [calls, calls, calls]  # one round trip per call, nothing else
    # Every token and request reached Redis (the last call's tokens when the instance closed),
    # and the limits library reads them from its own keys.
    warm = 1
    assert library_remaining(redis_url, 1000, "provider", "fake", "requests", "0") == 1000 - warm - 2 * calls
    tokens_left = library_remaining(redis_url, 100000, "model", "fake/echo", "tokens", "1")
    assert 100000 - tokens_left >= used  # the warm-up call's tokens are in it too


async def test_the_write_thread_sends_what_no_call_carried(proxied: tuple[CountingProxy, str], redis_url: str) -> None:
    proxy, _ = proxied
    async with AI(persistence=False, rate_limits=LIMITS[1:]) as ai:
        redis = ai.providers.scale.redis
        redis.write_delay = 0.05

        async def settled(expected: int) -> None:
            with anyio.fail_after(10):  # only catches a hang: the thread sends 0.05 s after a call
                while redis._pending or proxy.round_trips < expected:
                    await anyio.sleep(0.02)

        async def quiet() -> None:  # the warm-up's own traffic (connections, scripts, prices) is over
            with anyio.fail_after(10):
                while True:
                    seen = proxy.round_trips
                    await anyio.sleep(0.3)
                    if not redis._pending and proxy.round_trips == seen:
                        return

        first = await ai.conversation("fake/echo").cache(60).user("warm up: connections").asend()
        await settled(proxy.round_trips + 1)
        await quiet()
        before = proxy.round_trips
        reply = await ai.conversation("fake/echo").cache(60).user("a lone call").asend()
        await settled(before + 2)
        assert proxy.round_trips == before + 2  # its own, and its answer and tokens in one nobody waited for
        left = library_remaining(redis_url, 100000, "model", "fake/echo", "tokens", "0")
        assert 100000 - left >= first.usage.total_tokens + reply.usage.total_tokens
        assert len(await redis.execute("KEYS", "ai:response:*")) == 2


async def test_another_process_using_the_limits_library_shares_the_limit(
    proxied: tuple[CountingProxy, str], redis_url: str
) -> None:
    limit = [{"scope": "user", "name": "ann", "requests_per_minute": 5}]
    library = SlidingWindowCounterRateLimiter(RedisStorage(redis_url))
    item = RateLimitItemPerMinute(5, namespace="ai")
    ids = ("user", "ann", "requests", "0")
    async with shared_ai(limit) as ai:
        assert all(library.hit(item, *ids) for _ in range(3))  # the library takes three
        for _ in range(2):
            await ai.conversation("fake/echo", user="ann").user("Hi").asend()  # we take the last two
        assert not library.test(item, *ids)  # and the library sees them
        with pytest.raises(RateLimitReachedError, match="5 requests per minute for user 'ann'") as caught:
            await ai.conversation("fake/echo", user="ann").user("Hi").asend()
        assert 0 < caught.value.retry_after <= 60


async def test_tokens_beyond_what_is_left_fill_the_window(proxied: tuple[CountingProxy, str], redis_url: str) -> None:
    limit = [{"scope": "model", "name": "fake/echo", "tokens_per_minute": 30}]
    async with shared_ai(limit) as ai:
        prompt = "word " * 20  # estimated 26 tokens before the call
        reply = await ai.conversation("fake/echo").user(prompt).asend()
        assert reply.usage.total_tokens > 30  # the echo repeats it: more than the limit in all
        assert library_remaining(redis_url, 30, "model", "fake/echo", "tokens", "0") > 0  # only the estimate so far
        with pytest.raises(RateLimitReachedError, match="30 tokens per minute"):
            await ai.conversation("fake/echo").user("Hi").asend()  # its round trip settled the first call
    assert library_remaining(redis_url, 30, "model", "fake/echo", "tokens", "0") == 0


async def test_an_open_shared_breaker_refuses_in_the_same_round_trip(proxied: tuple[CountingProxy, str]) -> None:
    proxy, _ = proxied
    from ai_core.errors import ProviderUnavailableError

    async with shared_ai() as ai:
        redis = ai.providers.scale.redis
        await ai.conversation("fake/echo").user("warm up").asend()
        until = time.time() + 30  # the server's clock is this machine's
        await redis.execute("HSET", "ai:breaker:fake", "open_until", repr(until), "failures", 0)
        before = proxy.round_trips
        with pytest.raises(ProviderUnavailableError, match="circuit open"):
            await ai.conversation("fake/echo").cache(60).user("Hi").asend()
        assert proxy.round_trips - before == 1  # the lookup read it; the provider manager refused from that
        await redis.execute("DEL", "ai:breaker:fake")


async def test_the_scripts_keys_are_the_librarys(redis_url: str) -> None:
    """The window keys the script uses are where the library itself keeps the limit."""
    [slot] = Limiter([RateLimit(scope="tenant", requests_per_minute=3)], wait=0).slots("p", "m", None, "acme")
    storage = RedisStorage(redis_url)
    assert SlidingWindowCounterRateLimiter(storage).hit(slot.item, *slot.identifiers)
    assert storage.storage.exists(slot.windows[1]) and slot.windows[0] == slot.windows[1] + "/-1"


# -- the design's other keys: prices and a conversation's context ---------------------


async def test_processes_share_one_read_of_the_price_table_through_redis(
    redis_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, openai_server: OpenAICompatServer
) -> None:
    from ai_core.storage import catalog
    from ai_core.storage.catalog import upsert_model, upsert_price, upsert_provider
    from ai_core.types import ModelInfo, ModelPrice

    monkeypatch.setenv("AI_REDIS_URL", redis_url)
    reads = []
    real_read = catalog.read_prices
    monkeypatch.setattr(catalog, "read_prices", lambda database: reads.append(1) or real_read(database))
    database_url = f"sqlite:///{tmp_path}/ai.db"
    provider = {"openai": {"api_key": TEST_API_KEY, "base_url": openai_server.base_url}}
    usage = Usage(prompt_tokens=1000, completion_tokens=0)
    openai_server.reply(*[Completion(text="a", usage=usage) for _ in range(3)])
    async with (
        AI(database_url=database_url, providers=provider) as one,
        AI(database_url=database_url, providers=provider) as two,
    ):
        reads.clear()  # each instance read the table once when it was made
        now = datetime.now(UTC)
        with one.services.database.write() as conn:  # `ai models sync --prices`, after both started
            model = upsert_model(
                conn, upsert_provider(conn, "openai"), ModelInfo(provider="openai", id="gpt-brand-new"),
                source="remote", now=now,
            )  # fmt: skip
            price = ModelPrice(
                provider="openai", model="gpt-brand-new", effective_from=date(2020, 1, 1),
                input_per_mtok=Decimal("2"), output_per_mtok=Decimal("8"),
            )  # fmt: skip
            upsert_price(conn, model, price, now=now)
        first = await one.conversation("openai/gpt-brand-new").user("Hi").asend()
        assert reads == [1]  # the first process to look the model up read the table...
        second = await two.conversation("openai/gpt-brand-new").user("Hi").asend()
        assert reads == [1]  # ...and the other found the rows under ai:costs:openai:gpt-brand-new
        again = await two.conversation("openai/gpt-brand-new").user("Hi").asend()  # no lookup for a day
        kept = await two.providers.scale.store.get("ai:costs:openai:gpt-brand-new")
        ttl = await two.providers.scale.redis.execute("TTL", "ai:costs:openai:gpt-brand-new")
    assert [reply.cost.total for reply in (first, second, again)] == [Decimal("0.002")] * 3  # type: ignore[union-attr]
    assert [row["input_per_mtok"] for row in kept] == ["2"] and 86000 < ttl <= 86400
    assert reads == [1]


async def test_processes_share_a_conversations_summary_through_redis(
    redis_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ai_core.memory import summary
    from ai_core.memory.summary import MemoryManager, MemoryRecord, context_key

    monkeypatch.setenv("AI_REDIS_URL", redis_url)
    loads = []
    real_load = summary._load
    monkeypatch.setattr(summary, "_load", lambda database, cid: loads.append(cid) or real_load(database, cid))
    database_url = f"sqlite:///{tmp_path}/ai.db"
    async with AI(database_url=database_url) as one, AI(database_url=database_url) as two:
        here, there = MemoryManager.of(one), MemoryManager.of(two)
        assert await there.get("c1") is None  # the database says none; the shared key now says so too,
        await two.providers.scale.redis.round_trip()  # once its next round trip (or 0.05 s) carried it
        assert await here.get("c1") is None and loads == ["c1"]  # from Redis: one database read in all

        record = MemoryRecord("c1", "Remembered: fact-1", covered=4, model="fake/echo", cost=Decimal("0.0001"))
        await here._save(record)  # the database, then the key (with what the database kept)
        await one.providers.scale.redis.round_trip()
        assert await there.get("c1") is None  # its own copy, read less than SHARED_FRESH_FOR ago
        monkeypatch.setattr(summary, "SHARED_FRESH_FOR", 0.0)
        loads.clear()
        found = await there.get("c1")
        assert found == record and loads == []  # the other process's summary, from Redis
        assert await there.get("c1", fresh=True) == record  # before summarising: read again

        shared = two.providers.scale.store
        await shared.add(context_key("c1"), {}, 60)  # a stale fill never overwrites a newer value
        assert (await shared.get(context_key("c1")))["covered"] == 4
        assert 3500 < await two.providers.scale.redis.execute("TTL", context_key("c1")) <= 3600

        await two.providers.scale.redis.execute("DEL", context_key("c1"))  # expired: the database answers
        assert await there.get("c1") == record and loads == ["c1"]


async def test_a_cache_hit_takes_no_limit_and_a_spent_limit_waits_at_most_as_configured(
    proxied: tuple[CountingProxy, str],
) -> None:
    limit = [{"scope": "provider", "name": "fake", "requests_per_minute": 1}]
    async with shared_ai(limit) as ai:
        first = await ai.conversation("fake/echo").cache(60).user("Hi").asend()
        again = [await ai.conversation("fake/echo").cache(60).user("Hi").asend() for _ in range(3)]
        assert not first.cached and all(reply.cached for reply in again)  # hits are not sent: no limit taken
        ai.providers.scale.limiter.wait = 0.2  # type: ignore[union-attr]  # the window frees in up to a minute
        with anyio.fail_after(10), pytest.raises(RateLimitReachedError, match="1 requests per minute") as caught:
            await ai.conversation("fake/echo").cache(60).user("Something new").asend()
        assert caught.value.retry_after > 0.2


async def test_concurrent_calls_each_use_their_own_admission(
    proxied: tuple[CountingProxy, str], redis_url: str
) -> None:
    proxy, _ = proxied
    calls = 8
    async with shared_ai() as ai:
        await ai.conversation("fake/echo").cache(60).user("warm up").asend()
        async with anyio.create_task_group() as group:  # open the pool's connections first
            for i in range(calls):
                group.start_soon(ai.conversation("fake/echo").user(f"connect {i}").asend)
        setup = proxy.connection_setup(proxied[1])
        before, connections = proxy.round_trips, proxy.connections
        async with anyio.create_task_group() as group:
            for i in range(calls):
                group.start_soon(ai.conversation("fake/echo").cache(60).user(f"at once {i}").asend)
        opened = proxy.connections - connections  # under trio the pool may open one more (worker threads)
        assert proxy.round_trips - before - setup * opened == calls
    # one request each, none taken twice: warm-up, the connecting calls and these
    assert library_remaining(redis_url, 1000, "provider", "fake", "requests", "0") == 1000 - 1 - 2 * calls


async def test_a_streamed_call_is_one_round_trip_too(proxied: tuple[CountingProxy, str]) -> None:
    from ai_core import StreamCompleted

    proxy, _ = proxied
    async with shared_ai() as ai:
        await ai.conversation("fake/echo").cache(60).user("warm up").asend()
        finals = []
        for prompt in ("streamed", "streamed"):  # a miss, then a hit
            before = proxy.round_trips
            async for event in ai.conversation("fake/echo").cache(60).user(prompt).astream():
                if isinstance(event, StreamCompleted):
                    finals.append(event.response)
            assert proxy.round_trips - before == 1
    assert [reply.cached for reply in finals] == [False, True]
