"""A transport given per provider, with one ``AI`` used from sync and async code.

The sync API runs on the ``AI``'s own loop thread and async callers on theirs,
so one instance serves two event loops. A factory gives each loop its own
transport; an instance that holds a pool is refused on the second loop with a
ConfigurationError saying to pass a factory (never a raw "bound to a different
event loop"); transports that work on any loop are shared.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from servers import fixtures as server_fixtures
from servers.fixtures import TEST_API_KEY
from servers.openai_compat import Completion, OpenAICompatServer

from ai_core import AI, errors
from ai_core.drivers import http

# the shared local server's fixtures, registered in this module
_openai_server_session = server_fixtures._openai_server_session
openai_server = server_fixtures.openai_server

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("AI_CONFIG_FILE", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("AI_DATA_DIR", str(tmp_path))
    yield


def ai_with(server: OpenAICompatServer, transport: Any) -> AI:
    provider = {"api_key": TEST_API_KEY, "base_url": server.base_url, "retry_attempts": 0, "transport": transport}
    return AI(persistence=False, providers={"openai": provider})


async def both_ways(ai: AI) -> tuple[str, str]:
    sync = ai.conversation("openai/gpt-4o-mini").user("from sync code").send()
    async_ = await ai.conversation("openai/gpt-4o-mini").user("from async code").asend()
    return sync.text, async_.text


async def test_a_factory_gives_each_loop_its_own_transport(
    openai_server: OpenAICompatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(openai_server, "default", Completion(text="fine"))
    made: list[Any] = []

    def factory() -> Any:
        made.append(http.AsyncHTTPTransport())
        return made[-1]

    ai = ai_with(openai_server, factory)
    try:
        assert await both_ways(ai) == ("fine", "fine")
        assert await both_ways(ai) == ("fine", "fine")  # each loop keeps its own
    finally:
        await ai.aclose()
    assert len(made) == 2 and made[0] is not made[1]


async def test_a_pooled_instance_on_a_second_loop_is_a_clear_configuration_error(
    openai_server: OpenAICompatServer,
) -> None:
    ai = ai_with(openai_server, http.AsyncHTTPTransport())
    try:
        assert ai.conversation("openai/gpt-4o-mini").user("sync first").send().text
        with pytest.raises(errors.ConfigurationError) as info:
            await ai.conversation("openai/gpt-4o-mini").user("then async").asend()
        assert ai.conversation("openai/gpt-4o-mini").user("sync still works").send().text
    finally:
        await ai.aclose()
    message = str(info.value)
    assert "'openai'" in message and "another event loop" in message and "pass a factory" in message
    assert "bound to a different event loop" not in message


async def test_the_refusal_holds_the_other_way_round(openai_server: OpenAICompatServer) -> None:
    ai = ai_with(openai_server, http.AsyncHTTPTransport())
    try:
        assert (await ai.conversation("openai/gpt-4o-mini").user("async first").asend()).text
        with pytest.raises(errors.ConfigurationError, match="pass a factory"):
            ai.conversation("openai/gpt-4o-mini").user("then sync").send()
    finally:
        await ai.aclose()


async def test_a_mock_transport_works_on_every_loop(openai_server: OpenAICompatServer) -> None:
    def handler(request: http.Request) -> http.Response:
        return http.Response(
            200,
            json={
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": "gpt-4o-mini",
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": "mocked"}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            },
        )

    ai = ai_with(openai_server, http.MockTransport(handler))
    try:
        assert await both_ways(ai) == ("mocked", "mocked")
    finally:
        await ai.aclose()


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # aiohttp runs on asyncio only
async def test_one_aiohttp_transport_serves_both_loops(
    openai_server: OpenAICompatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(openai_server, "default", Completion(text="fine"))
    transport = http.AiohttpTransport()
    ai = ai_with(openai_server, transport)
    try:
        assert await both_ways(ai) == ("fine", "fine")
    finally:
        await ai.aclose()
