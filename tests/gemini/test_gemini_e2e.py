"""End to end: ``AI(...)`` with ai-gemini against the local Generative Language server.

The key and base URL from the environment (all three key names), cost from the
dated catalogue (the long-context tier, cache reads, thoughts), structured output
parsed into the caller's model, a tool loop, failover to and from Gemini (options
stay with their provider), and the CLI (``ai chat`` streams, ``ai models sync --remote``).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic import BaseModel
from servers.fixtures import TEST_API_KEY, _openai_server_session, openai_server  # noqa: F401
from servers.gemini_server import Answer, GeminiServer, Refusal
from servers.openai_compat import Completion, ErrorReply, OpenAICompatServer

import ai_gemini.plugin
import ai_openai.plugin
from ai_core import AI, PluginRegistry, StreamCompleted, TextDelta, builtin, errors, plugins
from ai_core.cli import cli

pytestmark = pytest.mark.anyio
KEY = "AIza-e2e-0123456789"


def registry() -> PluginRegistry:
    return PluginRegistry([("core", builtin), ("gemini", ai_gemini.plugin), ("openai", ai_openai.plugin)])


def make_ai(server: GeminiServer, openai: OpenAICompatServer | None = None, **kwargs: Any) -> AI:
    providers: dict[str, Any] = {"gemini": {"base_url": server.base_url, "api_key": KEY, "retry_attempts": 0}}
    if openai is not None:
        providers["openai"] = {"base_url": openai.base_url, "api_key": TEST_API_KEY, "retry_attempts": 0}
    return AI(persistence=False, providers=providers, registry=registry(), **kwargs)


@pytest.mark.parametrize("variable", ["AI_GEMINI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"])
async def test_key_and_base_url_from_the_environment(
    gemini_server: GeminiServer, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    for name in ("AI_GEMINI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, "AIza-from-env")
    monkeypatch.setenv("AI_GEMINI_BASE_URL", gemini_server.base_url + "/v1beta")
    async with AI(persistence=False, registry=registry()) as ai:
        reply = await ai.conversation("gemini/gemini-2.5-flash").user("hi").asend()
    assert reply.text == "Echo: hi"
    assert gemini_server.requests[-1].headers["x-goog-api-key"] == "AIza-from-env"


async def test_no_key_names_the_variables(gemini_server: GeminiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AI_GEMINI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AI_GEMINI_BASE_URL", gemini_server.base_url)
    async with AI(persistence=False, registry=registry()) as ai:
        with pytest.raises(errors.MissingCredentialsError) as caught:
            await ai.conversation("gemini/gemini-2.5-flash").user("hi").asend()
    assert "AI_GEMINI_API_KEY" in str(caught.value) and "GEMINI_API_KEY" in str(caught.value)
    assert gemini_server.requests == []


@pytest.mark.parametrize("streamed", [False, True], ids=["send", "stream"])
async def test_cost_with_cache_reads_and_thoughts(gemini_server: GeminiServer, streamed: bool) -> None:
    usage = {"prompt": 1_000_000, "cached": 400_000, "candidates": 100_000, "thoughts": 200_000}
    gemini_server.arrange("price me", Answer(text="priced", thoughts="hmm", usage=usage))
    async with make_ai(gemini_server) as ai:
        chat = ai.conversation("gemini/gemini-2.5-flash").user("price me")
        reply = (
            [e async for e in chat.astream()][-1].response if streamed else await chat.asend()
        )  # fmt: skip
    assert reply.usage.input_tokens == 1_000_000 and reply.usage.cached_input_tokens == 400_000
    assert reply.usage.output_tokens == 300_000 and reply.usage.reasoning_tokens == 200_000
    # 600k fresh at 0.30 + 400k cached at 0.03 + 300k output (thoughts included) at 2.50
    assert reply.cost is not None and reply.cost.total == Decimal("0.18") + Decimal("0.012") + Decimal("0.75")


async def test_the_long_context_tier_prices_the_whole_call(gemini_server: GeminiServer) -> None:
    gemini_server.arrange("short", Answer(text="ok", usage={"prompt": 200_000, "candidates": 1000}))
    gemini_server.arrange("long", Answer(text="ok", usage={"prompt": 200_001, "candidates": 1000}))
    async with make_ai(gemini_server) as ai:
        short = await ai.conversation("gemini/gemini-2.5-pro").user("short").asend()
        long = await ai.conversation("gemini/gemini-2.5-pro").user("long").asend()
    assert short.cost is not None and short.cost.total == Decimal("0.25") + Decimal("0.01")
    assert long.cost is not None and long.cost.total == Decimal("0.5000025") + Decimal("0.015")


class City(BaseModel):
    name: str
    population: int


async def test_structured_output_is_parsed_into_the_callers_model(gemini_server: GeminiServer) -> None:
    gemini_server.arrange("city", Answer(text='{"name": "Paris", "population": 2102650}'))
    async with make_ai(gemini_server) as ai:
        reply = await ai.conversation("gemini/gemini-2.5-flash").output(City).user("city").asend()
    assert reply.parsed == City(name="Paris", population=2102650)
    config = gemini_server.received("city")["generationConfig"]  # type: ignore[index]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"]["properties"]["population"] == {"title": "Population", "type": "integer"}


@pytest.mark.parametrize("streamed", [False, True], ids=["send", "stream"])
async def test_a_tool_loop(gemini_server: GeminiServer, streamed: bool) -> None:
    def get_weather(city: str) -> str:
        """Current weather for a city."""
        return f"sunny in {city}"

    gemini_server.arrange("weather?", Answer(calls=[{"name": "get_weather", "args": {"city": "Rome"}}]))
    async with make_ai(gemini_server) as ai:
        chat = ai.conversation("gemini/gemini-2.5-flash").tool(get_weather).user("weather?")
        reply = [e async for e in chat.astream()][-1].response if streamed else await chat.asend()
    assert reply.text == "The tool said: sunny in Rome"
    last = gemini_server.generate_bodies[-1]["contents"]
    assert last[-1]["parts"][0]["functionResponse"]["name"] == "get_weather"


async def test_failover_from_gemini_keeps_its_options_at_home(
    gemini_server: GeminiServer,
    openai_server: OpenAICompatServer,  # noqa: F811
) -> None:
    gemini_server.arrange("hi", Refusal.of(503, "The model is overloaded."))
    openai_server.reply(Completion(text="from OpenAI"))
    safety = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]
    async with make_ai(gemini_server, openai_server) as ai:
        chat = ai.conversation("gemini/gemini-2.5-flash").fallback("openai/gpt-4o-mini").user("hi")
        reply = await chat.options(safety_settings=safety, top_k=3).asend()
    assert reply.text == "from OpenAI" and reply.provider == "openai"
    assert gemini_server.generate_bodies[-1]["safetySettings"] == safety
    sent = openai_server.chat_bodies[-1]
    assert "safety_settings" not in sent and "top_k" not in sent


async def test_failover_to_gemini_streams_without_the_other_providers_options(
    gemini_server: GeminiServer,
    openai_server: OpenAICompatServer,  # noqa: F811
) -> None:
    openai_server.reply(ErrorReply(503, "overloaded", "server_error"))
    gemini_server.arrange("hi", Answer(text="from Gemini, in pieces"))
    async with make_ai(gemini_server, openai_server) as ai:
        chat = ai.conversation("openai/gpt-4o-mini").fallback("gemini/gemini-2.5-flash").user("hi")
        events = [e async for e in chat.options(logit_bias={"50256": -100}).astream()]
    assert isinstance(events[-1], StreamCompleted)
    response = events[-1].response
    assert response.provider == "gemini" and response.text == "from Gemini, in pieces"
    assert len([e for e in events if isinstance(e, TextDelta)]) > 1
    assert response.cost is not None and response.cost.total is not None and response.cost.total > 0
    assert "logit_bias" not in gemini_server.generate_bodies[-1]  # the spec check at teardown proves the rest


@pytest.fixture
def cli_env(gemini_server: GeminiServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("AI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AI_CONFIG_FILE", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("AI_GEMINI_BASE_URL", gemini_server.base_url)
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    monkeypatch.setattr(plugins, "_default", registry())
    yield


def test_ai_chat_streams_from_gemini(cli_env: None, gemini_server: GeminiServer) -> None:
    gemini_server.arrange("hi", Answer(text="Hello from Gemini"))
    result = CliRunner().invoke(cli, ["chat", "--no-persist", "-m", "gemini/gemini-2.5-flash", "hi"])
    assert result.exit_code == 0, result.output
    assert "Hello from Gemini" in result.output
    assert gemini_server.requests[-1].path.endswith(":streamGenerateContent")
    assert gemini_server.requests[-1].query == {"alt": ["sse"]}


def test_ai_models_sync_remote_pages_through_gemini(cli_env: None, gemini_server: GeminiServer) -> None:
    gemini_server.models.append(
        {"name": "models/gemini-9-remote-only", "displayName": "Remote only", "inputTokenLimit": 32768,
         "outputTokenLimit": 8192, "supportedGenerationMethods": ["generateContent", "countTokens"]}
    )  # fmt: skip
    result = CliRunner().invoke(cli, ["models", "sync", "--provider", "gemini", "--remote"])
    assert result.exit_code == 0, result.output
    pages = [r for r in gemini_server.requests if r.path == "/v1beta/models"]
    assert pages and all(r.headers["x-goog-api-key"] == KEY for r in pages)
    # the catalogue's thirteen and three aliases, and the remote-only one (not the embedding model)
    assert "gemini: 17 models, 19 prices, 1 from the provider's list" in result.output, result.output


def test_ai_chat_says_when_gemini_blocks_the_prompt(cli_env: None, gemini_server: GeminiServer) -> None:
    gemini_server.arrange("something risky", Answer(block_reason="PROHIBITED_CONTENT"))
    result = CliRunner().invoke(cli, ["chat", "--no-persist", "-m", "gemini/gemini-2.5-flash", "something risky"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == ["Error: gemini: the prompt was blocked by Gemini's safety filters (PROHIBITED_CONTENT)"], lines
