"""The OpenAI driver against a real local HTTP server speaking the wire format.

Covers send and stream (text, tools, structured output, images, reasoning
usage), every error status with OpenAI's error body, faults inside streams,
timeouts, model listing and credential checks. The ``server`` fixture checks
all traffic against OpenAI's OpenAPI document after each test.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from servers.fixtures import TEST_API_KEY as API_KEY
from servers.fixtures import driver_config as config_for
from servers.openai_compat import Completion, ErrorReply, Fault, OpenAICompatServer, RawReply, ToolCall, Usage

from ai_core import errors
from ai_core.types import (
    ChatRequest,
    ImagePart,
    Message,
    ResponseFormat,
    StreamCompleted,
    TextDelta,
    ToolCallDelta,
    ToolCallPart,
    ToolSpec,
    UsageReported,
)
from ai_openai.driver import OpenAIDriver

pytestmark = pytest.mark.anyio

WEATHER = ToolSpec(
    name="get_weather",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def request(**kwargs: Any) -> ChatRequest:
    values: dict[str, Any] = {"provider": "openai", "model": "gpt-4o-mini", "messages": [Message.user("Hi")]}
    values.update(kwargs)
    return ChatRequest(**values)


async def collect(driver: OpenAIDriver, req: ChatRequest) -> tuple[list[Any], Any]:
    events = [event async for event in driver.stream(req)]
    assert isinstance(events[-1], StreamCompleted), events[-1]
    assert sum(isinstance(e, StreamCompleted) for e in events) == 1
    return events[:-1], events[-1].response


# ---------------------------------------------------------------- success paths


async def test_send_text(driver: OpenAIDriver, server: OpenAICompatServer) -> None:
    server.reply(Completion(text="Hello there!", usage=Usage(prompt_tokens=9, completion_tokens=3)))
    response = await driver.send(request(system="Be kind.", temperature=0.3))
    assert response.text == "Hello there!"
    assert response.provider == "openai" and response.model == "gpt-4o-mini"
    assert (response.usage.input_tokens, response.usage.output_tokens) == (9, 3)
    received = server.requests[-1]
    assert received.path == "/v1/chat/completions"
    assert received.headers["authorization"] == f"Bearer {API_KEY}"
    assert server.last_body["messages"][0] == {"role": "system", "content": "Be kind."}
    assert "stream" not in server.last_body


async def test_stream_text_and_usage(driver: OpenAIDriver, server: OpenAICompatServer) -> None:
    server.reply(Completion(text="Streaming works fine.", chunk_size=4))
    events, response = await collect(driver, request())
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(deltas) == 6 and "".join(deltas) == response.text == "Streaming works fine."
    assert isinstance(events[-1], UsageReported) and events[-1].usage == response.usage
    assert server.last_body["stream"] is True
    assert server.last_body["stream_options"] == {"include_usage": True}


async def test_streamed_usage_equals_unstreamed_usage(driver: OpenAIDriver, server: OpenAICompatServer) -> None:
    """Same call both ways: same response, cached and reasoning tokens included, so the same cost."""
    reply = Completion(
        text="Forty-two.",
        usage=Usage(prompt_tokens=2048, completion_tokens=700, cached_tokens=1536, reasoning_tokens=640),
    )
    req = request(model="o4-mini", reasoning_effort="medium", max_tokens=1000)
    server.reply(reply, reply)
    whole = await driver.send(req)
    _, streamed = await collect(driver, req)
    assert streamed == whole
    assert streamed.usage.cached_input_tokens == 1536 and streamed.usage.reasoning_tokens == 640
    assert streamed.usage.input_tokens == 2048 and streamed.usage.output_tokens == 700
    unstreamed_body, streamed_body = server.chat_bodies
    assert unstreamed_body["max_completion_tokens"] == streamed_body["max_completion_tokens"] == 1000
    assert streamed_body["reasoning_effort"] == "medium"


async def test_streamed_tool_calls_are_assembled(driver: OpenAIDriver, server: OpenAICompatServer) -> None:
    calls = [
        ToolCall("get_weather", {"city": "Paris", "unit": "celsius"}, id="call_a"),
        ToolCall("get_weather", {"city": "Tokyo"}, id="call_b"),
    ]
    server.reply(Completion(text="", tool_calls=calls, chunk_size=5), Completion(text="", tool_calls=calls))
    req = request(tools=[WEATHER], tool_choice="auto")
    events, streamed = await collect(driver, req)
    fragments = [e for e in events if isinstance(e, ToolCallDelta)]
    assert len(fragments) > 4 and {f.index for f in fragments} == {0, 1}
    assert streamed.finish_reason == "tool_calls"
    assert streamed.tool_calls == [
        ToolCallPart(id="call_a", name="get_weather", arguments={"city": "Paris", "unit": "celsius"}),
        ToolCallPart(id="call_b", name="get_weather", arguments={"city": "Tokyo"}),
    ]
    assert await driver.send(req) == streamed


async def test_tool_result_turn(driver: OpenAIDriver, server: OpenAICompatServer) -> None:
    server.reply(Completion(text="It is 18C in Paris."))
    history = [
        Message.user("Weather in Paris?"),
        Message(role="assistant", parts=[ToolCallPart(id="call_a", name="get_weather", arguments={"city": "Paris"})]),
        Message.tool_result("call_a", "18C"),
    ]
    response = await driver.send(request(messages=history, tools=[WEATHER]))
    assert response.text == "It is 18C in Paris."
    assert server.last_body["messages"][-1] == {"role": "tool", "tool_call_id": "call_a", "content": "18C"}


async def test_structured_output(driver: OpenAIDriver, server: OpenAICompatServer) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
        "additionalProperties": False,
    }
    server.reply(Completion(text=json.dumps({"city": "Paris", "population": 2102650})))
    response = await driver.send(request(response_format=ResponseFormat(name="city", json_schema=schema)))
    assert json.loads(response.text) == {"city": "Paris", "population": 2102650}
    assert server.last_body["response_format"]["json_schema"]["schema"] == schema


async def test_image_inputs(driver: OpenAIDriver, server: OpenAICompatServer) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(32))
    message = Message.user(
        "Describe", images=[ImagePart(data=png, media_type="image/png"), ImagePart(url="https://example.com/x.jpg")]
    )
    await driver.send(request(model="gpt-4o", messages=[message]))
    parts = server.last_body["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url", "image_url"]
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")


async def test_stop_seed_and_provider_options_reach_the_wire(driver: OpenAIDriver, server: OpenAICompatServer) -> None:
    await driver.send(request(stop=["\n"], seed=1234, provider_options={"logprobs": True, "top_logprobs": 2}))
    body = server.last_body
    assert body["stop"] == ["\n"] and body["seed"] == 1234
    assert body["logprobs"] is True and body["top_logprobs"] == 2


async def test_organization_and_project_headers(server: OpenAICompatServer) -> None:
    driver = OpenAIDriver(config_for(server, options={"organization": "org-1", "project": "proj-2"}))
    try:
        await driver.send(request())
    finally:
        await driver.aclose()
    headers = server.requests[-1].headers
    assert headers["openai-organization"] == "org-1" and headers["openai-project"] == "proj-2"


# ---------------------------------------------------------------- models and credentials


async def test_list_models_keeps_chat_models(driver: OpenAIDriver, server: OpenAICompatServer) -> None:
    models = await driver.list_models()
    assert [m.id for m in models] == ["gpt-4o", "gpt-4o-mini", "o4-mini"]
    assert {m.id: m.reasoning for m in models}["o4-mini"] is True
    assert all(m.provider == "openai" for m in models)


async def test_validate_credentials_without_spending_tokens(server: OpenAICompatServer) -> None:
    server.api_keys = {API_KEY}
    good = OpenAIDriver(config_for(server))
    bad = OpenAIDriver(config_for(server, api_key=__import__("pydantic").SecretStr("sk-wrong-key-000000")))
    try:
        assert await good.validate_credentials() is True
        assert await bad.validate_credentials() is False
    finally:
        await good.aclose()
        await bad.aclose()
    assert {r.path for r in server.requests} == {"/v1/models"}  # no chat call, no tokens


async def test_validate_credentials_needs_a_key(server: OpenAICompatServer) -> None:
    driver = OpenAIDriver(config_for(server, api_key=None))
    with pytest.raises(errors.MissingCredentialsError):
        await driver.validate_credentials()


# ---------------------------------------------------------------- HTTP errors

ERROR_CASES = [
    (ErrorReply.bad_request(), errors.InvalidRequestError),
    (ErrorReply.context_length_exceeded(), errors.ContextLengthExceededError),
    (ErrorReply.unauthorized(), errors.AuthenticationError),
    (ErrorReply.forbidden(), errors.PermissionDeniedError),
    (ErrorReply.not_found(), errors.NotFoundError),
    (ErrorReply.rate_limited(retry_after=7), errors.RateLimitError),
    (ErrorReply.server_error(500), errors.ProviderUnavailableError),
    (ErrorReply.unavailable(), errors.ProviderUnavailableError),
]


@pytest.mark.parametrize(("reply", "expected"), ERROR_CASES, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("streaming", [False, True], ids=["send", "stream"])
async def test_error_statuses_are_typed(
    driver: OpenAIDriver, server: OpenAICompatServer, reply: ErrorReply, expected: type[Exception], streaming: bool
) -> None:
    server.reply(reply)
    with pytest.raises(expected) as caught:
        if streaming:
            await collect(driver, request())
        else:
            await driver.send(request())
    error = caught.value
    assert type(error) is expected  # the most specific class, not a parent
    assert error.status_code == reply.status and error.provider == "openai"
    assert error.request_id == "req_test123"
    assert reply.message.split(":")[0][:20] in error.message
    assert "sk-wrong" not in str(error) or "***" in str(error)


async def test_context_length_is_its_own_error(driver: OpenAIDriver, server: OpenAICompatServer) -> None:
    server.reply(ErrorReply.context_length_exceeded())
    with pytest.raises(errors.ContextLengthExceededError) as caught:
        await driver.send(request())
    assert caught.value.code == "context_length_exceeded"
    assert isinstance(caught.value, errors.InvalidRequestError)


@pytest.mark.parametrize(
    ("reply", "seconds"),
    [
        (ErrorReply.rate_limited(retry_after=7), 7.0),
        (ErrorReply.rate_limited(retry_after=None, retry_after_ms=1500), 1.5),
        (ErrorReply.rate_limited(retry_after=None), None),
    ],
)
async def test_rate_limit_carries_retry_after(
    driver: OpenAIDriver, server: OpenAICompatServer, reply: ErrorReply, seconds: float | None
) -> None:
    server.reply(reply)
    with pytest.raises(errors.RateLimitError) as caught:
        await driver.send(request())
    assert caught.value.retry_after == seconds
    assert caught.value.retryable


@pytest.mark.parametrize(
    "reply",
    [
        RawReply(200, b"<html>oops</html>", "text/html"),
        RawReply(200, b"", "application/json"),
        RawReply(200, b'{"choices": [', "application/json"),
        RawReply(200, b'{"object": "chat.completion", "choices": []}', "application/json"),
    ],
)
async def test_bodies_that_are_not_the_expected_json(
    driver: OpenAIDriver, server: OpenAICompatServer, reply: RawReply
) -> None:
    server.reply(reply)
    with pytest.raises(errors.MalformedResponseError):
        await driver.send(request())


async def test_html_error_page_from_a_proxy(driver: OpenAIDriver, server: OpenAICompatServer) -> None:
    server.reply(RawReply(502, b"<html><body>502 Bad Gateway</body></html>", "text/html"))
    with pytest.raises(errors.ProviderUnavailableError) as caught:
        await driver.send(request())
    assert "502 Bad Gateway" in caught.value.message


# ---------------------------------------------------------------- stream faults


async def test_error_event_inside_a_stream(driver: OpenAIDriver, server: OpenAICompatServer) -> None:
    server.reply(Completion(text="partial answer here", chunk_size=4, fault=Fault.error_event(after=2)))
    seen: list[Any] = []
    with pytest.raises(errors.ProviderUnavailableError, match="server had an error"):
        async for event in driver.stream(request()):
            seen.append(event)
    assert len(seen) == 1 and isinstance(seen[0], TextDelta)  # the deltas before the error got through


async def test_sse_error_event_type(driver: OpenAIDriver, server: OpenAICompatServer) -> None:
    fault = Fault.error_event(after=1, error=ErrorReply.rate_limited(), sse_event="error")
    server.reply(Completion(fault=fault))
    with pytest.raises(errors.RateLimitError):
        await collect(driver, request())


@pytest.mark.parametrize("fault", [Fault.cut_off(after=3), Fault.end_early(after=3)], ids=["dropped", "ended-early"])
async def test_stream_cut_off_midway(driver: OpenAIDriver, server: OpenAICompatServer, fault: Fault) -> None:
    server.reply(Completion(text="a long answer that never finishes", chunk_size=4, fault=fault))
    with pytest.raises(errors.StreamInterruptedError) as caught:
        await collect(driver, request())
    assert caught.value.retryable


async def test_garbage_chunk_in_stream(driver: OpenAIDriver, server: OpenAICompatServer) -> None:
    server.reply(Completion(text="fine so far", fault=Fault.garbage(after=1)))
    with pytest.raises(errors.MalformedResponseError, match="not JSON"):
        await collect(driver, request())


async def test_stalled_stream_hits_the_idle_timeout(server: OpenAICompatServer) -> None:
    server.reply(Completion(text="slow", fault=Fault.stall(after=2, seconds=20)))
    driver = OpenAIDriver(config_for(server, stream_idle_timeout=0.3, timeout=30))
    started = time.monotonic()
    try:
        with pytest.raises(errors.ProviderTimeoutError, match="stalled"):
            await collect(driver, request())
    finally:
        await driver.aclose()
    assert time.monotonic() - started < 5


async def test_unstreamed_read_timeout(server: OpenAICompatServer) -> None:
    server.handler = lambda _request: (time.sleep(1.0), Completion())[1]
    driver = OpenAIDriver(config_for(server, timeout=0.2))
    try:
        with pytest.raises(errors.ProviderTimeoutError):
            await driver.send(request())
    finally:
        await driver.aclose()


async def test_unreachable_server_is_unavailable() -> None:
    # a port nothing listens on: bind one, close it, use it
    import socket

    from pydantic import SecretStr

    from ai_core.drivers.base import ProviderConfig

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    driver = OpenAIDriver(
        ProviderConfig(provider="openai", api_key=SecretStr(API_KEY), base_url=f"http://127.0.0.1:{port}/v1")
    )
    try:
        with pytest.raises(errors.ProviderUnavailableError):
            await driver.send(request())
    finally:
        await driver.aclose()


async def test_consumer_can_stop_a_stream_early(driver: OpenAIDriver, server: OpenAICompatServer) -> None:
    server.reply(Completion(text="x" * 400, chunk_size=4), Completion(text="next"))
    stream = driver.stream(request())
    first = await stream.__anext__()
    assert isinstance(first, TextDelta)
    await stream.aclose()  # the connection is released, and the driver keeps working
    assert (await driver.send(request())).text == "next"


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
@pytest.mark.parametrize("piece", [1, 7, 10_000], ids=["byte-by-byte", "small-reads", "one-read"])
async def test_sse_line_endings_and_read_boundaries(newline: bytes, piece: int) -> None:
    """SSE lines may end in LF, CRLF or CR, and a read may end anywhere (even between CR and LF)."""
    from pydantic import SecretStr
    from servers.openai_compat import render_chunks

    from ai_core.drivers import http
    from ai_core.drivers.base import ProviderConfig

    reply = Completion(text="héllo wörld ✓", chunk_size=3)
    events = [
        b"data: " + json.dumps(c, ensure_ascii=False).encode() for c in render_chunks(reply, "gpt-4o", "openai", True)
    ]
    body = newline.join([b": keep-alive comment", b"", *[e + newline for e in events], b"data: [DONE]", b"", b""])

    async def pieces() -> Any:
        for start in range(0, len(body), piece):
            yield body[start : start + piece]

    def handler(request: Any) -> Any:
        return http.Response(200, headers={"content-type": "text/event-stream"}, content=pieces())

    config = ProviderConfig(
        provider="openai", api_key=SecretStr(API_KEY), base_url="http://test/v1", transport=http.MockTransport(handler)
    )
    driver = OpenAIDriver(config)
    try:
        events_out, response = await collect(driver, request())
    finally:
        await driver.aclose()
    assert response.text == "héllo wörld ✓"
    assert "".join(e.text for e in events_out if isinstance(e, TextDelta)) == "héllo wörld ✓"


async def test_streams_leave_their_connection_in_the_pool(driver: OpenAIDriver, server: OpenAICompatServer) -> None:
    for _ in range(3):
        await collect(driver, request())
    await driver.send(request())
    assert len({r.client_port for r in server.requests}) == 1


async def test_a_body_left_open_after_done_is_not_waited_for(driver: OpenAIDriver, server: OpenAICompatServer) -> None:
    server.reply(Completion(text="complete", fault=Fault.linger(seconds=20)))
    started = time.monotonic()
    _, response = await collect(driver, request())
    assert response.text == "complete"
    assert time.monotonic() - started < 3
