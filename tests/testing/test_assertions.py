"""assert_called and friends: pass when they should, and say why when they fail."""

from __future__ import annotations

import pytest

from ai_core.testing import assert_called, assert_not_called, describe_calls, fake_ai, last_request, make_fake
from ai_core.types import ChatRequest, Message, ToolSpec

WEATHER = ToolSpec(name="get_weather")
TIME = ToolSpec(name="get_time")


def request(text: str = "hi", **fields: object) -> ChatRequest:
    return ChatRequest(provider="fake", model="echo", messages=[Message.user(text)], **fields)  # type: ignore[arg-type]


def test_passes_on_matching_call_and_returns_it() -> None:
    calls = [request("first"), request("second", system="Be brief.", tools=[WEATHER, TIME], temperature=0.2)]
    checked = assert_called(
        calls,
        times=2,
        model="echo",
        tools=["get_time", "get_weather"],
        system="Be brief.",
        last_user_text="second",
        user_text_contains="eco",
        temperature=0.2,
    )
    assert checked is calls[1]
    assert_called(calls, call=0, model="fake/echo", tools=[], system=None, last_user_text="first")


def test_wrong_count_lists_every_call() -> None:
    with pytest.raises(AssertionError) as caught:
        assert_called([request("one"), request("two")], times=1)
    message = str(caught.value)
    assert "expected 1 call(s), got 2" in message
    assert "#0 fake/echo" in message and "user='two'" in message


def test_every_mismatch_is_reported_at_once() -> None:
    with pytest.raises(AssertionError) as caught:
        assert_called(
            [request("hello", tools=[WEATHER])], model="gpt-4o", tools=["get_time"], system="S", options={"k": 1}
        )
    message = str(caught.value)
    assert "model: expected 'gpt-4o', got 'echo'" in message
    assert "tools: expected ['get_time'], got ['get_weather']" in message
    assert "system: expected 'S', got None" in message
    assert "provider option 'k': missing" in message


def test_options_must_match_values() -> None:
    calls = [request(provider_options={"openai_logprobs": True})]
    assert_called(calls, options={"openai_logprobs": True})
    with pytest.raises(AssertionError, match="provider option 'openai_logprobs': expected False, got True"):
        assert_called(calls, options={"openai_logprobs": False})


def test_never_called_and_missing_index() -> None:
    with pytest.raises(AssertionError, match="never was"):
        assert_called([])
    with pytest.raises(AssertionError, match="no call #5"):
        assert_called([request()], call=5)
    with pytest.raises(AssertionError, match="never called"):
        last_request([])
    assert_not_called([])
    with pytest.raises(AssertionError, match="expected no calls, got 1"):
        assert_not_called([request()])


def test_not_a_fake_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="FakeDriver or a list"):
        assert_called(42)


def test_long_texts_are_shortened_in_descriptions() -> None:
    text = "x" * 500
    line = describe_calls([request(text)])
    assert len(line) < 200 and "…" in line


def test_works_on_the_requests_the_pipeline_sent() -> None:
    fake = make_fake(["ok"])
    with fake_ai(fake) as ai:
        ai.conversation("fake/echo").system("sys").temperature(0.5).max_tokens(20).option("fake_x", 1).user("q").send()
    assert_called(fake, times=1, system="sys", temperature=0.5, max_tokens=20, options={"fake_x": 1}, tool_choice=None)
