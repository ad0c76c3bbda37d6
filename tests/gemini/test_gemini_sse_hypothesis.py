"""Hypothesis feeds the Gemini stream reader arbitrary chunk boundaries and garbage.

The bytes go through the whole path (transport, line splitting, SSE grouping,
chunk parsing) over a mock transport, on asyncio and on trio: a valid stream
split anywhere ends in the same response as unsplit; anything else ends in a
typed :class:`~ai_core.errors.ProviderError`, never another exception and never
a hang (the body is finite).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from ai_core import errors
from ai_core.drivers import http
from ai_core.drivers.base import ProviderConfig
from ai_core.types import ChatRequest, ChatResponse, Message, StreamCompleted, ToolSpec

REQUEST = ChatRequest(
    provider="gemini",
    model="gemini-2.5-flash",
    messages=[Message.user("hi")],
    tools=[ToolSpec(name="get_weather", parameters={"type": "object", "properties": {}})],
)
USAGE = {"promptTokenCount": 9, "candidatesTokenCount": 7, "thoughtsTokenCount": 3, "totalTokenCount": 19}


def _event(payload: dict[str, Any], newline: bytes) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode() + newline + newline


def valid_stream(newline: bytes = b"\r\n") -> bytes:
    def chunk(parts: list[dict[str, Any]], **candidate: Any) -> dict[str, Any]:
        return {
            "candidates": [{"content": {"role": "model", "parts": parts}, "index": 0, **candidate}],
            "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
            "modelVersion": "gemini-2.5-flash",
            "responseId": "r1",
        }

    events = [
        chunk([{"text": "Let me think… ", "thought": True}]),
        chunk([{"text": "Héllo"}]),
        chunk([{"text": ", wörld 🌍"}]),
        chunk([{"functionCall": {"name": "get_weather", "args": {"city": "Zürich"}}, "thoughtSignature": "c2ln"}]),
        {**chunk([{"text": "!"}], finishReason="STOP"), "usageMetadata": USAGE},
    ]
    return b"".join(_event(e, newline) for e in events)


async def run(body_chunks: list[bytes]) -> ChatResponse:
    from ai_gemini.driver import GeminiDriver

    async def body() -> AsyncIterator[bytes]:
        for piece in body_chunks:
            yield piece

    def handler(request: Any) -> Any:
        assert request.url.path.endswith(":streamGenerateContent") and request.url.params["alt"] == "sse"
        return http.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    config = ProviderConfig(
        provider="gemini", api_key=SecretStr("k"), transport=http.MockTransport(handler), timeout=5.0
    )
    driver = GeminiDriver(config)
    try:
        with anyio.fail_after(10):  # a hang fails the example instead of the run
            events = [event async for event in driver.stream(REQUEST)]
    finally:
        await driver.aclose()
    assert isinstance(events[-1], StreamCompleted)
    return events[-1].response


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(max(c, 0), len(data)) for c in cuts})
    pieces, start = [], 0
    for point in points:
        pieces.append(data[start:point])
        start = point
    pieces.append(data[start:])
    return [p for p in pieces if p] or [b""]


@pytest.fixture(scope="module")
def expected() -> ChatResponse:
    return anyio.run(run, [valid_stream()])


BACKENDS = ["asyncio", "trio"]


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=40), newline=st.sampled_from([b"\n", b"\r\n"]))
def test_any_chunk_boundaries_give_the_same_response(
    backend: str, expected: ChatResponse, cuts: list[int], newline: bytes
) -> None:
    response = anyio.run(run, split(valid_stream(newline), cuts), backend=backend)
    assert response.message == expected.message
    assert response.usage == expected.usage and response.finish_reason == "tool_calls"
    assert response.text == "Héllo, wörld 🌍!" and response.reasoning == "Let me think… "
    assert response.usage.reasoning_tokens == 3 and response.usage.output_tokens == 10


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=50, deadline=None)
@given(
    garbage=st.binary(max_size=200),
    where=st.integers(min_value=0, max_value=2000),
    drop=st.integers(min_value=0, max_value=50),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=10),
)
def test_garbage_is_a_typed_error_or_a_response(
    backend: str, garbage: bytes, where: int, drop: int, cuts: list[int]
) -> None:
    data = valid_stream()
    where = min(where, len(data))
    broken = data[:where] + garbage + data[where + drop :]
    try:
        anyio.run(run, split(broken, cuts), backend=backend)
    except errors.ProviderError:
        pass


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=40, deadline=None)
@given(lines=st.lists(st.text(max_size=80), max_size=12))
def test_arbitrary_sse_text_is_a_typed_error_or_a_response(backend: str, lines: list[str]) -> None:
    body = "".join(f"data: {line}\n\n" for line in lines).encode()
    try:
        anyio.run(run, [body], backend=backend)
    except errors.ProviderError:
        pass


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
FIELDS = ["candidates", "usageMetadata", "promptFeedback", "error", "responseId"]


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=60, deadline=None)
@given(
    chunks=st.lists(
        st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=3)
        | st.builds(
            lambda parts, reason, usage: {
                "candidates": [{"content": {"parts": parts}, "finishReason": reason}],
                "usageMetadata": usage,
            },
            st.lists(st.dictionaries(st.sampled_from(["text", "thought", "functionCall", "x"]), JSON), max_size=3),
            JSON,
            st.dictionaries(st.sampled_from(["promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount"]), JSON),
        ),
        max_size=5,
    )
)
def test_chunks_of_the_wrong_shape_are_typed_errors(backend: str, chunks: list[dict[str, Any]]) -> None:
    body = b"".join(_event(chunk, b"\n") for chunk in chunks)
    try:
        anyio.run(run, [body], backend=backend)
    except errors.ProviderError:
        pass


def test_a_stream_without_its_finish_reason_is_interrupted() -> None:
    data = valid_stream()
    cut = data.rfind(b"data: ")
    with pytest.raises(errors.StreamInterruptedError, match="finish reason"):
        anyio.run(run, [data[:cut]])


@settings(max_examples=200, deadline=None)
@given(
    status=st.integers(min_value=400, max_value=599),
    body=st.one_of(
        st.binary(max_size=100),
        JSON.map(lambda value: json.dumps(value).encode()),
        st.dictionaries(st.sampled_from(["code", "status", "message", "details"]), JSON).map(
            lambda error: json.dumps({"error": error}).encode()
        ),
    ),
)
def test_any_error_body_is_a_typed_error(status: int, body: bytes) -> None:
    from ai_gemini.driver import GeminiDriver

    driver = GeminiDriver(ProviderConfig(provider="gemini", api_key=SecretStr("k")))
    error = driver.error_from_response(status, body, http.Response(status).headers)
    assert isinstance(error, errors.ProviderError) and error.provider == "gemini"
    assert error.status_code is not None
