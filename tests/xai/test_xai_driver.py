"""The xAI driver against a local server speaking xAI's flavour of Chat Completions.

What differs from OpenAI (../shared/specs/README.md, "xAI"): reasoning_content,
chunks without finish_reason, reasoning tokens on top of completion tokens,
extra usage fields, parameters reasoning models refuse, retired Live Search,
max_completion_tokens, retired model names served by grok-4.3.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from servers.fixtures import driver_config
from servers.openai_compat import Completion, ErrorReply, Fault, OpenAICompatServer, RawReply, ToolCall, Usage

from ai_core import errors
from ai_core.types import ChatRequest, Message, ReasoningDelta, StreamCompleted, TextDelta, ToolCallPart, ToolSpec
from ai_xai.driver import XAIDriver

pytestmark = pytest.mark.anyio


def request(**kwargs: Any) -> ChatRequest:
    values: dict[str, Any] = {"provider": "xai", "model": "grok-4.3", "messages": [Message.user("Hi")]}
    values.update(kwargs)
    return ChatRequest(**values)


async def collect(driver: XAIDriver, req: ChatRequest) -> tuple[list[Any], Any]:
    events = [event async for event in driver.stream(req)]
    assert isinstance(events[-1], StreamCompleted)
    return events[:-1], events[-1].response


REASONED = Completion(
    text="The answer is 4.",
    reasoning="2 plus 2 is 4, the user wants a short answer.",
    usage=Usage(prompt_tokens=40, completion_tokens=130, cached_tokens=8, reasoning_tokens=120),
    chunk_size=6,
)


async def test_reasoning_content_is_kept(driver: XAIDriver, server: OpenAICompatServer) -> None:
    server.reply(REASONED, REASONED)
    whole = await driver.send(request())
    events, streamed = await collect(driver, request())
    assert whole.reasoning == streamed.reasoning == REASONED.reasoning
    assert whole.text == streamed.text == "The answer is 4."
    kinds = [type(e) for e in events if isinstance(e, ReasoningDelta | TextDelta)]
    assert kinds[0] is ReasoningDelta and kinds[-1] is TextDelta  # reasoning streams first
    assert streamed == whole


async def test_reasoning_tokens_reported_on_top_are_counted_as_output(
    driver: XAIDriver, server: OpenAICompatServer
) -> None:
    server.reply(REASONED, REASONED)
    whole = await driver.send(request())
    _, streamed = await collect(driver, request())
    for response in (whole, streamed):
        usage = response.usage
        # the server said completion_tokens=10, reasoning_tokens=120, total=170
        assert (usage.input_tokens, usage.cached_input_tokens) == (40, 8)
        assert (usage.output_tokens, usage.reasoning_tokens, usage.total_tokens) == (130, 120, 170)
        extra = response.provider_fields["usage"]
        assert extra["cost_in_usd_ticks"] == 170_000
        assert extra["prompt_tokens_details"]["text_tokens"] == 40


async def test_chunks_without_finish_reason_and_region_ids(driver: XAIDriver, server: OpenAICompatServer) -> None:
    server.reply(Completion(text="abc" * 10, chunk_size=3))
    _, response = await collect(driver, request())
    assert response.text == "abc" * 10 and response.finish_reason == "stop"
    assert response.id == "chatcmpl-test0001_us-east-1"
    assert "finish_reason" not in server.sent[1][1]["choices"][0]  # the server really omitted it


async def test_streamed_tool_calls(driver: XAIDriver, server: OpenAICompatServer) -> None:
    tool = ToolSpec(name="lookup", parameters={"type": "object", "properties": {"q": {"type": "string"}}})
    server.reply(
        Completion(text="", reasoning="need a lookup", tool_calls=[ToolCall("lookup", {"q": "grok"}, id="c1")])
    )
    _, response = await collect(driver, request(tools=[tool]))
    assert response.tool_calls == [ToolCallPart(id="c1", name="lookup", arguments={"q": "grok"})]
    assert response.reasoning == "need a lookup"


async def test_max_completion_tokens_and_system_role(driver: XAIDriver, server: OpenAICompatServer) -> None:
    await driver.send(request(system="Be terse.", max_tokens=300, reasoning_effort="low"))
    body = server.last_body
    assert body["max_completion_tokens"] == 300 and "max_tokens" not in body
    assert body["messages"][0] == {"role": "system", "content": "Be terse."}
    assert body["reasoning_effort"] == "low"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"stop": ["END"]}, "stop"),
        ({"provider_options": {"presence_penalty": 0.5}}, "presence_penalty"),
        ({"provider_options": {"frequency_penalty": 0.5}}, "frequency_penalty"),
    ],
)
@pytest.mark.parametrize("model", ["grok-4.3", "grok-3-mini", "grok-4-0709"])
async def test_reasoning_models_never_get_rejected_parameters(
    driver: XAIDriver, server: OpenAICompatServer, kwargs: dict[str, Any], field: str, model: str
) -> None:
    with pytest.raises(errors.RequestValidationError, match=field) as caught:
        await driver.send(request(model=model, **kwargs))
    assert caught.value.errors[0]["loc"] == [field]
    with pytest.raises(errors.RequestValidationError):
        await collect(driver, request(model=model, **kwargs))
    assert server.requests == []  # refused before anything was sent


async def test_non_reasoning_models_take_stop(driver: XAIDriver, server: OpenAICompatServer) -> None:
    await driver.send(request(model="grok-4-1-fast-non-reasoning", stop=["END"]))
    assert server.last_body["stop"] == ["END"]


async def test_live_search_is_never_sent(driver: XAIDriver, server: OpenAICompatServer) -> None:
    with pytest.raises(errors.RequestValidationError, match="Agent Tools API"):
        await driver.send(request(provider_options={"search_parameters": {"mode": "auto"}}))
    assert server.requests == []


@pytest.mark.parametrize(
    ("model", "effort", "ok"),
    [
        ("grok-4.3", "none", True),
        ("grok-4.3", "high", True),
        ("grok-4.3", "xhigh", False),
        ("grok-3-mini", "high", True),
        ("grok-3-mini", "medium", True),  # documented low|high, but the API serves it (as grok-3-mini-high)
        ("grok-3-mini", "xhigh", False),
    ],
)
async def test_reasoning_effort_values(
    driver: XAIDriver, server: OpenAICompatServer, model: str, effort: str, ok: bool
) -> None:
    if ok:
        await driver.send(request(model=model, reasoning_effort=effort))
        assert server.last_body["reasoning_effort"] == effort
    else:
        with pytest.raises(errors.RequestValidationError, match="reasoning_effort"):
            await driver.send(request(model=model, reasoning_effort=effort))


async def test_grok_3_mini_medium_effort_is_sent_and_served_high(driver: XAIDriver, server: OpenAICompatServer) -> None:
    # Recorded real traffic: grok-3-mini answers 200 to "medium", served by grok-3-mini-high.
    served = Completion(text="4", reasoning="sum", model="grok-3-mini-high")
    server.reply(served, served)
    whole = await driver.send(request(model="grok-3-mini", reasoning_effort="medium"))
    _, streamed = await collect(driver, request(model="grok-3-mini", reasoning_effort="medium"))
    assert [body["reasoning_effort"] for body in server.chat_bodies] == ["medium", "medium"]
    for response in (whole, streamed):
        assert response.model == "grok-3-mini"  # priced under the name asked for
        assert response.provider_fields["served_model"] == "grok-3-mini-high"


async def test_retired_model_name_served_by_grok_4_3(driver: XAIDriver, server: OpenAICompatServer) -> None:
    server.reply(Completion(text="hi", model="grok-4.3"))
    response = await driver.send(request(model="grok-4-1-fast-reasoning"))
    assert response.model == "grok-4-1-fast-reasoning"  # priced under the name asked for...
    assert response.provider_fields["served_model"] == "grok-4.3"  # ...which the catalogue prices as grok-4.3


async def test_list_models_skips_image_models(driver: XAIDriver, server: OpenAICompatServer) -> None:
    models = await driver.list_models()
    assert [m.id for m in models] == ["grok-3-mini", "grok-4.3"]
    assert all(m.reasoning for m in models)
    assert server.requests[-1].path == "/v1/models"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (ErrorReply.unauthorized(), errors.AuthenticationError),
        (ErrorReply.rate_limited(retry_after=4), errors.RateLimitError),
        (
            ErrorReply(410, "Live search is deprecated. Please switch to the Agent Tools API", "invalid_request_error"),
            errors.ProviderError,
        ),
        (ErrorReply.unavailable(), errors.ProviderUnavailableError),
    ],
)
async def test_errors_are_typed(
    driver: XAIDriver, server: OpenAICompatServer, reply: ErrorReply, expected: type[Exception]
) -> None:
    server.reply(reply)
    with pytest.raises(expected) as caught:
        await driver.send(request())
    assert caught.value.provider == "xai" and caught.value.status_code == reply.status


async def test_stream_faults(driver: XAIDriver, server: OpenAICompatServer) -> None:
    server.reply(Completion(text="x" * 50, chunk_size=5, fault=Fault.cut_off(after=3)))
    with pytest.raises(errors.StreamInterruptedError):
        await collect(driver, request())
    server.reply(Completion(text="x" * 50, chunk_size=5, fault=Fault.error_event(after=2)))
    with pytest.raises(errors.ProviderUnavailableError):
        await collect(driver, request())


# What xAI really answers (../shared/specs/README.md, "xAI", recorded traffic): a bad key and a
# context overflow are both HTTP 400, with a body that is not OpenAI's ErrorResponse.
BAD_KEY = "Incorrect API key provided: xa***23. You can obtain an API key from https://console.x.ai."
TOO_LONG = "This model's maximum prompt length is 131072 but the request contains 150000 tokens."


def xai_error(message: str, status: int = 400) -> RawReply:
    body = {"code": "Client specified an invalid argument", "error": message}
    return RawReply(status, json.dumps(body).encode(), "application/json")


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (xai_error(BAD_KEY), errors.AuthenticationError),
        (xai_error(TOO_LONG), errors.ContextLengthExceededError),
        (ErrorReply(400, BAD_KEY, "invalid_request_error"), errors.AuthenticationError),
        (ErrorReply(400, TOO_LONG, "invalid_request_error"), errors.ContextLengthExceededError),
    ],
    ids=["bad-key", "too-long", "bad-key-openai-shape", "too-long-openai-shape"],
)
async def test_xai_400s_are_typed_by_what_they_say(
    driver: XAIDriver, server: OpenAICompatServer, reply: RawReply | ErrorReply, expected: type[errors.ProviderError]
) -> None:
    server.reply(reply, reply)
    with pytest.raises(expected) as sent:
        await driver.send(request())
    with pytest.raises(expected) as streamed:
        await collect(driver, request())
    for caught in (sent, streamed):
        error = caught.value
        assert (error.provider, error.status_code) == ("xai", 400)  # the status stays what xAI sent
        message = reply.message if isinstance(reply, ErrorReply) else json.loads(reply.body)["error"]
        assert error.message == f"xai: {message}"


async def test_other_xai_400s_stay_invalid_requests(driver: XAIDriver, server: OpenAICompatServer) -> None:
    server.reply(xai_error("Argument not supported: logit_bias"))
    with pytest.raises(errors.InvalidRequestError) as caught:
        await driver.send(request())
    assert type(caught.value) is errors.InvalidRequestError


async def test_a_more_specific_status_is_not_retyped(driver: XAIDriver, server: OpenAICompatServer) -> None:
    # A 429 that happens to mention a key is still a rate limit: only a bare 400 is read for its meaning.
    server.reply(ErrorReply(429, "Too many requests with this API key. Incorrect API key provided?", "requests"))
    with pytest.raises(errors.RateLimitError):
        await driver.send(request())


@pytest.mark.parametrize(
    ("message", "expected"),
    [(BAD_KEY, errors.AuthenticationError), (TOO_LONG, errors.ContextLengthExceededError)],
    ids=["bad-key", "too-long"],
)
async def test_the_same_errors_inside_a_stream(
    driver: XAIDriver, server: OpenAICompatServer, message: str, expected: type[errors.ProviderError]
) -> None:
    fault = Fault.error_event(after=1, error=ErrorReply(400, message, "invalid_request_error"))
    server.reply(Completion(text="x" * 20, chunk_size=5, fault=fault))
    with pytest.raises(expected):
        await collect(driver, request())


async def test_a_200_body_with_xai_shaped_error_is_typed(driver: XAIDriver, server: OpenAICompatServer) -> None:
    # A bare string "error" with no status anywhere: the message is all there is to go on.
    server.reply(xai_error(BAD_KEY, status=200))
    with pytest.raises(errors.AuthenticationError):
        await driver.send(request())


async def test_validate_credentials_reads_xais_400_as_a_rejected_key(server: OpenAICompatServer) -> None:
    # The local server answers GET /models itself, so this one answer comes from a MockTransport.
    from ai_core.drivers.http import MockTransport, Request, Response

    def handler(request: Request) -> Response:
        return Response(400, json={"code": "Client specified an invalid argument", "error": BAD_KEY})

    driver = XAIDriver(driver_config(server, provider="xai", transport=MockTransport(handler)))
    try:
        assert await driver.validate_credentials() is False
    finally:
        await driver.aclose()
