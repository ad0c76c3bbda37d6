"""ai_ollama.wire: core's request as an /api/chat body, and answers back, without HTTP."""

from __future__ import annotations

import base64

import pytest
from support.ollama_spec import request_errors

from ai_core import ChatRequest, ImagePart, Message, ResponseFormat, ToolCallPart, ToolSpec
from ai_core.errors import MalformedResponseError, RequestValidationError
from ai_ollama import wire
from ai_ollama.driver import capabilities_from_show, resolve_base_url

TOOL = ToolSpec(name="get_weather", description="Weather.", parameters={"type": "object", "properties": {}})
PNG = b"\x89PNG\r\n\x1a\nfake"


def request(**fields: object) -> ChatRequest:
    fields.setdefault("messages", [Message.user("hi")])
    return ChatRequest(provider="ollama", model="llama3.2", **fields)  # type: ignore[arg-type]


def test_core_fields_map_onto_options_format_and_think() -> None:
    body = wire.build_body(
        request(
            system="Be brief.",
            temperature=0.2,
            top_p=0.9,
            seed=7,
            stop=["END"],
            max_tokens=50,
            response_format=ResponseFormat(json_schema={"type": "object"}),
            reasoning_effort="high",
        ),
        stream=True,
    )
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert body["options"] == {"temperature": 0.2, "top_p": 0.9, "seed": 7, "stop": ["END"], "num_predict": 50}
    assert body["format"] == {"type": "object"} and body["think"] == "high" and body["stream"] is True
    assert request_errors("/api/chat", body) == []
    assert (
        wire.build_body(request(response_format=ResponseFormat(type="json_object")), stream=False)["format"] == "json"
    )
    assert wire.build_body(request(reasoning_effort="none"), stream=False)["think"] is False


def test_provider_options_go_where_ollama_has_them() -> None:
    body = wire.build_body(
        request(
            temperature=0.5,
            provider_options={"keep_alive": "10m", "think": "low", "options": {"num_ctx": 8192}, "top_k": 20},
        ),
        stream=False,
    )
    assert body["keep_alive"] == "10m" and body["think"] == "low"
    assert body["options"] == {"temperature": 0.5, "num_ctx": 8192, "top_k": 20}
    assert request_errors("/api/chat", body) == []
    with pytest.raises(RequestValidationError, match="'options' must be a mapping"):
        wire.build_body(request(provider_options={"options": 3}), stream=False)


def test_images_go_as_bare_base64_and_urls_are_refused() -> None:
    data_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    message = Message.user("look", images=[ImagePart(data=PNG, media_type="image/png"), ImagePart(url=data_url)])
    body = wire.build_body(request(messages=[message]), stream=False)
    assert body["messages"][0]["images"] == [base64.b64encode(PNG).decode()] * 2
    with pytest.raises(RequestValidationError, match="images as data, not URLs"):
        wire.build_body(request(messages=[Message.user("x", images=[ImagePart(url="https://x/y.png")])]), stream=False)


def test_tool_history_carries_names_and_ids() -> None:
    call = ToolCallPart(id="call_9", name="get_weather", arguments={"city": "Paris"})
    messages = [
        Message.user("weather?"),
        Message(role="assistant", parts=[call]),
        Message.tool_result("call_9", "18C"),  # no name: taken from the call with that id
    ]
    body = wire.build_body(request(messages=messages, tools=[TOOL]), stream=False)
    assert body["messages"][1] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"id": "call_9", "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Paris"}}}
        ],
    }
    assert body["messages"][2] == {
        "role": "tool",
        "content": "18C",
        "tool_name": "get_weather",
        "tool_call_id": "call_9",
    }
    assert body["tools"][0]["function"]["name"] == "get_weather"
    assert request_errors("/api/chat", body) == []
    assert "tools" not in wire.build_body(request(tools=[TOOL], tool_choice="none"), stream=False)


def test_an_answer_with_thinking_tools_and_unknown_fields() -> None:
    payload = {
        "model": "qwen3",
        "message": {
            "role": "assistant",
            "content": "",
            "thinking": "Need weather.",
            "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}],
            "signature": "new-field",
        },
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": 30,
        "eval_count": 12,
        "eval_duration": 2_000_000,
        "logprobs": [],
        "some_future_field": {"x": 1},
    }
    response = wire.parse_response(payload, provider="ollama", model="qwen3")
    assert response.reasoning == "Need weather." and response.finish_reason == "tool_calls"
    (call,) = response.tool_calls
    assert call.name == "get_weather" and call.arguments == {"city": "Oslo"} and call.id.startswith("call_")
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.total_tokens) == (30, 12, 42)
    assert response.provider_fields == {"eval_duration_ms": 2.0}


@pytest.mark.parametrize(
    "payload",
    [
        [1, 2],
        {"message": "text"},
        {"message": {"content": 3}, "done": True},
        {"message": {"tool_calls": [{"function": {}}]}, "done": True},
        {"message": {"tool_calls": [{"function": {"name": "f", "arguments": "{bad"}}]}, "done": True},
        {"message": {"content": "x"}, "done": True, "eval_count": "many"},
        {"message": {"content": "x"}, "done": False},
    ],
)
def test_malformed_answers_are_typed_errors(payload: object) -> None:
    with pytest.raises(MalformedResponseError):
        wire.parse_response(payload, provider="ollama", model="m")


def test_finish_reasons() -> None:
    assert wire.finish_reason("length", False) == "length"
    assert wire.finish_reason("stop", True) == "tool_calls"
    assert wire.finish_reason("unload", False) == "other"


@pytest.mark.parametrize(
    ("configured", "env", "expected"),
    [
        (None, {}, "http://127.0.0.1:11434"),
        ("", {"OLLAMA_HOST": "10.0.0.5:9999"}, "http://10.0.0.5:9999"),
        (None, {"OLLAMA_HOST": "gpu-box"}, "http://gpu-box:11434"),
        (None, {"OLLAMA_HOST": "https://ollama.example/"}, "https://ollama.example"),
        (None, {"OLLAMA_HOST": "[::1]"}, "http://[::1]:11434"),
        ("http://127.0.0.1:1234/", {"OLLAMA_HOST": "elsewhere:1"}, "http://127.0.0.1:1234"),
    ],
)
def test_base_url_from_ai_ollama_base_url_then_ollama_host(
    configured: str | None, env: dict[str, str], expected: str
) -> None:
    assert resolve_base_url(configured, env) == expected


def test_capabilities_come_from_show() -> None:
    caps = capabilities_from_show({"capabilities": ["completion", "vision", "thinking"]})
    assert (caps.tools, caps.vision, caps.reasoning, caps.json_schema) == (False, True, True, True)
    assert not capabilities_from_show({"capabilities": ["embedding"]}).json_schema
