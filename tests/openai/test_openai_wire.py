"""The Chat Completions translation, without I/O: request bodies and response parsing.

Every body built here is validated against CreateChatCompletionRequest from
OpenAI's published spec, and parsing is fuzzed: whatever a server sends, the
result is an ai-core type or a typed ai-core error.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from servers.openai_compat import Completion, ToolCall, Usage, render_chunks, render_completion
from support.openai_spec import assert_valid, validate_chat_request

from ai_core import errors
from ai_core.dialects.openai_chat import COMPATIBLE
from ai_core.dialects.openai_chat.wire import ChunkReader, build_body, parse_response, parse_usage
from ai_core.types import (
    ChatRequest,
    ImagePart,
    Message,
    ReasoningDelta,
    ReasoningPart,
    ResponseFormat,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallPart,
    ToolResultPart,
    ToolSpec,
)
from ai_openai.profile import OPENAI_PROFILE, is_chat_model, is_reasoning_model

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
WEATHER = ToolSpec(
    name="get_weather",
    description="Current weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def request(**kwargs: Any) -> ChatRequest:
    values: dict[str, Any] = {"provider": "openai", "model": "gpt-4o-mini", "messages": [Message.user("Hi")]}
    values.update(kwargs)
    return ChatRequest(**values)


def valid_body(req: ChatRequest, *, stream: bool = False, allow: frozenset[str] = frozenset()) -> dict[str, Any]:
    body = build_body(req, OPENAI_PROFILE, stream=stream)
    problems = validate_chat_request(body, allow_extra=allow)
    assert not problems, problems
    return body


# ---------------------------------------------------------------- request bodies


def test_minimal_body() -> None:
    assert valid_body(request()) == {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}


def test_every_common_field_maps_to_its_wire_name() -> None:
    body = valid_body(
        request(
            system="Be brief.",
            temperature=0.2,
            top_p=0.9,
            max_tokens=64,
            stop=["END", "\n\n"],
            seed=7,
            user="user-42",
        )
    )
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert body["temperature"] == 0.2 and body["top_p"] == 0.9 and body["seed"] == 7 and body["user"] == "user-42"
    assert body["stop"] == ["END", "\n\n"]
    # max_tokens is deprecated at OpenAI; max_completion_tokens works for every model
    assert body["max_completion_tokens"] == 64 and "max_tokens" not in body


def test_generic_compatible_servers_get_max_tokens() -> None:
    body = build_body(request(max_tokens=10), COMPATIBLE)
    assert body["max_tokens"] == 10 and "max_completion_tokens" not in body


def test_reasoning_model_gets_developer_role_and_effort() -> None:
    body = valid_body(
        request(
            model="o4-mini",
            system="Think.",
            max_tokens=500,
            reasoning_effort="high",
            messages=[
                Message(role="system", parts=[TextPart(text="More rules.")]),
                Message.user("Solve it"),
            ],
        )
    )
    assert [m["role"] for m in body["messages"]] == ["developer", "developer", "user"]
    assert body["reasoning_effort"] == "high" and body["max_completion_tokens"] == 500


def test_explicit_developer_message_becomes_system_where_unknown() -> None:
    req = request(messages=[Message(role="developer", parts=[TextPart(text="rules")]), Message.user("x")])
    assert build_body(req, COMPATIBLE)["messages"][0]["role"] == "system"
    assert build_body(req, OPENAI_PROFILE)["messages"][0]["role"] == "developer"


def test_images_as_url_and_as_data_url() -> None:
    req = request(
        messages=[
            Message.user(
                "What is in these?",
                images=[
                    ImagePart(url="https://example.com/cat.jpg", detail="low"),
                    ImagePart(data=PNG, media_type="image/png"),
                ],
            )
        ]
    )
    content = valid_body(req)["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "What is in these?"}
    assert content[1] == {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"}}
    assert content[2]["image_url"]["url"].startswith("data:image/png;base64,iVBORw0KGgo")


def test_tools_tool_calls_and_results_round_trip_the_history() -> None:
    history = [
        Message.user("Weather in Paris?"),
        Message(
            role="assistant",
            parts=[
                ReasoningPart(text="I should call the tool"),
                ToolCallPart(id="call_1", name="get_weather", arguments={"city": "Paris"}),
                ToolCallPart(id="call_2", name="get_weather", arguments={"city": "Lyon"}),
            ],
        ),
        Message(
            role="tool",
            parts=[
                ToolResultPart(tool_call_id="call_1", content="18C"),
                ToolResultPart(tool_call_id="call_2", content="21C"),
            ],
        ),
    ]
    body = valid_body(request(messages=history, tools=[WEATHER], tool_choice="get_weather"))
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": WEATHER.parameters,
                "description": "Current weather for a city",
            },
        }
    ]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assistant = body["messages"][1]
    assert assistant["content"] is None  # reasoning is not sent back; no text
    assert [c["function"]["arguments"] for c in assistant["tool_calls"]] == ['{"city":"Paris"}', '{"city":"Lyon"}']
    assert body["messages"][2:] == [
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "call_2", "content": "21C"},
    ]


@pytest.mark.parametrize("choice", ["auto", "none", "required"])
def test_tool_choice_modes(choice: str) -> None:
    assert valid_body(request(tools=[WEATHER], tool_choice=choice))["tool_choice"] == choice


def test_structured_output_json_schema() -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    body = valid_body(request(response_format=ResponseFormat(name="person", json_schema=schema)))
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "person", "schema": schema, "strict": True},
    }
    assert valid_body(request(response_format=ResponseFormat(type="json_object")))["response_format"] == {
        "type": "json_object"
    }


def test_provider_options_are_merged_untouched() -> None:
    options = {"logprobs": True, "top_logprobs": 3, "service_tier": "flex", "parallel_tool_calls": False}
    body = valid_body(request(provider_options=options, temperature=0.5))
    for key, value in options.items():
        assert body[key] == value
    # an option may override a field core set: the caller asked for it explicitly
    assert valid_body(request(temperature=0.5, provider_options={"temperature": 1.0}))["temperature"] == 1.0


def test_stream_always_asks_for_usage() -> None:
    body = valid_body(request(provider_options={"stream_options": {"include_obfuscation": False}}), stream=True)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_obfuscation": False, "include_usage": True}
    # and an unstreamed call never carries stream fields, whatever the options say
    unstreamed = valid_body(request(provider_options={"stream": True, "stream_options": {"include_usage": True}}))
    assert "stream" not in unstreamed and "stream_options" not in unstreamed


def test_more_stop_sequences_than_openai_accepts_is_a_typed_error() -> None:
    with pytest.raises(errors.RequestValidationError, match="at most 4"):
        build_body(request(stop=["a", "b", "c", "d", "e"]), OPENAI_PROFILE)


@pytest.mark.parametrize(
    "message",
    [
        Message(role="system", parts=[ImagePart(url="https://example.com/a.png")]),
        Message(role="tool", parts=[TextPart(text="loose text")]),
        Message(role="user", parts=[ToolCallPart(id="c", name="f")]),
        Message(role="assistant", parts=[ImagePart(url="https://example.com/a.png")]),
    ],
)
def test_messages_the_wire_cannot_carry_are_typed_errors(message: Message) -> None:
    with pytest.raises(errors.RequestValidationError):
        build_body(request(messages=[message]), OPENAI_PROFILE)


def test_model_classification() -> None:
    assert all(map(is_reasoning_model, ["o1", "o3-mini", "o4-mini", "gpt-5", "gpt-5.1", "ft:o4-mini:acme::x1"]))
    assert not any(map(is_reasoning_model, ["gpt-4o", "gpt-4.1-mini", "gpt-5-chat-latest", "chatgpt-4o-latest"]))
    assert is_chat_model("gpt-4o") and is_chat_model("o3")
    assert not any(map(is_chat_model, ["text-embedding-3-small", "tts-1", "whisper-1", "gpt-4o-realtime-preview"]))


# ---------------------------------------------------------------- responses


def parse(body: dict[str, Any], model: str = "gpt-4o-mini") -> Any:
    return parse_response(body, provider="openai", model=model, profile=OPENAI_PROFILE)


def test_parse_text_response_and_usage_details() -> None:
    body = render_completion(
        Completion(
            text="Hello!",
            usage=Usage(prompt_tokens=2006, completion_tokens=300, cached_tokens=1920, reasoning_tokens=256),
        ),
        "o4-mini-2025-04-16",
        "openai",
    )
    assert_valid(body, "CreateChatCompletionResponse")
    response = parse(body, model="o4-mini")
    assert response.text == "Hello!" and response.finish_reason == "stop" and response.id == "chatcmpl-test0001"
    assert response.model == "o4-mini"  # the id asked for (priced), not the dated snapshot
    assert response.provider_fields["served_model"] == "o4-mini-2025-04-16"
    usage = response.usage
    assert (usage.input_tokens, usage.cached_input_tokens) == (2006, 1920)
    assert (usage.output_tokens, usage.reasoning_tokens, usage.total_tokens) == (300, 256, 2306)


def test_parse_tool_calls() -> None:
    body = render_completion(
        Completion(text="", tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="call_9")]), "gpt-4o", "openai"
    )
    assert_valid(body, "CreateChatCompletionResponse")
    response = parse(body)
    assert response.finish_reason == "tool_calls"
    assert response.tool_calls == [ToolCallPart(id="call_9", name="get_weather", arguments={"city": "Paris"})]


def test_refusal_is_kept() -> None:
    body = render_completion(Completion(text="", refusal="I can't help with that."), "gpt-4o", "openai")
    response = parse(body)
    assert response.text == "I can't help with that."
    assert response.provider_fields["refusal"] == "I can't help with that."


def test_usage_convention_detected_for_unknown_servers() -> None:
    additive = {
        "prompt_tokens": 32,
        "completion_tokens": 9,
        "total_tokens": 135,
        "completion_tokens_details": {"reasoning_tokens": 94},
    }
    usage, _ = parse_usage(additive, COMPATIBLE)
    assert (usage.output_tokens, usage.reasoning_tokens, usage.total_tokens) == (103, 94, 135)
    included = {
        "prompt_tokens": 32,
        "completion_tokens": 103,
        "total_tokens": 135,
        "completion_tokens_details": {"reasoning_tokens": 94},
    }
    usage, _ = parse_usage(included, COMPATIBLE)
    assert (usage.output_tokens, usage.reasoning_tokens, usage.total_tokens) == (103, 94, 135)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ([], errors.MalformedResponseError),
        ({"choices": []}, errors.MalformedResponseError),
        ({"choices": [{"message": "hi"}]}, errors.MalformedResponseError),
        ({"choices": [{"message": {"content": 5}}]}, errors.MalformedResponseError),
        (
            {"choices": [{"message": {"tool_calls": [{"function": {"arguments": "{}"}}]}}]},
            errors.MalformedResponseError,
        ),
        (
            {"choices": [{"message": {"tool_calls": [{"function": {"name": "f", "arguments": "{oops"}}]}}]},
            errors.MalformedResponseError,
        ),
        ({"choices": [{"message": {"content": "x"}}], "usage": {"prompt_tokens": -1}}, errors.MalformedResponseError),
        ({"error": {"message": "overloaded", "type": "server_error"}}, errors.ProviderUnavailableError),
    ],
)
def test_malformed_responses_are_typed(body: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse(body)


# ---------------------------------------------------------------- stream chunks


def read_stream(chunks: list[dict[str, Any]], model: str = "gpt-4o") -> tuple[list[Any], Any]:
    reader = ChunkReader("openai", model, OPENAI_PROFILE)
    events = [event for chunk in chunks for event in reader.feed(json.dumps(chunk))]
    events += reader.feed("[DONE]")
    return events, reader.finish()


def test_stream_and_whole_response_agree() -> None:
    reply = Completion(
        text="The answer is 42.",
        tool_calls=[ToolCall("get_weather", {"city": "Paris"}), ToolCall("get_weather", {"city": "Rome"})],
        usage=Usage(prompt_tokens=50, completion_tokens=40, cached_tokens=10, reasoning_tokens=12),
        chunk_size=3,
    )
    chunks = list(render_chunks(reply, "gpt-4o", "openai", include_usage=True))
    for chunk in chunks:
        assert_valid(chunk, "CreateChatCompletionStreamResponse")
    events, streamed = read_stream(chunks)
    whole = parse(render_completion(reply, "gpt-4o", "openai"), model="gpt-4o")
    assert streamed == whole
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "The answer is 42."
    fragments = [e for e in events if isinstance(e, ToolCallDelta)]
    assert {f.index for f in fragments} == {0, 1} and fragments[0].name == "get_weather"


def test_stream_reasoning_deltas_from_compatible_servers() -> None:
    chunks = [
        {"id": "c1", "choices": [{"index": 0, "delta": {"reasoning_content": "hmm "}}]},
        {"id": "c1", "choices": [{"index": 0, "delta": {"reasoning_content": "ok"}}]},
        {"id": "c1", "choices": [{"index": 0, "delta": {"content": "4"}, "finish_reason": "stop"}]},
    ]
    events, response = read_stream(chunks)
    assert [type(e) for e in events] == [ReasoningDelta, ReasoningDelta, TextDelta]
    assert response.reasoning == "hmm ok" and response.text == "4"


def test_stream_without_done_or_usage_is_interrupted() -> None:
    reader = ChunkReader("openai", "gpt-4o", OPENAI_PROFILE)
    reader.feed(json.dumps({"id": "c", "choices": [{"index": 0, "delta": {"content": "par"}}]}))
    with pytest.raises(errors.StreamInterruptedError):
        reader.finish()


def test_stream_finished_with_usage_but_no_done_is_complete() -> None:
    reader = ChunkReader("openai", "gpt-4o", OPENAI_PROFILE)
    reader.feed(json.dumps({"id": "c", "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}]}))
    reader.feed(
        json.dumps({"id": "c", "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
    )
    assert reader.finish().usage.total_tokens == 2


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ({"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}, errors.RateLimitError),
        (
            {"message": "too long", "type": "invalid_request_error", "code": "context_length_exceeded"},
            errors.ContextLengthExceededError,
        ),
        ({"message": "boom", "type": "server_error", "code": None}, errors.ProviderUnavailableError),
        ({"message": "bad", "type": "invalid_request_error"}, errors.InvalidRequestError),
        ("plain text error", errors.ProviderUnavailableError),
    ],
)
def test_error_inside_a_stream_is_typed(error: Any, expected: type[Exception]) -> None:
    reader = ChunkReader("openai", "gpt-4o", OPENAI_PROFILE)
    with pytest.raises(expected):
        reader.feed(json.dumps({"error": error}))


# ---------------------------------------------------------------- fuzzing

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)
KEYS = [
    "id",
    "choices",
    "usage",
    "delta",
    "message",
    "content",
    "tool_calls",
    "function",
    "name",
    "arguments",
    "index",
    "finish_reason",
    "reasoning_content",
    "refusal",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "prompt_tokens_details",
    "completion_tokens_details",
    "cached_tokens",
    "reasoning_tokens",
    "error",
    "model",
    "message",
    "type",
    "code",
]
shaped = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 50)
    | st.text(max_size=8)
    | st.sampled_from(["stop", "{", "{}", "[DONE]"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.sampled_from(KEYS), children, max_size=6),
    max_leaves=30,
)
TYPED = (errors.ProviderError,)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(shaped | json_values, min_size=1, max_size=6))
def test_fuzzed_chunks_end_in_types_or_typed_errors(chunks: list[Any]) -> None:
    reader = ChunkReader("openai", "gpt-4o", OPENAI_PROFILE)
    try:
        for chunk in chunks:
            for event in reader.feed(json.dumps(chunk)):
                assert isinstance(event, TextDelta | ReasoningDelta | ToolCallDelta)
        reader.feed("[DONE]")
        reader.finish()
    except TYPED:
        pass


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_fuzzed_raw_data_lines_end_in_typed_errors(data: str) -> None:
    reader = ChunkReader("openai", "gpt-4o", OPENAI_PROFILE)
    try:
        reader.feed(data)
        reader.finish()
    except TYPED:
        pass


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(shaped | json_values)
def test_fuzzed_whole_responses_end_in_types_or_typed_errors(body: Any) -> None:
    try:
        parse(body)
    except TYPED:
        pass


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=5),
    st.integers(0, 10**6),
    st.integers(0, 10**5),
    st.integers(0, 100),
    st.integers(0, 100),
)
def test_any_well_formed_stream_matches_the_whole_response(
    pieces: list[str], prompt: int, completion: int, cached_pct: int, reasoning_pct: int
) -> None:
    usage = Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_tokens=prompt * cached_pct // 100,
        reasoning_tokens=completion * reasoning_pct // 100,
    )
    reply = Completion(text="".join(pieces), usage=usage, chunk_size=3)
    _, streamed = read_stream(list(render_chunks(reply, "gpt-4o", "openai", include_usage=True)))
    assert streamed == parse(render_completion(reply, "gpt-4o", "openai"), model="gpt-4o")
    assert streamed.usage.cached_input_tokens == usage.cached_tokens
    assert streamed.usage.reasoning_tokens == usage.reasoning_tokens
