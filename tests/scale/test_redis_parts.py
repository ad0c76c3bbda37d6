"""The Redis-backed parts in one process, both anyio backends: the shared breaker's
half-open probe, the response cache's JSON round trip, and no password shown."""

from __future__ import annotations

from decimal import Decimal

import anyio
import pytest

from ai_core.errors import ProviderUnavailableError
from ai_core.scale.breaker import SharedCircuitBreaker
from ai_core.scale.cache import RedisCache, ResponseCache, response_key
from ai_core.scale.redis import RedisConnection, safe_url
from ai_core.types import ChatResponse, Cost, Message, TokenUsage

pytestmark = pytest.mark.anyio


async def test_one_process_probes_a_half_open_breaker_while_the_others_wait(redis_url: str) -> None:
    redis = RedisConnection(redis_url)
    here, there = (SharedCircuitBreaker(redis, threshold=2, cooldown=0.2, refresh=0) for _ in range(2))
    failure = ProviderUnavailableError("down", provider="p")
    try:
        await here.acheck("p")
        assert not await here.arecord_failure("p", failure)
        assert await there.arecord_failure("p", failure)  # the second failure anywhere opens it
        for breaker in (here, there):
            with pytest.raises(ProviderUnavailableError, match="circuit open"):
                await breaker.acheck("p")
        assert (await here.state("p"))["state"] == "open"
        await anyio.sleep(0.25)
        await here.acheck("p")  # this process won the probe
        with pytest.raises(ProviderUnavailableError, match="half-open"):
            await there.acheck("p")
        await here.arecord_success("p")
        await there.acheck("p")
        assert (await there.state("p"))["state"] == "closed"
    finally:
        await redis.aclose()


async def test_a_failed_probe_opens_the_breaker_again(redis_url: str) -> None:
    redis = RedisConnection(redis_url)
    breaker = SharedCircuitBreaker(redis, threshold=1, cooldown=0.2, refresh=0)
    try:
        await breaker.arecord_failure("p", ProviderUnavailableError("down"))
        await anyio.sleep(0.25)
        await breaker.acheck("p")
        assert await breaker.arecord_failure("p", ProviderUnavailableError("still down"))
        with pytest.raises(ProviderUnavailableError, match="circuit open"):
            await breaker.acheck("p")
    finally:
        await redis.aclose()


async def test_answers_survive_the_trip_through_redis(redis_url: str) -> None:
    redis = RedisConnection(redis_url)
    cache = ResponseCache(RedisCache(redis))
    answer = ChatResponse(
        provider="openai",
        model="gpt-4o",
        message=Message.assistant("hi"),
        usage=TokenUsage(input_tokens=3, output_tokens=1, total_tokens=4),
        cost=Cost(total=Decimal("0.000123"), provider="openai", model="gpt-4o"),
    )
    try:
        await cache.put(response_key("k"), answer, 60, keep_stale=False)
        found = await cache.get(response_key("k"))
        assert found is not None and found.text == "hi" and found.usage == answer.usage and found.cached
        assert found.cost is not None and found.cost.total == 0 and found.cost.priced_by == "cache"
        assert await redis.execute("TTL", "ai:response:k") > 0
    finally:
        await redis.aclose()


def test_a_redis_password_is_never_shown() -> None:
    url = "redis://user:s3cret-pass@cache.internal:6380/2"
    assert safe_url(url) == "redis://cache.internal:6380/2"
    assert "s3cret" not in repr(RedisConnection(url))


async def test_redis_going_away_never_hides_an_answer_or_a_providers_error() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{sock.getsockname()[1]}/0"  # nothing listens once closed
    redis = RedisConnection(dead)
    breaker = SharedCircuitBreaker(redis)
    try:
        from ai_core.errors import StorageError

        with pytest.raises(StorageError, match=r"Redis at redis://127\.0\.0\.1"):
            await breaker.acheck("p")  # before a call: refused, saying why
        assert not await breaker.arecord_failure("p", ProviderUnavailableError("down"))  # logged, not raised
        breaker._mirror["p"] = (0.0, 0.0, 3, False)
        await breaker.arecord_success("p")  # after an answer: logged, so the answer still reaches the ledger
    finally:
        await redis.aclose()
