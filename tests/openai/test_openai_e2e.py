"""End to end: ``AI(...).conversation().model("openai/...")`` against the local server.

The whole pipeline runs (plugin discovery, settings, middleware, the driver,
response processing, pricing from the plugin's price table), with the key and
base URL given per ``AI`` instance or through the environment.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel
from servers.fixtures import TEST_API_KEY
from servers.openai_compat import Completion, ErrorReply, OpenAICompatServer, RecordedRequest, ToolCall, Usage

from ai_core import AI, AuthenticationError, ImagePart, StreamCompleted, TextDelta

pytestmark = pytest.mark.anyio

USAGE = Usage(prompt_tokens=10_000, completion_tokens=2_000, cached_tokens=4_000)
# gpt-4o-mini since 2024-10-01: input 0.15, cached 0.075, output 0.60 USD per million tokens
EXPECTED_COST = (
    Decimal(6_000) * Decimal("0.15") + Decimal(4_000) * Decimal("0.075") + Decimal(2_000) * Decimal("0.60")
) / Decimal(10**6)


def make_ai(server: OpenAICompatServer, **settings: Any) -> AI:
    provider = {"api_key": TEST_API_KEY, "base_url": server.base_url, "retry_attempts": 0, **settings}
    return AI(persistence=False, providers={"openai": provider})


async def test_send_is_priced_from_the_plugin_table(server: OpenAICompatServer) -> None:
    server.reply(Completion(text="Hello!", usage=USAGE))
    async with make_ai(server) as ai:
        response = await ai.conversation().model("openai/gpt-4o-mini").system("Be brief.").user("hi").asend()
    assert response.text == "Hello!"
    assert response.cost is not None and response.cost.total == EXPECTED_COST
    assert response.cost.price_effective_from.isoformat() == "2024-10-01"
    assert server.last_body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]


async def test_stream_costs_exactly_what_send_costs(server: OpenAICompatServer) -> None:
    server.reply(
        Completion(text="Same answer both ways.", usage=USAGE, chunk_size=3),
        Completion(text="Same answer both ways.", usage=USAGE),
    )
    async with make_ai(server) as ai:
        events = [e async for e in ai.conversation().model("openai/gpt-4o-mini").user("hi").astream()]
        sent = await ai.conversation().model("openai/gpt-4o-mini").user("hi").asend()
    streamed = events[-1].response
    assert isinstance(events[-1], StreamCompleted)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == streamed.text
    assert streamed.usage == sent.usage and streamed.cost.total == sent.cost.total == EXPECTED_COST


def test_sync_facade(server: OpenAICompatServer) -> None:
    server.reply(Completion(text="sync works", usage=USAGE))
    with make_ai(server) as ai:
        response = ai.conversation().model("openai/gpt-4o-mini").temperature(0.1).max_tokens(50).user("hi").send()
    assert response.text == "sync works" and response.cost.total == EXPECTED_COST
    assert server.last_body["max_completion_tokens"] == 50 and server.last_body["temperature"] == 0.1


class City(BaseModel):
    name: str
    population: int


async def test_structured_output_parsed_into_a_model(server: OpenAICompatServer) -> None:
    server.reply(Completion(text=json.dumps({"name": "Paris", "population": 2102650})))
    async with make_ai(server) as ai:
        response = await ai.conversation().model("openai/gpt-4o-mini").output(City).user("Biggest French city?").asend()
    assert response.parsed == City(name="Paris", population=2102650)
    assert server.last_body["response_format"]["type"] == "json_schema"


async def test_tool_loop_through_the_pipeline(server: OpenAICompatServer) -> None:
    def get_weather(city: str) -> str:
        """Current weather for a city."""
        return f"18C in {city}"

    def answer(request: RecordedRequest) -> Completion:
        messages = request.json["messages"]
        if messages[-1]["role"] == "tool":
            return Completion(text=f"It says: {messages[-1]['content']}")
        return Completion(text="", tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="call_1")])

    server.handler = answer
    async with make_ai(server) as ai:
        response = await ai.conversation().model("openai/gpt-4o-mini").tools([get_weather]).user("Weather?").asend()
        streamed = [
            e
            async for e in ai.conversation().model("openai/gpt-4o-mini").tools([get_weather]).user("Weather?").astream()
        ]
    assert response.text == "It says: 18C in Paris"
    assert streamed[-1].response.text == "It says: 18C in Paris"
    assert len(server.chat_bodies) == 4
    assert server.chat_bodies[1]["messages"][-2]["tool_calls"][0]["function"]["name"] == "get_weather"


async def test_image_input(server: OpenAICompatServer) -> None:
    async with make_ai(server) as ai:
        await (
            ai.conversation()
            .model("openai/gpt-4o")
            .user("What is this?", images=[ImagePart(data=b"GIF89a", media_type="image/gif")])
            .asend()
        )
    assert server.last_body["messages"][0]["content"][1]["image_url"]["url"] == "data:image/gif;base64,R0lGODlh"


async def test_provider_options_reach_the_wire(server: OpenAICompatServer) -> None:
    async with make_ai(server) as ai:
        await (
            ai.conversation()
            .model("openai/gpt-4o-mini")
            .option("service_tier", "flex")
            .seed(3)
            .stop("END")
            .user("x")
            .asend()
        )
    body = server.last_body
    assert body["service_tier"] == "flex" and body["seed"] == 3 and body["stop"] == ["END"]


async def test_errors_come_out_typed(server: OpenAICompatServer) -> None:
    server.reply(ErrorReply.unauthorized())
    async with make_ai(server) as ai:
        with pytest.raises(AuthenticationError) as caught:
            await ai.conversation().model("openai/gpt-4o-mini").user("x").asend()
    assert caught.value.status_code == 401


# ---------------------------------------------------------------- configuration from the environment


@pytest.mark.parametrize(
    ("env", "works"),
    [
        ({"AI_OPENAI_API_KEY": TEST_API_KEY}, True),
        ({"OPENAI_API_KEY": TEST_API_KEY}, True),
        ({"AI_OPENAI_API_KEY": TEST_API_KEY, "OPENAI_API_KEY": "sk-other-key-0000000"}, True),
        ({"AI_OPENAI_API_KEY": "sk-other-key-0000000", "OPENAI_API_KEY": TEST_API_KEY}, False),
    ],
    ids=["ai-var", "ecosystem-var", "ai-var-wins", "ai-var-wins-even-when-wrong"],
)
async def test_key_and_base_url_from_the_environment(
    server: OpenAICompatServer, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], works: bool
) -> None:
    for name in ("AI_OPENAI_API_KEY", "OPENAI_API_KEY", "AI_OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AI_OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("AI_OPENAI_RETRY_ATTEMPTS", "0")
    server.api_keys = {TEST_API_KEY}
    async with AI(persistence=False) as ai:
        builder = ai.conversation().model("openai/gpt-4o-mini").user("hi")
        if works:
            assert (await builder.asend()).text
        else:
            with pytest.raises(AuthenticationError):
                await builder.asend()
    assert server.requests[-1].path == "/v1/chat/completions"
