"""End to end: ``AI(...).conversation().model("xai/...")`` against the local xAI-flavoured server."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from servers.fixtures import TEST_API_KEY
from servers.openai_compat import Completion, OpenAICompatServer, RawReply, Usage

from ai_core import AI, ReasoningDelta, RequestValidationError, StreamCompleted
from ai_core.errors import AuthenticationError, ContextLengthExceededError

pytestmark = pytest.mark.anyio

REPLY = Completion(
    text="4",
    reasoning="simple sum",
    usage=Usage(prompt_tokens=1_000, completion_tokens=600, cached_tokens=200, reasoning_tokens=500),
)
# grok-4.3: input 1.25, cached 0.20, output (reasoning included) 2.50 USD per million tokens
EXPECTED = (Decimal(800) * Decimal("1.25") + Decimal(200) * Decimal("0.20") + Decimal(600) * Decimal("2.50")) / 10**6


def make_ai(server: OpenAICompatServer) -> AI:
    return AI(
        persistence=False,
        providers={"xai": {"api_key": TEST_API_KEY, "base_url": server.base_url, "retry_attempts": 0}},
    )


async def test_reasoning_model_streams_and_is_priced(server: OpenAICompatServer) -> None:
    server.reply(REPLY, REPLY)
    async with make_ai(server) as ai:
        sent = await ai.conversation().model("xai/grok-4.3").user("2+2?").asend()
        events = [e async for e in ai.conversation().model("xai/grok-4.3").user("2+2?").astream()]
    streamed = events[-1].response
    assert isinstance(events[-1], StreamCompleted) and any(isinstance(e, ReasoningDelta) for e in events)
    assert sent.reasoning == streamed.reasoning == "simple sum"
    assert sent.usage == streamed.usage and sent.usage.output_tokens == 600
    assert sent.cost.total == streamed.cost.total == EXPECTED


async def test_retired_name_is_priced_as_grok_4_3(server: OpenAICompatServer) -> None:
    server.reply(Completion(text="4", usage=REPLY.usage, reasoning="r", model="grok-4.3"))
    async with make_ai(server) as ai:
        response = await ai.conversation().model("xai/grok-4-0709").user("2+2?").asend()
    assert response.model == "grok-4-0709" and response.cost.total == EXPECTED


async def test_rejected_parameters_never_leave_the_process(server: OpenAICompatServer) -> None:
    async with make_ai(server) as ai:
        with pytest.raises(RequestValidationError, match="stop"):
            await ai.conversation().model("xai/grok-4.3").stop("END").user("x").asend()
    assert server.requests == []


def xai_400(message: str) -> RawReply:
    """A 400 as xAI really sends it (../shared/specs/README.md, "xAI")."""
    body = {"code": "Client specified an invalid argument", "error": message}
    return RawReply(400, json.dumps(body).encode(), "application/json")


async def test_a_bad_key_is_an_authentication_error(server: OpenAICompatServer) -> None:
    server.reply(xai_400("Incorrect API key provided: xa***23. You can obtain an API key from https://console.x.ai."))
    async with make_ai(server) as ai:
        with pytest.raises(AuthenticationError, match="Incorrect API key provided") as caught:
            await ai.conversation().model("xai/grok-4.3").user("hi").asend()
    assert caught.value.status_code == 400


async def test_a_prompt_too_long_is_a_context_length_error(server: OpenAICompatServer) -> None:
    server.reply(xai_400("This model's maximum prompt length is 131072 but the request contains 150000 tokens."))
    async with make_ai(server) as ai:
        with pytest.raises(ContextLengthExceededError, match="maximum prompt length"):
            await ai.conversation().model("xai/grok-3-mini").user("a very long prompt").asend()


async def test_grok_3_mini_takes_medium_effort(server: OpenAICompatServer) -> None:
    server.reply(Completion(text="4", reasoning="sum", usage=REPLY.usage, model="grok-3-mini-high"))
    async with make_ai(server) as ai:
        reply = await ai.conversation().model("xai/grok-3-mini").reasoning_effort("medium").user("2+2?").asend()
    assert server.last_body["reasoning_effort"] == "medium"
    assert reply.model == "grok-3-mini" and reply.provider_fields["served_model"] == "grok-3-mini-high"
    # priced as grok-3-mini (input 0.30, cached 0.075, output 0.50 USD per million tokens)
    expected = (
        Decimal(800) * Decimal("0.30") + Decimal(200) * Decimal("0.075") + Decimal(600) * Decimal("0.50")
    ) / 10**6
    assert reply.cost.total == expected
