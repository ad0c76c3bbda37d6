"""Record and replay (ai_core.testing.Recording): exact bodies and chunks, scrubbed keys, failures replayed.

The conversation test records a real exchange with the local OpenAI-compatible
server (streamed text, a tool round, a 429, an error event mid-stream), stops
the server, replays the recording through a fresh ``AI`` and compares every
field of every answer and error.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from servers.openai_compat import Completion, ErrorReply, Fault, ToolCall, Usage, running_server

from ai_core import builtin
from ai_core.app import AI
from ai_core.drivers import http
from ai_core.errors import ProviderError, ProviderUnavailableError, RateLimitError, StreamInterruptedError
from ai_core.plugins import PluginRegistry
from ai_core.testing import Recording, RecordingError, ReplayMismatchError
from ai_core.types import StreamCompleted

KEY = "sk-record-0123456789abcdefXYZ"


class Chunks(http._http.AsyncByteStream):
    """A response body arriving in exactly these pieces, then maybe failing."""

    def __init__(self, chunks: list[bytes], fail: Exception | None = None) -> None:
        self.chunks = chunks
        self.fail = fail

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk
        if self.fail is not None:
            raise self.fail


def serving(chunks: list[bytes], *, status: int = 200, fail: Exception | None = None, headers: Any = None) -> Any:
    seen: list[Any] = []

    def handler(request: Any) -> Any:
        seen.append(request)
        return http.Response(
            status, headers=headers or {"content-type": "text/event-stream"}, stream=Chunks(chunks, fail)
        )

    transport = http.MockTransport(handler)
    transport.seen = seen  # type: ignore[attr-defined]
    return transport


async def fetch(recording: Recording, *, url: str = "https://api.example.test/v1/chat", body: bytes = b'{"a": 1}',
                headers: dict[str, str] | None = None) -> tuple[int, list[bytes], dict[str, str]]:  # fmt: skip
    async with (
        http.AsyncClient(transport=recording.transport()) as client,
        client.stream("POST", url, content=body, headers=headers or {}) as response,
    ):
        chunks = [chunk async for chunk in response.aiter_raw()]
        return response.status_code, chunks, dict(response.headers)


# -- the file: bytes and chunk boundaries, exactly ------------------------------------------

AWKWARD = [b'data: {"t": "caf', 'é"}'.encode()[:1], 'é"}'.encode()[1:], b"\n\n", b"\x00\xff\x1f gz", b""]


@pytest.mark.anyio
async def test_chunks_replay_exactly_as_they_arrived(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    inner = serving(AWKWARD[:-1], headers={"content-type": "text/event-stream", "x-request-id": "req_1"})
    with Recording(path, mode="record", inner=inner) as recording:
        live = await fetch(recording)
    assert live[1] == AWKWARD[:-1]  # recording changes nothing on the way through
    replayed = await fetch(Recording(path))
    assert replayed == live


@settings(max_examples=60, deadline=None)
@given(chunks=st.lists(st.binary(max_size=40), max_size=8), status=st.sampled_from([200, 400, 429, 500]))
def test_any_bytes_in_any_chunks_survive_the_file(tmp_path_factory: pytest.TempPathFactory, chunks: list[bytes],
                                                  status: int) -> None:  # fmt: skip
    import anyio

    path = tmp_path_factory.mktemp("prop") / "r.json"
    chunks = [c for c in chunks if c]  # a transport never yields an empty read

    async def both() -> None:
        with Recording(path, mode="record", inner=serving(chunks, status=status)) as recording:
            live = await fetch(recording)
        assert await fetch(Recording(path)) == live
        assert live[:2] == (status, chunks)

    anyio.run(both)


# -- secrets ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_keys_and_auth_headers_are_scrubbed_everywhere(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    echoed = f'{{"error": "bad key {KEY}", "detail": "kept exactly"}}'.encode()
    inner = serving([echoed], status=401, headers={"content-type": "application/json", "set-cookie": "sid=abc123"})
    with Recording(path, mode="record", inner=inner) as recording:
        await fetch(
            recording,
            url="https://api.example.test/v1/chat?key=AIzaSyQUERYSECRET0123456789&alt=sse",
            headers={"Authorization": f"Bearer {KEY}", "x-goog-api-key": "AIzaSyHEADERSECRET01234567", "x-trace": "t1"},
        )
    text = path.read_text()
    for secret in (KEY, "AIzaSyQUERYSECRET0123456789", "AIzaSyHEADERSECRET01234567", "sid=abc123"):
        assert secret not in text
    [exchange] = json.loads(text)["exchanges"]
    headers = dict(exchange["request"]["headers"])
    assert headers["authorization"] == headers["x-goog-api-key"] == "<scrubbed>" and headers["x-trace"] == "t1"
    assert exchange["request"]["url"].endswith("?key=%3Cscrubbed%3E&alt=sse")
    assert exchange["response"]["chunks"] == ['{"error": "bad key <scrubbed>", "detail": "kept exactly"}']
    assert ["set-cookie", "<scrubbed>"] in exchange["response"]["headers"]
    # The replayed request carries a different key and still matches: keys are not part of a request's identity.
    status, chunks, _ = await fetch(
        Recording(path), url="https://api.example.test/v1/chat?key=other&alt=sse", headers={"Authorization": "Bearer x"}
    )
    assert status == 401 and b"kept exactly" in chunks[0]


# -- failures -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_stream_cut_part_way_is_cut_at_the_same_point(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    cut = http.RemoteProtocolError("peer closed connection without sending complete message body")
    inner = serving([b"data: 1\n\n", b"data: 2\n\n"], fail=cut)
    with Recording(path, mode="record", inner=inner) as recording, pytest.raises(http.RemoteProtocolError):
        await fetch(recording)
    received: list[bytes] = []
    async with (
        http.AsyncClient(transport=Recording(path).transport()) as client,
        client.stream("POST", "https://api.example.test/v1/chat", content=b'{"a": 1}') as response,
    ):
        with pytest.raises(http.RemoteProtocolError, match="peer closed connection"):
            async for chunk in response.aiter_raw():
                received.append(chunk)
    assert received == [b"data: 1\n\n", b"data: 2\n\n"]


@pytest.mark.anyio
async def test_a_refused_connection_is_replayed(tmp_path: Path) -> None:
    def refuse(request: Any) -> Any:
        raise http.ConnectError("connection refused")

    path = tmp_path / "r.json"
    with (
        Recording(path, mode="record", inner=http.MockTransport(refuse)) as recording,
        pytest.raises(http.ConnectError),
    ):
        await fetch(recording)
    with pytest.raises(http.ConnectError, match="connection refused"):
        await fetch(Recording(path))


@pytest.mark.anyio
async def test_an_unrecorded_request_is_a_clear_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    with Recording(path, mode="record", inner=serving([b"ok"])) as recording:
        await fetch(recording, body=b'{"model": "m", "messages": ["hi"]}')
    replay = Recording(path)
    # JSON bodies compare as data: key order and spacing do not matter.
    assert (await fetch(replay, body=b'{"messages":["hi"],"model":"m"}'))[1] == [b"ok"]
    with pytest.raises(ReplayMismatchError, match="Every recorded exchange was played already"):
        await fetch(replay, body=b'{"model": "m", "messages": ["hi"]}')
    with pytest.raises(ReplayMismatchError, match=r"no recorded exchange left for POST /v1/chat .*\"bye\"") as caught:
        await fetch(Recording(path), body=b'{"model": "m", "messages": ["bye"]}')
    assert "Unplayed recordings:" in str(caught.value) and "pytest --ai-record" in str(caught.value)


def test_a_missing_or_foreign_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match=r"no recording at .*absent\.json: record it first \(pytest --ai-record"):
        Recording(tmp_path / "absent.json")
    (tmp_path / "other.json").write_text('{"interactions": []}')
    with pytest.raises(RecordingError, match="not an ai-core recording of format version 1"):
        Recording(tmp_path / "other.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(RecordingError, match="cannot read the recording"):
        Recording(tmp_path / "broken.json")


# -- a whole conversation, live then replayed ------------------------------------------------


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"sunny in {city}"


def script(server: Any) -> None:
    server.reply(
        Completion(text="Paris is the capital of France.", chunk_size=4, usage=Usage(30, 8, cached_tokens=10)),
        Completion(text="", tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="call_w1")], chunk_size=5),
        Completion(text="It is sunny in Paris.", usage=Usage(52, 7)),
        ErrorReply.rate_limited(retry_after=2),
        Completion(text="This answer breaks off.", chunk_size=4, fault=Fault.error_event(after=3)),
    )


def make_ai(recording: Recording, base_url: str) -> AI:
    import ai_openai.plugin

    registry = PluginRegistry(plugins=[("core", builtin), ("openai", ai_openai.plugin)])
    provider = {"api_key": KEY, "base_url": base_url, "retry_attempts": 0, "transport": recording.transport}
    return AI(persistence=False, registry=registry, providers={"openai": provider})


def error_fields(exc: BaseException) -> dict[str, Any]:
    return {
        "type": type(exc).__name__,
        "str": str(exc),
        **{name: getattr(exc, name, None) for name in ("status_code", "code", "request_id", "body", "retry_after")},
    }


def response_fields(response: Any) -> dict[str, Any]:
    return response.model_dump(exclude={"latency_ms", "conversation_id", "message_id"})


async def converse(ai: AI) -> dict[str, Any]:
    """The same conversation, live or replayed; everything the caller could observe."""
    seen: dict[str, Any] = {}
    chat = ai.conversation("openai/gpt-4o-mini").system("Be brief.").user("Capital of France?")
    events = [event async for event in chat.astream()]
    seen["stream_events"] = [
        (type(e).__name__, getattr(e, "text", None), getattr(e, "usage", None)) for e in events[:-1]
    ]
    assert isinstance(events[-1], StreamCompleted)
    seen["streamed"] = response_fields(events[-1].response)
    seen["tools"] = response_fields(
        await ai.conversation("openai/gpt-4o-mini").tool(get_weather).user("Weather?").asend()
    )
    with pytest.raises(RateLimitError) as limited:
        await ai.conversation("openai/gpt-4o-mini").user("Again?").asend()
    seen["rate_limited"] = error_fields(limited.value)
    partial: list[str] = []
    with pytest.raises(ProviderError) as broken:
        async for event in ai.conversation("openai/gpt-4o-mini").user("Tell me more.").astream():
            partial.append(getattr(event, "text", ""))
    seen["mid_stream"] = (partial, error_fields(broken.value))
    return seen


def port_is_closed(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.anyio
async def test_a_conversation_replays_field_by_field_without_the_server(tmp_path: Path) -> None:
    path = tmp_path / "conversation.json"
    with running_server(flavor="openai", api_keys={KEY}) as server:
        script(server)
        base_url, port = server.base_url, server.port
        with Recording(path, mode="record") as recording:
            ai = make_ai(recording, base_url)
            try:
                live = await converse(ai)
            finally:
                await ai.aclose()
        assert len(server.requests) == 5
    assert port_is_closed(port), "the server must be gone before replaying"

    replay = Recording(path)
    ai = make_ai(replay, base_url)
    try:
        replayed = await converse(ai)
    finally:
        await ai.aclose()

    assert replay.unplayed == []
    for name in live:
        assert replayed[name] == live[name], name
    # What was live is what a person would expect, so the comparison is not of two empty things.
    assert live["streamed"]["message"]["parts"][0]["text"] == "Paris is the capital of France."
    assert live["streamed"]["usage"]["cached_input_tokens"] == 10 and live["streamed"]["cost"]["total"] > 0
    assert live["tools"]["message"]["parts"][0]["text"] == "It is sunny in Paris."
    assert live["rate_limited"]["status_code"] == 429 and live["rate_limited"]["retry_after"] == 2.0
    assert live["mid_stream"][0] and live["mid_stream"][1]["type"] == ProviderUnavailableError.__name__
    assert len([t for t, _, _ in live["stream_events"] if t == "TextDelta"]) > 3

    document = json.loads(path.read_text())
    assert KEY not in path.read_text()
    streamed = document["exchanges"][0]["response"]
    assert streamed["chunks"], "a stream keeps its chunks (how many depends on the network's reads)"
    assert "".join(streamed["chunks"]).endswith("data: [DONE]\n\n")


@pytest.mark.anyio
async def test_a_stream_cut_live_is_cut_on_replay_through_the_driver(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    with running_server(flavor="xai", api_keys={KEY}) as server:
        server.reply(Completion(text="An answer the network cuts.", chunk_size=3, fault=Fault.cut_off(after=4)))
        with Recording(path, mode="record") as recording:
            live = await _cut_stream(recording, server.base_url)
    replayed = await _cut_stream(Recording(path), "http://127.0.0.1:9/v1")
    assert replayed == live
    assert live[1]["type"] == StreamInterruptedError.__name__ and live[0]


async def _cut_stream(recording: Recording, base_url: str) -> tuple[list[Any], dict[str, Any]]:
    import ai_xai.plugin

    registry = PluginRegistry(plugins=[("core", builtin), ("xai", ai_xai.plugin)])
    provider = {"api_key": KEY, "base_url": base_url, "retry_attempts": 0, "transport": recording.transport}
    ai = AI(persistence=False, registry=registry, providers={"xai": provider})
    events: list[Any] = []
    try:
        with pytest.raises(ProviderError) as caught:
            async for event in ai.conversation("xai/grok-4.3").user("Go on.").astream():
                events.append((type(event).__name__, getattr(event, "text", None), getattr(event, "usage", None)))
    finally:
        await ai.aclose()
    return events, error_fields(caught.value)
