"""The Gemini driver against the local Generative Language server: mapping, results, errors, models.

Every request body in these tests is validated against the discovery document when
the test ends (the ``gemini_server`` fixture), and so is everything the server sent.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from gemini.double import gemini_config
from servers.gemini_server import Answer, GeminiServer, Refusal

from ai_core import errors
from ai_core.types import (
    ChatRequest,
    ImagePart,
    Message,
    ReasoningDelta,
    ReasoningPart,
    ResponseFormat,
    StreamCompleted,
    TextDelta,
    ToolCallDelta,
    ToolCallPart,
    ToolSpec,
    UsageReported,
)

pytestmark = pytest.mark.anyio

WEATHER = ToolSpec(
    name="get_weather",
    description="Weather for a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
TIME = ToolSpec(name="get_time", description="Local time.", parameters={"type": "object", "properties": {}})
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def request(text: str = "hello", model: str = "gemini-2.5-flash", **fields: Any) -> ChatRequest:
    messages = fields.pop("messages", None) or [Message.user(text)]
    return ChatRequest(provider="gemini", model=model, messages=messages, **fields)


async def collect(driver: Any, req: ChatRequest) -> list[Any]:
    return [event async for event in driver.stream(req)]


def final(events: list[Any]) -> Any:
    assert isinstance(events[-1], StreamCompleted)
    return events[-1].response


# -- request mapping -------------------------------------------------------------------


async def test_the_request_in_gemini_terms(driver: Any, gemini_server: GeminiServer) -> None:
    req = request(
        messages=[
            Message.system("Extra rule."),
            Message.user("first"),
            Message.assistant("answer"),
            Message.user("hello", images=[ImagePart(data=PNG, media_type="image/png")]),
        ],
        system="Be terse.",
        temperature=0.3,
        top_p=0.9,
        max_tokens=100,
        stop=["END"],
        seed=7,
        tools=[WEATHER],
        tool_choice="get_weather",
        provider_options={
            "safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}],
            "top_k": 20,
        },
    )
    await driver.send(req)
    body = gemini_server.received("hello")
    assert body is not None
    assert body["systemInstruction"] == {"parts": [{"text": "Be terse.\n\nExtra rule."}]}
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["contents"][2]["parts"][1] == {
        "inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}
    }
    assert body["generationConfig"] == {
        "temperature": 0.3,
        "topP": 0.9,
        "maxOutputTokens": 100,
        "stopSequences": ["END"],
        "seed": 7,
        "topK": 20,
    }
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather for a city.",
                    "parametersJsonSchema": WEATHER.parameters,
                }
            ]
        }
    ]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}}
    assert body["safetySettings"] == [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}]


async def test_image_urls_and_data_urls(driver: Any, gemini_server: GeminiServer) -> None:
    images = [ImagePart(url="https://example.com/cat.webp"), ImagePart(url="data:image/png;base64,AAAA")]
    await driver.send(request(messages=[Message.user("look", images=images)]))
    parts = gemini_server.received("look")["contents"][0]["parts"]  # type: ignore[index]
    assert parts[1] == {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/cat.webp"}}
    assert parts[2] == {"inlineData": {"mimeType": "image/png", "data": "AAAA"}}


async def test_structured_output_sends_the_json_schema(driver: Any, gemini_server: GeminiServer) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    gemini_server.arrange("city?", Answer(text='{"city": "Paris"}'))
    response = await driver.send(request("city?", response_format=ResponseFormat(json_schema=schema)))
    assert json.loads(response.text) == {"city": "Paris"}
    config = gemini_server.received("city?")["generationConfig"]  # type: ignore[index]
    assert config == {"responseMimeType": "application/json", "responseJsonSchema": schema}


@pytest.mark.parametrize(
    ("model", "effort", "expected"),
    [
        ("gemini-2.5-flash", "none", {"thinkingBudget": 0, "includeThoughts": False}),
        ("gemini-2.5-flash", "high", {"thinkingBudget": 24576, "includeThoughts": True}),
        ("gemini-2.5-flash", "max", {"thinkingBudget": 24576, "includeThoughts": True}),
        ("gemini-2.5-pro", "none", {"thinkingBudget": 128, "includeThoughts": False}),
        ("gemini-2.5-flash-lite", "none", {"thinkingBudget": 0, "includeThoughts": False}),
        ("gemini-2.5-pro", "max", {"thinkingBudget": 32768, "includeThoughts": True}),
        ("gemini-2.5-flash-lite", "minimal", {"thinkingBudget": 512, "includeThoughts": True}),
        ("gemini-3-pro-preview", "low", {"thinkingLevel": "LOW", "includeThoughts": True}),
        ("gemini-3-pro-preview", "medium", {"thinkingLevel": "HIGH", "includeThoughts": True}),
        ("gemini-3.8-flash", "medium", {"thinkingLevel": "MEDIUM", "includeThoughts": True}),
        ("gemini-flash-latest", "none", {"thinkingLevel": "MINIMAL", "includeThoughts": False}),
    ],
)
async def test_reasoning_effort_as_thinking_config(
    driver: Any, gemini_server: GeminiServer, model: str, effort: str, expected: dict[str, Any]
) -> None:
    if not any(m["name"] == f"models/{model}" for m in gemini_server.models):
        gemini_server.models.append({"name": f"models/{model}", "supportedGenerationMethods": ["generateContent"]})
    await driver.send(request("think", model=model, reasoning_effort=effort))
    assert gemini_server.received("think")["generationConfig"]["thinkingConfig"] == expected  # type: ignore[index]


async def test_models_that_do_not_think_get_no_thinking_config(driver: Any, gemini_server: GeminiServer) -> None:
    await driver.send(request("think", model="gemini-2.0-flash", reasoning_effort="high"))
    assert "generationConfig" not in gemini_server.received("think")  # type: ignore[operator]


async def test_base_url_may_end_in_v1beta(gemini_server: GeminiServer) -> None:
    from ai_gemini.driver import GeminiDriver

    driver = GeminiDriver(gemini_config(gemini_server, base_url=gemini_server.base_url + "/v1beta/"))
    try:
        assert (await driver.send(request("root"))).text == "Echo: root"
    finally:
        await driver.aclose()
    assert gemini_server.requests[-1].path == "/v1beta/models/gemini-2.5-flash:generateContent"


async def test_the_key_travels_in_the_header_only(driver: Any, gemini_server: GeminiServer) -> None:
    await driver.send(request())
    await collect(driver, request("streamed"))
    for received in gemini_server.requests:
        assert received.headers["x-goog-api-key"] == "AIza-test-0123456789abcdef"
        assert "key" not in received.query and "authorization" not in received.headers


async def test_a_missing_key_fails_before_sending(gemini_server: GeminiServer) -> None:
    from ai_gemini.driver import GeminiDriver

    driver = GeminiDriver(gemini_config(gemini_server, key=""))
    with pytest.raises(errors.MissingCredentialsError, match="GEMINI_API_KEY"):
        await driver.send(request())
    assert gemini_server.requests == []


# -- answers ---------------------------------------------------------------------------


async def test_thoughts_are_reasoning_and_billed_as_output(driver: Any, gemini_server: GeminiServer) -> None:
    answer = Answer(text="Four.", thoughts="Two plus two is four.", usage={"cached": 3, "tool_use": 2})
    gemini_server.arrange("2+2?", answer, answer)
    sent = await driver.send(request("2+2?", reasoning_effort="low"))
    assert sent.text == "Four." and sent.reasoning == "Two plus two is four."
    prompt = gemini_server.received("2+2?")
    usage = sent.usage
    assert usage.reasoning_tokens == 5 and usage.output_tokens == 1 + 5
    assert usage.cached_input_tokens == 3 and usage.input_tokens > 3
    events = await collect(driver, request("2+2?", reasoning_effort="low"))
    assert [e.text for e in events if isinstance(e, ReasoningDelta)] == ["Two plus two is four."]
    streamed = final(events)
    assert streamed.usage == sent.usage and streamed.message == sent.message
    assert prompt is not None


async def test_several_function_calls_in_one_turn(driver: Any, gemini_server: GeminiServer) -> None:
    calls = [{"name": "get_weather", "args": {"city": "Paris"}}, {"name": "get_time", "args": {}}]
    gemini_server.arrange("both", Answer(calls=calls), Answer(calls=calls))
    sent = await driver.send(request("both", tools=[WEATHER, TIME]))
    assert [(c.name, c.arguments) for c in sent.tool_calls] == [("get_weather", {"city": "Paris"}), ("get_time", {})]
    assert sent.finish_reason == "tool_calls"
    assert len({c.id for c in sent.tool_calls}) == 2
    events = await collect(driver, request("both", tools=[WEATHER, TIME]))
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert [(d.index, d.name) for d in deltas] == [(0, "get_weather"), (1, "get_time")]
    assert final(events).tool_calls == sent.tool_calls


async def test_function_results_and_signatures_go_back(driver: Any, gemini_server: GeminiServer) -> None:
    """A thought signature Gemini sent with a call returns with it; results carry the function's name."""
    gemini_server.arrange(
        "weather?",
        Answer(calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "fc-1"}], signature="c2lnbmF0dXJl"),
    )
    first = await driver.send(request("weather?", model="gemini-3-pro-preview", tools=[WEATHER]))
    assert isinstance(first.message.parts[0], ReasoningPart) and first.message.parts[0].signature == "c2lnbmF0dXJl"
    history = [Message.user("weather?"), first.message, Message.tool_result("fc-1", "sunny")]
    again = await driver.send(request(messages=history, model="gemini-3-pro-preview", tools=[WEATHER]))
    assert again.text == "The tool said: sunny"
    model_turn, result_turn = gemini_server.generate_bodies[-1]["contents"][1:]
    assert model_turn == {
        "role": "model",
        "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}, "id": "fc-1"},
                   "thoughtSignature": "c2lnbmF0dXJl"}],
    }  # fmt: skip
    assert result_turn["parts"] == [
        {"functionResponse": {"name": "get_weather", "response": {"result": "sunny"}, "id": "fc-1"}}
    ]


async def test_a_call_from_another_provider_gets_the_placeholder_signature_on_gemini_3(
    driver: Any, gemini_server: GeminiServer
) -> None:
    call = ToolCallPart(id="call_abc", name="get_weather", arguments={"city": "Oslo"})
    history = [Message.user("oslo"), Message(role="assistant", parts=[call]), Message.tool_result("call_abc", "cold")]
    await driver.send(request(messages=history, model="gemini-3-pro-preview", tools=[WEATHER]))
    part = gemini_server.generate_bodies[-1]["contents"][1]["parts"][0]
    assert part["thoughtSignature"] == "skip_thought_signature_validator"
    await driver.send(request(messages=history, model="gemini-2.5-flash", tools=[WEATHER]))
    assert "thoughtSignature" not in gemini_server.generate_bodies[-1]["contents"][1]["parts"][0]


@pytest.mark.parametrize(
    ("reason", "finish"),
    [("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("RECITATION", "content_filter"),
     ("MALFORMED_FUNCTION_CALL", "error"), ("LANGUAGE", "other"), ("SOMETHING_NEW", "other")],
)  # fmt: skip
@pytest.mark.parametrize("streamed", [False, True], ids=["send", "stream"])
async def test_finish_reasons(
    driver: Any, gemini_server: GeminiServer, reason: str, finish: str, streamed: bool
) -> None:
    gemini_server.off_spec = reason == "SOMETHING_NEW"
    gemini_server.arrange("cut", Answer(text="partial words here", finish_reason=reason))
    req = request("cut")
    response = final(await collect(driver, req)) if streamed else await driver.send(req)
    assert response.finish_reason == finish and response.text == "partial words here"
    assert response.provider_fields["finish_reason"] == reason


@pytest.mark.parametrize("streamed", [False, True], ids=["send", "stream"])
async def test_a_blocked_prompt_is_a_content_filtered_error(
    driver: Any, gemini_server: GeminiServer, streamed: bool
) -> None:
    gemini_server.arrange("bad", Answer(block_reason="SAFETY"))
    events: list[Any] = []
    with pytest.raises(errors.ContentFilteredError, match=r"prompt was blocked.*SAFETY") as caught:
        if streamed:
            async for event in driver.stream(request("bad")):
                events.append(event)
        else:
            await driver.send(request("bad"))
    assert caught.value.code == "SAFETY"
    assert events == []  # nothing delivered, and no usage passed on: the same as send


@pytest.mark.parametrize("streamed", [False, True], ids=["send", "stream"])
async def test_an_answer_stopped_for_safety_with_nothing_in_it_is_an_error(
    driver: Any, gemini_server: GeminiServer, streamed: bool
) -> None:
    gemini_server.arrange("risky", Answer(finish_reason="SAFETY"))
    with pytest.raises(errors.ContentFilteredError, match="SAFETY"):
        await (collect(driver, request("risky")) if streamed else driver.send(request("risky")))


async def test_unknown_fields_are_ignored(driver: Any, gemini_server: GeminiServer) -> None:
    gemini_server.off_spec = True  # real answers carry more than the document lists
    extra = {"futureField": {"x": 1}, "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1,
                                                        "trafficType": "ON_DEMAND", "newDetails": [1]}}  # fmt: skip
    gemini_server.arrange("new", Answer(text="fine", extra=extra))
    response = await driver.send(request("new"))
    assert response.text == "fine" and response.usage.input_tokens == 3 and response.usage.output_tokens == 1


async def test_count_tokens(driver: Any, gemini_server: GeminiServer) -> None:
    assert await driver.count_tokens(request("one two three", system="be kind")) == 1 + 3 + 2


# -- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("refusal", "error", "status"),
    [
        (Refusal.of(400, "Invalid value at 'contents'"), errors.InvalidRequestError, 400),
        (Refusal.bad_key(), errors.AuthenticationError, 400),
        (Refusal.of(403, "Permission denied"), errors.PermissionDeniedError, 403),
        (Refusal.of(404, "models/nope is not found"), errors.NotFoundError, 404),
        (Refusal.of(500, "Internal error"), errors.ProviderUnavailableError, 500),
        (Refusal.of(503, "The model is overloaded."), errors.ProviderUnavailableError, 503),
        (Refusal.too_long(), errors.ContextLengthExceededError, 400),
    ],
)
@pytest.mark.parametrize("streamed", [False, True], ids=["send", "stream"])
async def test_google_errors_are_typed(
    driver: Any, gemini_server: GeminiServer, refusal: Refusal, error: type[Exception], status: int, streamed: bool
) -> None:
    gemini_server.arrange("fail", refusal)
    with pytest.raises(error) as caught:
        await (collect(driver, request("fail")) if streamed else driver.send(request("fail")))
    assert type(caught.value) is error
    assert caught.value.status_code == status  # type: ignore[attr-defined]
    assert caught.value.body == refusal.body()  # type: ignore[attr-defined]


async def test_rate_limit_waits_as_retry_info_says(driver: Any, gemini_server: GeminiServer) -> None:
    gemini_server.arrange("busy", Refusal.rate_limited("12.5s"))
    with pytest.raises(errors.RateLimitError) as caught:
        await driver.send(request("busy"))
    assert caught.value.retry_after == 12.5 and caught.value.code == "RESOURCE_EXHAUSTED"
    gemini_server.arrange("busy", Refusal(429, "RESOURCE_EXHAUSTED", "slow down", retry_after_header="3"))
    with pytest.raises(errors.RateLimitError) as caught:
        await driver.send(request("busy"))
    assert caught.value.retry_after == 3.0


async def test_a_bad_key_is_an_authentication_error_and_invalid_credentials(gemini_server: GeminiServer) -> None:
    from ai_gemini.driver import GeminiDriver

    driver = GeminiDriver(gemini_config(gemini_server, key="bad-key"))
    try:
        with pytest.raises(errors.AuthenticationError, match="API key not valid") as caught:
            await driver.send(request())
        assert caught.value.code == "API_KEY_INVALID"
        assert "bad-key" not in str(caught.value) and "bad-key" not in repr(caught.value.body)
        assert await driver.validate_credentials() is False
    finally:
        await driver.aclose()


async def test_an_unknown_model_is_not_found(driver: Any) -> None:
    with pytest.raises(errors.NotFoundError, match="is not found for API version v1beta"):
        await driver.send(request(model="gemini-0-nope"))


async def test_a_stream_cut_mid_way(driver: Any, gemini_server: GeminiServer) -> None:
    gemini_server.arrange("long", Answer(text="one two three four five", fault="cut", fault_after=2))
    events: list[Any] = []
    with pytest.raises(errors.StreamInterruptedError):
        async for event in driver.stream(request("long")):
            events.append(event)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "one two"
    reported = [e.usage for e in events if isinstance(e, UsageReported)]
    assert reported and reported[-1].output_tokens == 2 and reported[-1].input_tokens > 0


async def test_a_malformed_chunk(driver: Any, gemini_server: GeminiServer) -> None:
    gemini_server.arrange("garbled", Answer(text="one two three", fault="malformed", fault_after=1))
    with pytest.raises(errors.MalformedResponseError, match="bad stream chunk"):
        await collect(driver, request("garbled"))


async def test_an_error_chunk_mid_stream(driver: Any, gemini_server: GeminiServer) -> None:
    gemini_server.arrange("busy", Answer(text="one two three", fault="error", error=Refusal.rate_limited("4s")))
    with pytest.raises(errors.RateLimitError) as caught:
        await collect(driver, request("busy"))
    assert caught.value.retry_after == 4.0


# -- models ----------------------------------------------------------------------------


async def test_models_are_listed_page_by_page(driver: Any, gemini_server: GeminiServer) -> None:
    gemini_server.page_size = 2
    from ai_gemini import driver as driver_module

    page_size = driver_module.PAGE_SIZE
    driver_module.PAGE_SIZE = 2
    try:
        models = await driver.list_models()
    finally:
        driver_module.PAGE_SIZE = page_size
        gemini_server.page_size = 3
    ids = [m.id for m in models]
    assert ids == ["gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-lite", "gemini-2.0-flash",
                   "gemini-3-pro-preview"]  # fmt: skip
    tokens = [r.query.get("pageToken") for r in gemini_server.requests if r.path == "/v1beta/models"]
    assert tokens == [None, ["2"], ["4"]]
    pro = next(m for m in models if m.id == "gemini-2.5-pro")
    assert pro.context_window == 1048576 and pro.max_output_tokens == 65536 and pro.reasoning


def test_the_default_server_root() -> None:
    from ai_core import ProviderConfig
    from ai_gemini.driver import GeminiDriver

    assert GeminiDriver(ProviderConfig(provider="gemini")).base_url == "https://generativelanguage.googleapis.com"
    configured = ProviderConfig(provider="gemini", base_url="https://proxy.example/gemini/v1beta/")
    assert GeminiDriver(configured).base_url == "https://proxy.example/gemini"
