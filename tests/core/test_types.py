"""Types: round-trips through provider-neutral JSON, and bad input rejected with types."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ai_core import (
    ChatRequest,
    ChatResponse,
    ImagePart,
    Message,
    ReasoningPart,
    TextPart,
    TokenUsage,
    ToolCallPart,
    ToolResultPart,
)
from ai_core.types.construct import updated

json_scalars = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)

parts = st.one_of(
    st.builds(TextPart, text=st.text()),
    st.builds(ReasoningPart, text=st.text(), signature=st.none() | st.text(max_size=10)),
    st.builds(ImagePart, url=st.from_regex(r"https://[a-z]{1,8}\.example/[a-z]{1,8}\.png", fullmatch=True)),
    st.builds(
        ImagePart, data=st.binary(min_size=1, max_size=64), media_type=st.sampled_from(["image/png", "image/jpeg"])
    ),
    st.builds(
        ToolCallPart,
        id=st.text(min_size=1, max_size=10),
        name=st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
        arguments=st.dictionaries(st.text(max_size=8), json_values, max_size=3),
    ),
    st.builds(ToolResultPart, tool_call_id=st.text(min_size=1, max_size=10), content=st.text(), is_error=st.booleans()),
)
messages = st.builds(
    Message,
    role=st.sampled_from(["system", "user", "assistant", "tool", "developer"]),
    parts=st.lists(parts, min_size=1, max_size=4),
)


@given(messages)
@settings(max_examples=150)
def test_message_round_trips_through_json(message: Message) -> None:
    assert Message.model_validate_json(message.model_dump_json()) == message


@given(st.text(), st.sampled_from(["system", "user", "assistant"]))
@settings(max_examples=150)
def test_message_shortcuts_make_what_validation_makes(text: str, role: str) -> None:
    """``Message.user("...")`` and its siblings skip pydantic for a plain str: the message
    is the one validation makes, cleaned text, fields set and JSON included."""
    made = getattr(Message, role)(text)
    validated = Message(role=role, parts=[TextPart(text=text)])
    assert made == validated and made.model_dump_json() == validated.model_dump_json()
    assert made.model_fields_set == validated.model_fields_set
    assert made.parts[0].model_fields_set == validated.parts[0].model_fields_set
    assert Message.model_validate_json(made.model_dump_json()) == made


@pytest.mark.parametrize("bad", [None, 3, 2.5, ["a"], {"text": "a"}])
def test_message_shortcuts_still_refuse_what_is_not_text(bad: object) -> None:
    with pytest.raises(ValidationError):
        Message.user(bad)  # type: ignore[arg-type]


@given(messages, st.text(max_size=8), st.none() | st.text(max_size=8))
@settings(max_examples=100)
def test_updated_copies_as_model_copy_does(message: Message, message_id: str, conversation_id: str | None) -> None:
    response = ChatResponse(provider="p", model="m", message=message)
    changes = {"message_id": message_id, "conversation_id": conversation_id, "latency_ms": 1.5}
    copied, expected = updated(response, **changes), response.model_copy(update=changes)
    assert copied == expected and copied.model_fields_set == expected.model_fields_set
    assert copied.model_dump_json() == expected.model_dump_json()
    assert response.message_id is None and response.latency_ms is None  # the original is untouched


@given(
    st.builds(TokenUsage, input_tokens=st.integers(0, 10**9), output_tokens=st.integers(0, 10**9)),
    st.builds(TokenUsage, input_tokens=st.integers(0, 10**9), output_tokens=st.integers(0, 10**9)),
)
def test_usage_adds_field_by_field(a: TokenUsage, b: TokenUsage) -> None:
    total = a + b
    assert total.input_tokens == a.input_tokens + b.input_tokens
    assert total.total_tokens == a.total_tokens + b.total_tokens


@given(
    st.dictionaries(
        st.sampled_from(["temperature", "top_p", "max_tokens", "stop", "seed", "tool_choice", "messages", "model"]),
        json_values,
        min_size=1,
        max_size=4,
    )
)
@settings(max_examples=200)
def test_malformed_requests_raise_validation_errors_only(fields: dict[str, object]) -> None:
    base: dict[str, object] = {"provider": "fake", "model": "echo", "messages": [Message.user("hi")]}
    try:
        ChatRequest.model_validate({**base, **fields})
    except ValidationError:
        pass  # the only acceptable failure


@pytest.mark.parametrize(
    "bad",
    [
        {"messages": []},
        {"temperature": 3},
        {"max_tokens": 0},
        {"tool_choice": "missing_tool"},
        {"tool_choice": "required"},
        {"model": ""},
    ],
)
def test_specific_bad_requests_are_rejected(bad: dict[str, object]) -> None:
    base: dict[str, object] = {"provider": "fake", "model": "echo", "messages": [Message.user("hi")]}
    with pytest.raises(ValidationError):
        ChatRequest.model_validate({**base, **bad})


def test_image_needs_exactly_one_source_and_a_media_type_for_bytes() -> None:
    with pytest.raises(ValidationError):
        ImagePart()
    with pytest.raises(ValidationError):
        ImagePart(url="https://x.example/a.png", data=b"x", media_type="image/png")
    with pytest.raises(ValidationError):
        ImagePart(data=b"x")
    assert ImagePart(data=b"\x89PNG", media_type="image/png").data_url().startswith("data:image/png;base64,")
