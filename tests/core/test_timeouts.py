"""Every provider call is bounded in time, against a real server that misbehaves.

The local OpenAI-compatible server is silent after accepting the connection,
stalls a stream, streams forever, or trickles a body one byte at a time. Each
case ends in the error that names what timed out, well before a generous
bound that only catches hangs (``anyio.fail_after``); no test asserts a tight
duration.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from servers import fixtures as server_fixtures
from servers.fixtures import TEST_API_KEY, driver_config
from servers.openai_compat import Completion, Fault, OpenAICompatServer

from ai_core import AI, errors
from ai_core.dialects.openai_chat.driver import OpenAIChatDriver
from ai_core.drivers.base import ProviderConfig
from ai_core.drivers.deadlines import CallDeadline
from ai_core.types import ChatRequest, Message, TextDelta

# the shared local server's fixtures, registered in this module
_openai_server_session = server_fixtures._openai_server_session
openai_server = server_fixtures.openai_server

pytestmark = pytest.mark.anyio

HANG = 20  # seconds: only a hang gets anywhere near this


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No user config file, data dir or AI_* timeouts leak in."""
    monkeypatch.setenv("AI_CONFIG_FILE", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("AI_DATA_DIR", str(tmp_path))
    for name in ("AI_TIMEOUT", "AI_STREAM_IDLE_TIMEOUT", "AI_TOTAL_TIMEOUT", "AI_OPENAI_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AI_OPENAI_STREAM_IDLE_TIMEOUT", raising=False)
    monkeypatch.delenv("AI_OPENAI_TOTAL_TIMEOUT", raising=False)
    yield


def request() -> ChatRequest:
    return ChatRequest(provider="openai", model="gpt-4o-mini", messages=[Message.user("hi")])


def driver_on(server: OpenAICompatServer, **config: Any) -> OpenAIChatDriver:
    return OpenAIChatDriver(driver_config(server, **config))


def ai_on(server: OpenAICompatServer, **provider: Any) -> AI:
    settings = {"api_key": TEST_API_KEY, "base_url": server.base_url, **provider}
    return AI(persistence=False, providers={"openai": settings})


async def drain(driver: OpenAIChatDriver) -> list[Any]:
    events: list[Any] = []
    try:
        async for event in driver.stream(request()):
            events.append(event)
    finally:
        await driver.aclose()
    return events


# ------------------------------------------------------- the response must start


async def test_a_silent_server_ends_a_stream_after_the_timeout_not_the_idle_timeout(
    openai_server: OpenAICompatServer,
) -> None:
    openai_server.reply(Completion(fault=Fault.silent()))
    driver = driver_on(openai_server, timeout=1.0, stream_idle_timeout=60.0)
    with anyio.fail_after(HANG), pytest.raises(errors.ProviderTimeoutError) as info:
        await drain(driver)
    assert "no response within 1 s" in str(info.value)
    assert "Connect" not in str(info.value)  # the connection was made: it is the answer that never came


async def test_a_silent_server_ends_a_send_with_no_response_not_connect_timeout(
    openai_server: OpenAICompatServer,
) -> None:
    openai_server.reply(Completion(fault=Fault.silent()))
    driver = driver_on(openai_server, timeout=1.0)
    try:
        with anyio.fail_after(HANG), pytest.raises(errors.ProviderTimeoutError) as info:
            await driver.send(request())
    finally:
        await driver.aclose()
    assert str(info.value) == "openai: no response within 1 s"
    assert not isinstance(info.value, errors.DeadlineExceededError)


async def test_provider_timeout_variable_bounds_the_start_of_a_stream_through_ai(
    openai_server: OpenAICompatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AI_OPENAI_TIMEOUT", "1")
    monkeypatch.setattr(openai_server, "default", Completion(fault=Fault.silent()))  # restored afterwards
    async with ai_on(openai_server, retry_attempts=1) as ai:
        with anyio.fail_after(HANG), pytest.raises(errors.ProviderTimeoutError, match="no response within 1 s"):
            async for _ in ai.conversation("openai/gpt-4o-mini").user("hi").astream():
                pass
    assert len(openai_server.received(2)) == 2  # the first try and one retry, each ended by the 1 s timeout


async def test_the_total_deadline_bounds_retries_against_a_silent_server(
    openai_server: OpenAICompatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ten retries of a 1 s timeout would take over 10 s; the call has 2.5 s in all
    monkeypatch.setenv("AI_OPENAI_TOTAL_TIMEOUT", "2.5")
    monkeypatch.setattr(openai_server, "default", Completion(fault=Fault.silent()))  # restored afterwards
    async with ai_on(openai_server, timeout=1, retry_attempts=10) as ai:
        for stream in (False, True):
            openai_server.requests.clear()
            conversation = ai.conversation("openai/gpt-4o-mini").user("hi")
            with anyio.fail_after(HANG), pytest.raises(errors.ProviderTimeoutError) as info:
                if stream:
                    async for _ in conversation.astream():
                        pass
                else:
                    await conversation.asend()
            # cut by the deadline in a third try, or no retry started that the deadline could not fit
            message = str(info.value)
            assert "call exceeded its total deadline of 2.5 s" in message or "no response within 1 s" in message
            assert 2 <= len(openai_server.received(2)) <= 3


# ------------------------------------------------------------ gaps between chunks


async def test_the_idle_timeout_defaults_to_the_provider_timeout(
    openai_server: OpenAICompatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AI_OPENAI_TIMEOUT", "1")
    openai_server.reply(Completion(text="slow answer", chunk_size=2, fault=Fault.stall(after=2, seconds=60)))
    delivered: list[str] = []
    async with ai_on(openai_server, retry_attempts=0) as ai:
        assert ai.providers.config("openai").stream_idle_timeout == 1
        with anyio.fail_after(HANG), pytest.raises(errors.ProviderTimeoutError) as info:
            async for event in ai.conversation("openai/gpt-4o-mini").user("hi").astream():
                if isinstance(event, TextDelta):
                    delivered.append(event.text)
    assert "stream idle for 1 s" in str(info.value)
    assert not isinstance(info.value, errors.DeadlineExceededError)
    assert delivered == ["sl"]


async def test_an_idle_timeout_shorter_than_the_timeout_is_kept(openai_server: OpenAICompatServer) -> None:
    # the transport's read timeout must not end the stream at the (longer) start timeout
    openai_server.reply(Completion(text="slow answer", fault=Fault.stall(after=2, seconds=60)))
    driver = driver_on(openai_server, timeout=30.0, stream_idle_timeout=0.5)
    with anyio.fail_after(HANG), pytest.raises(errors.ProviderTimeoutError, match=r"stream idle for 0\.5 s"):
        await drain(driver)


# ----------------------------------------------------------------- the whole call


async def test_an_endless_stream_ends_at_the_total_deadline(openai_server: OpenAICompatServer) -> None:
    openai_server.reply(Completion(fault=Fault.endless(after=2, seconds=0.05)))
    driver = driver_on(openai_server, timeout=5.0, stream_idle_timeout=5.0, total_timeout=1.5)
    events: list[Any] = []
    with anyio.fail_after(HANG), pytest.raises(errors.DeadlineExceededError) as info:
        try:
            async for event in driver.stream(request()):
                events.append(event)
        finally:
            await driver.aclose()
    assert str(info.value) == "openai: call exceeded its total deadline of 1.5 s"
    assert sum(isinstance(e, TextDelta) for e in events) > 3  # it was streaming all along


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "unstreamed"])
async def test_a_body_trickled_byte_by_byte_ends_at_the_total_deadline(
    openai_server: OpenAICompatServer, stream: bool
) -> None:
    # a byte every 0.1 s never trips a 1 s idle timeout; the body would take minutes
    openai_server.reply(Completion(text="x" * 50, fault=Fault.trickle(0.1)))
    driver = driver_on(openai_server, timeout=1.0, stream_idle_timeout=1.0, total_timeout=2.0)
    with anyio.fail_after(HANG), pytest.raises(errors.DeadlineExceededError, match="total deadline of 2 s"):
        if stream:
            await drain(driver)
        else:
            try:
                await driver.send(request())
            finally:
                await driver.aclose()


async def test_total_timeout_through_ai_and_its_variables(
    openai_server: OpenAICompatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AI_TOTAL_TIMEOUT", "30")
    async with ai_on(openai_server) as ai:
        assert ai.providers.config("openai").total_timeout == 30
    monkeypatch.setenv("AI_OPENAI_TOTAL_TIMEOUT", "1.5")
    openai_server.reply(Completion(fault=Fault.endless(after=2, seconds=0.05)))
    async with ai_on(openai_server, retry_attempts=3) as ai:
        assert ai.providers.config("openai").total_timeout == 1.5
        with anyio.fail_after(HANG), pytest.raises(errors.DeadlineExceededError, match=r"deadline of 1\.5 s"):
            async for _ in ai.conversation("openai/gpt-4o-mini").user("hi").astream():
                pass
    assert len(openai_server.chat_bodies) == 1  # a spent deadline is never retried


def test_the_deadline_error_is_a_timeout_that_is_not_retried() -> None:
    error = errors.DeadlineExceededError("call exceeded its total deadline of 3 s", provider="p", seconds=3)
    assert isinstance(error, errors.ProviderTimeoutError)
    assert not error.retryable and errors.ProviderTimeoutError.retryable
    assert errors.DeadlineExceededError.__name__ in dir(__import__("ai_core"))


async def test_an_outer_deadline_wins_over_a_drivers_own() -> None:
    outer = CallDeadline.after(5)
    assert CallDeadline.for_call(600) != outer  # outside a call, a driver uses its own
    seen: list[CallDeadline] = []

    async def inside() -> None:
        seen.append(CallDeadline.for_call(600))

    await outer.run(inside)
    assert seen == [outer]


async def test_a_driver_that_ignores_deadlines_is_still_cut_at_the_deadline() -> None:
    from ai_core.drivers.fake import FakeDriver

    class Sleepy(FakeDriver):
        async def send(self, request: ChatRequest) -> Any:
            await anyio.sleep(60)

    with anyio.fail_after(HANG), pytest.raises(errors.DeadlineExceededError, match=r"deadline of 0\.2 s"):
        await CallDeadline.after(0.2).run(Sleepy().send, request(), provider="fake")


# ------------------------------------------------------------------ configuration


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "abc"])
@pytest.mark.parametrize("variable", ["AI_OPENAI_TIMEOUT", "AI_OPENAI_STREAM_IDLE_TIMEOUT", "AI_OPENAI_TOTAL_TIMEOUT"])
async def test_a_timeout_that_is_not_a_positive_number_is_a_configuration_error(
    openai_server: OpenAICompatServer, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    async with ai_on(openai_server) as ai:
        with pytest.raises(errors.ConfigurationError) as info:
            await ai.conversation("openai/gpt-4o-mini").user("hi").asend()
    assert variable in str(info.value) and "positive number of seconds" in str(info.value)
    assert openai_server.chat_bodies == []


@pytest.mark.parametrize("value", [0, -2, math.nan, "soon"])
@pytest.mark.parametrize("name", ["timeout", "stream_idle_timeout", "total_timeout"])
async def test_a_run_time_timeout_that_is_not_a_positive_number_is_a_configuration_error(
    openai_server: OpenAICompatServer, name: str, value: Any
) -> None:
    async with ai_on(openai_server, **{name: value}) as ai:
        with pytest.raises(errors.ConfigurationError, match=f"providers\\['openai'\\]\\['{name}'\\]"):
            await ai.conversation("openai/gpt-4o-mini").user("hi").asend()


def test_provider_config_carries_a_total_timeout() -> None:
    assert ProviderConfig(provider="p").total_timeout == 600
