"""OllamaDriver over real sockets against the local Ollama double (asyncio and trio)."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from servers.ollama_server import Answer, OllamaServer, Refusal

from ai_core import ChatRequest, Message, ReasoningDelta, StreamCompleted, TextDelta, ToolCallDelta, UsageReported
from ai_core.errors import (
    InvalidRequestError,
    MalformedResponseError,
    NotFoundError,
    ProviderUnavailableError,
    RateLimitError,
    StreamInterruptedError,
)
from ai_ollama.driver import OllamaDriver

pytestmark = pytest.mark.anyio


def chat(text: str, model: str = "llama3.2", **fields: Any) -> ChatRequest:
    return ChatRequest(provider="ollama", model=model, messages=[Message.user(text)], **fields)


async def collect(driver: OllamaDriver, request: ChatRequest) -> list[Any]:
    return [event async for event in driver.stream(request)]


async def test_thinking_streams_as_reasoning_and_equals_send(driver: OllamaDriver, server: OllamaServer) -> None:
    answer = Answer(text="It is 4.", thinking="Two plus two.", extra={"new_field": True})
    server.arrange("2+2?", answer, answer)
    sent = await driver.send(chat("2+2?", model="qwen3", reasoning_effort="medium"))
    events = await collect(driver, chat("2+2?", model="qwen3", reasoning_effort="medium"))
    streamed = events[-1].response
    assert isinstance(events[-1], StreamCompleted) and isinstance(events[-2], UsageReported)
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "Two plus two."
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "It is 4."
    assert sent.message == streamed.message and sent.usage == streamed.usage
    assert sent.reasoning == "Two plus two." and sent.usage.output_tokens == 6
    assert [b["think"] for b in server.bodies()] == ["medium", "medium"]


async def test_tool_calls_sent_and_streamed(driver: OllamaDriver, server: OllamaServer) -> None:
    calls = [{"name": "get_weather", "arguments": {"city": "Paris"}}, {"id": "c2", "name": "get_time", "arguments": {}}]
    server.arrange("weather?", Answer(calls=calls), Answer(calls=calls))
    sent = await driver.send(chat("weather?"))
    events = await collect(driver, chat("weather?"))
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert [(d.index, d.name) for d in deltas] == [(0, "get_weather"), (1, "get_time")]
    streamed = events[-1].response
    for response in (sent, streamed):
        assert response.finish_reason == "tool_calls"
        assert [(c.name, c.arguments) for c in response.tool_calls] == [
            ("get_weather", {"city": "Paris"}),
            ("get_time", {}),
        ]
        assert response.tool_calls[1].id == "c2"  # a server's id is kept; one is made up when it sends none


async def test_options_and_keep_alive_reach_the_server(driver: OllamaDriver, server: OllamaServer) -> None:
    await driver.send(chat("hi", temperature=0.1, provider_options={"keep_alive": 0, "num_ctx": 4096}))
    (body,) = server.bodies()
    assert body["keep_alive"] == 0 and body["options"] == {"temperature": 0.1, "num_ctx": 4096}


async def test_an_unknown_model_says_how_to_pull_it(driver: OllamaDriver) -> None:
    for call in (driver.send, lambda r: collect(driver, r)):
        with pytest.raises(NotFoundError) as caught:
            await call(chat("hi", model="llama9"))
        assert "model llama9 is not pulled: run `ai models pull ollama/llama9`" in str(caught.value)
        assert caught.value.status_code == 404


@pytest.mark.parametrize(
    ("refusal", "error"),
    [
        (Refusal(400, "invalid options"), InvalidRequestError),
        (Refusal(429, "too many", retry_after=3), RateLimitError),
        (Refusal(500, "the model failed to generate a response"), ProviderUnavailableError),
        (Refusal(502, "cloud model unreachable"), ProviderUnavailableError),
    ],
)
async def test_http_errors_are_typed(
    driver: OllamaDriver, server: OllamaServer, refusal: Refusal, error: type[Exception]
) -> None:
    server.arrange("x", refusal, refusal)
    for call in (driver.send, lambda r: collect(driver, r)):
        with pytest.raises(error) as caught:
            await call(chat("x"))
        assert refusal.message in str(caught.value)
    if isinstance(caught.value, RateLimitError):
        assert caught.value.retry_after == 3


async def test_an_error_line_mid_stream_comes_after_the_text(driver: OllamaDriver, server: OllamaServer) -> None:
    server.arrange("x", Answer(text="one two three four", error_after=2))
    events: list[Any] = []
    with pytest.raises(ProviderUnavailableError, match="error was encountered"):
        async for event in driver.stream(chat("x")):
            events.append(event)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "one two"
    assert not any(isinstance(e, StreamCompleted | UsageReported) for e in events)


async def test_a_stream_cut_mid_way_is_interrupted(driver: OllamaDriver, server: OllamaServer) -> None:
    server.arrange("x", Answer(text="one two three", cut_after=1))
    with pytest.raises(StreamInterruptedError):
        await collect(driver, chat("x"))


async def test_a_malformed_line_is_a_typed_error(driver: OllamaDriver, server: OllamaServer) -> None:
    server.arrange("x", Answer(text="one two three", garbage_after=1))
    with pytest.raises(MalformedResponseError, match="bad stream line"):
        await collect(driver, chat("x"))


async def test_connection_refused_says_to_start_ollama() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    from ai_core.drivers.base import ProviderConfig

    driver = OllamaDriver(ProviderConfig(provider="ollama", base_url=f"http://127.0.0.1:{port}", timeout=5))
    try:
        for call in (driver.send, lambda r: collect(driver, r)):
            with pytest.raises(ProviderUnavailableError) as caught:
                await call(chat("hi"))
            assert str(caught.value) == (
                f"ollama: is Ollama running at http://127.0.0.1:{port}? (start it with `ollama serve`)"
            )
    finally:
        await driver.aclose()


async def test_ollama_host_is_used_when_no_base_url_is_set(server: OllamaServer, monkeypatch: Any) -> None:
    monkeypatch.setenv("OLLAMA_HOST", server.base_url.removeprefix("http://"))
    from ai_core.drivers.base import ProviderConfig

    driver = OllamaDriver(ProviderConfig(provider="ollama", base_url="", timeout=5))
    try:
        assert driver.base_url == server.base_url
        assert (await driver.send(chat("via OLLAMA_HOST"))).text == "Echo: via OLLAMA_HOST"
    finally:
        await driver.aclose()


async def test_models_are_what_is_pulled_with_their_own_capabilities(
    driver: OllamaDriver, server: OllamaServer
) -> None:
    server.pulled = ["llama3.2", "llava", "qwen3", "nomic-embed-text"]
    models = {m.id: m for m in await driver.list_models()}
    assert sorted(models) == ["llama3.2", "llava", "qwen3"]  # the embedding model cannot chat
    assert models["llava"].capabilities is not None and models["llava"].capabilities.vision
    assert not models["llava"].capabilities.tools
    assert models["qwen3"].reasoning and models["qwen3"].context_window == 131072
    assert models["llama3.2"].capabilities is not None and models["llama3.2"].capabilities.tools


async def test_pull_reports_progress_then_success(driver: OllamaDriver, server: OllamaServer) -> None:
    statuses = [status async for status in driver.pull("gemma4")]
    assert statuses[-1] == {"status": "success"}
    progress = [s for s in statuses if "total" in s]
    assert progress[-1]["completed"] == progress[-1]["total"] and progress[0]["completed"] == 0
    assert "gemma4" in server.pulled
    with pytest.raises(NotFoundError, match="there is no model 'no-such-model' to pull"):
        async for _ in driver.pull("no-such-model"):
            pass


async def test_validate_credentials(driver: OllamaDriver, server: OllamaServer) -> None:
    assert await driver.validate_credentials() is True
    server.api_keys = {"proxy-key"}
    assert await driver.validate_credentials() is False
