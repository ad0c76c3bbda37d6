"""Retries, one layer in charge, against a real fault server on 127.0.0.1.

429s with Retry-After or OpenAI's x-ratelimit-reset-* headers, 500/503 bursts,
a server that never answers, a stream cut after its first chunk: each retried
or not as it should be, never before the server said, and a retried call
stored and charged once.
"""

from __future__ import annotations

from typing import Any

import pytest
from servers.fixtures import TEST_API_KEY
from servers.openai_compat import Completion, ErrorReply, Fault, OpenAICompatServer, Usage
from sqlalchemy import select

from ai_core import AI, StreamCompleted, TextDelta
from ai_core.drivers.base import retry_after_seconds
from ai_core.errors import InvalidRequestError, ProviderTimeoutError, RateLimitError, StreamInterruptedError
from ai_core.pipeline.resilience import RetryPolicy
from ai_core.scale.headroom import parse_duration
from ai_core.storage.conversation_tables import FailedAttempt, StoredMessage

pytestmark = pytest.mark.anyio


def make_ai(server: OpenAICompatServer, database_url: str | None = None, **settings: Any) -> AI:
    config = {"api_key": TEST_API_KEY, "base_url": server.base_url, "retry_attempts": 2, **settings}
    if database_url is None:
        return AI(persistence=False, providers={"openai": config})
    return AI(database_url=database_url, providers={"openai": config})


def rate_limited(**headers: str) -> ErrorReply:
    reply = ErrorReply.rate_limited(retry_after=None)
    reply.headers.update(headers)
    return reply


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("1h2m3.5s", 3723.5), ("0.5", 0.5), ("soon", None), ("", None)],
)
def test_reset_durations_are_read(value: str, seconds: float | None) -> None:
    assert parse_duration(value) == seconds


def test_reset_headers_give_the_retry_after_when_retry_after_is_missing() -> None:
    spent_tokens = {
        "x-ratelimit-remaining-requests": "5",
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-tokens": "6m0s",
    }
    assert retry_after_seconds(spent_tokens) == 360.0
    assert retry_after_seconds({"x-ratelimit-reset-requests": "2s", "x-ratelimit-reset-tokens": "20ms"}) == 2.0
    assert retry_after_seconds({"retry-after": "3", "x-ratelimit-reset-requests": "9s"}) == 3.0


def test_backoff_never_comes_back_before_retry_after_and_spreads_callers() -> None:
    policy = RetryPolicy()
    delays = {policy.delay(RateLimitError("slow", retry_after=2.0), 1) for _ in range(200)}
    assert min(delays) >= 2.0 and max(delays) <= 2.2 and len(delays) > 100
    plain = [policy.delay(InvalidRequestError("x"), 3) for _ in range(200)]
    assert all(0.5 <= d <= 1.0 for d in plain) and len(set(plain)) > 100


async def test_a_429_with_reset_headers_is_retried_after_them(openai_server: OpenAICompatServer) -> None:
    openai_server.reply(rate_limited(**{"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "50ms"}))
    openai_server.reply(Completion(text="after the reset"))
    async with make_ai(openai_server) as ai:
        reply = await ai.conversation("openai/gpt-4o-mini").user("Hi").asend()
    assert reply.text == "after the reset"
    assert len(openai_server.chat_bodies) == 2


async def test_a_retry_after_longer_than_the_longest_wait_goes_to_the_fallback(
    openai_server: OpenAICompatServer,
) -> None:
    reply = ErrorReply.rate_limited(retry_after=3600)
    openai_server.reply(reply, Completion(text="from the fallback"))
    async with make_ai(openai_server) as ai:
        answer = await ai.conversation("openai/gpt-4o").fallback("openai/gpt-4o-mini").user("Hi").asend()
    assert answer.text == "from the fallback" and answer.model == "gpt-4o-mini"
    assert [body["model"] for body in openai_server.chat_bodies] == ["gpt-4o", "gpt-4o-mini"]


async def test_a_burst_of_500_and_503_is_retried_and_the_call_charged_once(
    openai_server: OpenAICompatServer, database_url: str
) -> None:
    openai_server.reply(ErrorReply.server_error(500), ErrorReply.unavailable())
    openai_server.reply(Completion(text="third time", usage=Usage(prompt_tokens=10, completion_tokens=3)))
    async with make_ai(openai_server, database_url) as ai:
        chat = ai.conversation("openai/gpt-4o-mini").user("Hi")
        reply = await chat.asend()
        with ai.services.database.read() as conn:
            rows = list(
                conn.execute(
                    select(StoredMessage.__table__).where(
                        StoredMessage.__table__.c.conversation_id == chat.id,
                        StoredMessage.__table__.c.billable.is_(True),
                    )
                )
            )
            attempts = list(conn.execute(select(FailedAttempt.__table__)))
    assert reply.text == "third time" and len(openai_server.chat_bodies) == 3
    assert [(r.outcome, r.input_tokens) for r in rows] == [("answered", 10)]
    assert sorted(a.status_code for a in attempts) == [500, 503]


async def test_a_client_error_is_not_retried(openai_server: OpenAICompatServer) -> None:
    openai_server.reply(ErrorReply.bad_request("bad field"))
    async with make_ai(openai_server) as ai:
        with pytest.raises(InvalidRequestError):
            await ai.conversation("openai/gpt-4o-mini").user("Hi").asend()
    assert len(openai_server.chat_bodies) == 1


async def test_a_server_that_hangs_is_given_up_on_and_retried(openai_server: OpenAICompatServer) -> None:
    openai_server.reply(Completion(fault=Fault.silent(5)), Completion(text="awake"))
    async with make_ai(openai_server, timeout=0.3) as ai:
        reply = await ai.conversation("openai/gpt-4o-mini").user("Hi").asend()
    assert reply.text == "awake" and len(openai_server.chat_bodies) == 2


async def test_a_server_that_always_hangs_ends_in_a_timeout(openai_server: OpenAICompatServer) -> None:
    openai_server.reply(*[Completion(fault=Fault.silent(5)) for _ in range(2)])
    async with make_ai(openai_server, timeout=0.2, retry_attempts=1) as ai:
        with pytest.raises(ProviderTimeoutError):
            await ai.conversation("openai/gpt-4o-mini").user("Hi").asend()
    assert len(openai_server.received(2)) == 2  # the retry timed out too: wait until the server has read it


async def test_a_stream_is_retried_before_its_first_chunk_only(openai_server: OpenAICompatServer) -> None:
    openai_server.reply(ErrorReply.unavailable(), Completion(text="one two three"))
    async with make_ai(openai_server) as ai:
        text = "".join(
            [
                e.text
                async for e in ai.conversation("openai/gpt-4o-mini").user("Hi").astream()
                if isinstance(e, TextDelta)
            ]
        )
    assert text == "one two three" and len(openai_server.chat_bodies) == 2

    openai_server.reset()
    openai_server.reply(Completion(text="one two three four", fault=Fault.cut_off(after=2)), Completion(text="never"))
    async with make_ai(openai_server) as ai:
        seen = []
        with pytest.raises(StreamInterruptedError):
            async for event in ai.conversation("openai/gpt-4o-mini").user("Hi").astream():
                seen.append(event)
    assert seen and not any(isinstance(e, StreamCompleted) for e in seen)
    assert len(openai_server.chat_bodies) == 1  # text reached the caller: raised, never replayed


async def test_a_provider_that_says_it_is_spent_is_waited_for_before_a_429(openai_server: OpenAICompatServer) -> None:
    spent = {
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "150ms",
        "x-ratelimit-remaining-tokens": "9000",
    }
    openai_server.reply(Completion(text="first", headers=spent), Completion(text="second"))
    async with make_ai(openai_server) as ai:
        await ai.conversation("openai/gpt-4o-mini").user("Hi").asend()
        headroom = ai.providers.scale.headroom
        assert headroom.blocked["openai"][1] == "requests"
        await ai.conversation("openai/gpt-4o-mini").user("Hi").asend()
        assert "openai" not in headroom.blocked  # waited it out; the answer said all is well again
    assert len(openai_server.chat_bodies) == 2
