"""Hypothesis feeds the driver's NDJSON reading arbitrary chunk boundaries and garbage:
a valid stream always reads the same, whatever its chunking; anything else ends in a typed
error (a :class:`~ai_core.errors.ProviderError`), never a hang or another exception."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ai_core import ChatRequest, Message, StreamCompleted, TextDelta
from ai_core.drivers import http
from ai_core.drivers.base import ProviderConfig
from ai_core.errors import ProviderError
from ai_ollama.driver import OllamaDriver

REQUEST = ChatRequest(provider="ollama", model="llama3.2", messages=[Message.user("hi")])
BACKENDS = ["asyncio", "trio"]


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges) if b > a]


async def run_stream(chunks: list[bytes]) -> list[Any]:
    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    def handler(request: Any) -> Any:
        return http.Response(200, headers={"content-type": "application/x-ndjson"}, content=body())

    config = ProviderConfig(
        provider="ollama", base_url="http://127.0.0.1:9", timeout=5, stream_idle_timeout=5,
        transport=http.MockTransport(handler),
    )  # fmt: skip
    driver = OllamaDriver(config)
    try:
        with anyio.fail_after(10):  # generous: only a hang trips it
            return [event async for event in driver.stream(REQUEST)]
    finally:
        await driver.aclose()


def lines_for(pieces: list[str], thinking: list[str], prompt: int, out: int, crlf: bool) -> bytes:
    rows: list[dict[str, Any]] = [
        {"model": "llama3.2", "message": {"role": "assistant", "content": "", "thinking": t}, "done": False}
        for t in thinking
    ]
    rows += [{"model": "llama3.2", "message": {"role": "assistant", "content": p}, "done": False} for p in pieces]
    rows.append({"model": "llama3.2", "message": {"role": "assistant", "content": ""}, "done": True,
                 "done_reason": "stop", "prompt_eval_count": prompt, "eval_count": out})  # fmt: skip
    end = "\r\n" if crlf else "\n"
    return "".join(json.dumps(row, ensure_ascii=False) + end for row in rows).encode()


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pieces=st.lists(st.text(min_size=1, max_size=12), max_size=8),
    thinking=st.lists(st.text(min_size=1, max_size=8), max_size=3),
    prompt=st.integers(0, 10**6),
    out=st.integers(0, 10**6),
    crlf=st.booleans(),
    cuts=st.lists(st.integers(0, 10**4), max_size=20),
)
def test_any_chunking_of_a_valid_stream_reads_the_same(
    backend: str, pieces: list[str], thinking: list[str], prompt: int, out: int, crlf: bool, cuts: list[int]
) -> None:
    data = lines_for(pieces, thinking, prompt, out, crlf)
    events = anyio.run(run_stream, split(data, cuts), backend=backend)
    final = events[-1]
    assert isinstance(final, StreamCompleted)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "".join(pieces)
    # Messages hold text as stored: NUL becomes U+FFFD (ai_core.types.messages), deltas pass it on as sent.
    assert final.response.text == "".join(pieces).replace("\x00", "\ufffd")
    assert final.response.reasoning == ("".join(thinking).replace("\x00", "\ufffd") or None)
    assert (final.response.usage.input_tokens, final.response.usage.output_tokens) == (prompt, out)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prefix=st.lists(st.text(max_size=10), max_size=4),
    garbage=st.one_of(
        st.binary(max_size=200),
        st.sampled_from(
            [
                b"{",
                b"[1,2]\n",
                b'{"message": 5}\n',
                b'{"error": "boom"}\n',
                b"null\n",
                b'{"message": {"tool_calls": [{"function": {"arguments": 1}}]}}\n',
                b'{"done": true, "eval_count": -3}\n',
                b"\xff\xfe\n",
                b'{"done": true, "message": []}\n',
            ]
        ),
    ),
    cuts=st.lists(st.integers(0, 10**4), max_size=10),
)
def test_garbage_ends_in_a_typed_error_or_a_complete_answer(
    backend: str, prefix: list[str], garbage: bytes, cuts: list[int]
) -> None:
    valid = lines_for(prefix, [], 1, 1, False)
    data = valid[: valid.rfind(b'{"model"')] + garbage  # the done line replaced by garbage
    try:
        events = anyio.run(run_stream, split(data, cuts), backend=backend)
    except ProviderError:
        return
    assert isinstance(events[-1], StreamCompleted)  # garbage that happens to be a valid ending
