"""End to end: ``AI(...)`` with ai-ollama against the local Ollama double: cost, structured
output, failover to and from Ollama (provider options stay with their provider), and the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic import BaseModel
from servers.fixtures import TEST_API_KEY, _openai_server_session, openai_server  # noqa: F401
from servers.ollama_server import Answer, OllamaServer, Refusal
from servers.openai_compat import Completion, ErrorReply, OpenAICompatServer

import ai_ollama.plugin
import ai_openai.plugin
from ai_core import AI, Cost, ModelPrice, PluginRegistry, StreamCompleted, TextDelta, builtin, hookimpl, plugins
from ai_core.cli import cli

pytestmark = pytest.mark.anyio


def registry(*extra: tuple[str, object]) -> PluginRegistry:
    return PluginRegistry([("core", builtin), ("ollama", ai_ollama.plugin), ("openai", ai_openai.plugin), *extra])


def make_ai(server: OllamaServer, openai: OpenAICompatServer | None = None, **kwargs: Any) -> AI:
    providers: dict[str, Any] = {"ollama": {"base_url": server.base_url, "retry_attempts": 0}}
    if openai is not None:
        providers["openai"] = {"base_url": openai.base_url, "api_key": TEST_API_KEY, "retry_attempts": 0}
    kwargs.setdefault("registry", registry())
    return AI(persistence=False, providers=providers, **kwargs)


async def test_a_local_call_costs_a_known_zero_streamed_or_not(server: OllamaServer) -> None:
    async with make_ai(server) as ai:
        sent = await ai.conversation("ollama/qwen3").user("hello").asend()
        events = [e async for e in ai.conversation("ollama/qwen3").user("hello").astream()]
    streamed = events[-1].response
    assert isinstance(events[-1], StreamCompleted) and any(isinstance(e, TextDelta) for e in events)
    for response in (sent, streamed):
        assert response.text == "Echo: hello"
        assert response.cost is not None and response.cost.total == Decimal(0)
        assert response.usage.input_tokens == 1 and not response.usage.estimated
    assert sent.cost is not None and sent.cost.priced_by == "ai-ollama: local, free"


async def test_a_price_row_or_a_tryfirst_cost_hook_overrides_the_zero(server: OllamaServer) -> None:
    class Priced:
        @hookimpl
        def register_prices(self, register: Any) -> None:
            register(ModelPrice(provider="ollama", model="qwen3", effective_from=date(2025, 1, 1),
                                input_per_mtok=Decimal("1000"), output_per_mtok=Decimal("2000")))  # fmt: skip

    async with make_ai(server, registry=registry(("priced", Priced()))) as ai:
        reply = await ai.conversation("ollama/qwen3").user("one two three").asend()
    # 3 prompt words and 4 answer words ("Echo: one two three") at 1000 and 2000 per million
    assert reply.cost is not None and reply.cost.total == Decimal("0.011")

    class Electricity:
        @hookimpl(tryfirst=True)
        def calculate_cost(self, provider: str, model: str, usage: Any, priced_at: datetime, price: Any) -> Any:
            return Cost(total=Decimal("0.0001") * usage.total_tokens, provider=provider, model=model, priced_by="kwh")

    async with make_ai(server, registry=registry(("kwh", Electricity()))) as ai:
        reply = await ai.conversation("ollama/llama3.2").user("hi").asend()
    assert (
        reply.cost is not None and reply.cost.priced_by == "kwh" and reply.cost.total == Decimal("0.0003")
    )  # 1 + 2 tokens


async def test_structured_output_is_parsed_into_the_model(server: OllamaServer) -> None:
    class City(BaseModel):
        city: str
        population: int

    server.arrange("Paris?", Answer(text='{"city": "Paris", "population": 2100000}'))
    async with make_ai(server) as ai:
        reply = await ai.conversation("ollama/llama3.2").output(City).user("Paris?").asend()
    assert reply.parsed == City(city="Paris", population=2100000)
    assert server.bodies()[-1]["format"]["required"] == ["city", "population"]


async def test_failover_from_ollama_keeps_its_options_at_home(
    server: OllamaServer,
    openai_server: OpenAICompatServer,  # noqa: F811
) -> None:
    server.arrange("hi", Refusal(503, "model is loading"))
    openai_server.reply(Completion(text="from OpenAI"))
    async with make_ai(server, openai_server) as ai:
        chat = ai.conversation("ollama/llama3.2").fallback("openai/gpt-4o-mini").user("hi")
        reply = await chat.options(keep_alive="30m", num_ctx=8192).asend()
    assert reply.text == "from OpenAI" and reply.provider == "openai"
    assert server.bodies()[-1]["keep_alive"] == "30m"
    sent = openai_server.chat_bodies[-1]
    assert "keep_alive" not in sent and "num_ctx" not in sent


async def test_failover_between_ollama_models_keeps_the_options(server: OllamaServer) -> None:
    server.arrange("hi", Refusal(500, "out of memory"))
    async with make_ai(server) as ai:
        chat = ai.conversation("ollama/qwen3").fallback("ollama/llama3.2").user("hi")
        reply = await chat.options(keep_alive="30m").asend()
    assert reply.model == "llama3.2" and reply.text == "Echo: hi"
    assert [(b["model"], b["keep_alive"]) for b in server.bodies()] == [("qwen3", "30m"), ("llama3.2", "30m")]


async def test_failover_to_ollama_streams_without_the_other_providers_options(
    server: OllamaServer,
    openai_server: OpenAICompatServer,  # noqa: F811
) -> None:
    openai_server.reply(ErrorReply(503, "overloaded", "server_error"))
    async with make_ai(server, openai_server) as ai:
        chat = ai.conversation("openai/gpt-4o-mini").fallback("ollama/llama3.2").user("hi")
        events = [e async for e in chat.options(logit_bias={"50256": -100}).astream()]
    response = events[-1].response
    assert response.provider == "ollama" and response.text == "Echo: hi"
    assert response.cost is not None and response.cost.total == Decimal(0)
    assert "options" not in server.bodies()[-1]  # logit_bias did not become an Ollama model option


@pytest.fixture
def cli_env(server: OllamaServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("AI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AI_CONFIG_FILE", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("AI_OLLAMA_BASE_URL", server.base_url)
    monkeypatch.setattr(plugins, "_default", registry())
    yield


def test_ai_chat_streams_from_ollama(cli_env: None, server: OllamaServer) -> None:
    server.arrange("hi", Answer(text="Hello from a local model"))
    result = CliRunner().invoke(cli, ["chat", "--no-persist", "-m", "ollama/llama3.2", "hi"])
    assert result.exit_code == 0, result.output
    assert "Hello from a local model" in result.output
    assert server.bodies()[-1]["stream"] is True


def test_ai_models_pull_shows_progress_and_refuses_unknown_names(cli_env: None, server: OllamaServer) -> None:
    result = CliRunner().invoke(cli, ["models", "pull", "ollama/gemma4"])
    assert result.exit_code == 0, result.output
    assert "pulling manifest" in result.output and "100%" in result.output
    assert "3.1 MB" in result.output  # bytes done / total
    assert result.output.rstrip().endswith("pulled ollama/gemma4") and "gemma4" in server.pulled
    bad = CliRunner().invoke(cli, ["models", "pull", "ollama/no-such-model"])
    assert bad.exit_code == 1 and "Traceback" not in bad.output
    assert "there is no model 'no-such-model' to pull" in bad.output
    refused = CliRunner().invoke(cli, ["models", "pull", "openai/gpt-4o"])
    assert refused.exit_code != 0 and "cannot pull models" in refused.output


def test_ai_models_for_ollama_lists_what_is_pulled(
    cli_env: None, server: OllamaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.pulled = ["qwen3", "llava", "nomic-embed-text"]
    result = CliRunner().invoke(cli, ["models", "--provider", "ollama"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines] == ["ollama/qwen3", "ollama/llava"]  # no embedding model
    assert lines[0].split()[-2:] == ["reasoning", "tools"] and lines[1].split()[-1] == "vision"
    assert "USD 0" not in result.output  # pulled models other than the catalogue's: priced by the cost hook
    monkeypatch.setenv("AI_OLLAMA_BASE_URL", "http://127.0.0.1:9")  # nobody listens there
    down = CliRunner().invoke(cli, ["models", "--provider", "ollama"])
    assert down.exit_code == 0 and "is Ollama running at http://127.0.0.1:9?" in down.output
    assert "ollama/llama3.2" in down.output  # the declared default model, offline


def test_ai_plugins_shows_each_local_models_own_capabilities(cli_env: None, server: OllamaServer) -> None:
    server.pulled = ["llama3.2", "llava", "qwen3"]
    result = CliRunner().invoke(cli, ["plugins", "ollama"])
    assert result.exit_code == 0, result.output
    assert "local model llama3.2 (tools, json_schema)" in result.output
    assert "local model llava (vision, json_schema)" in result.output
    assert "local model qwen3 (tools, json_schema, reasoning)" in result.output
