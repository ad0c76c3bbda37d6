"""``ai plugins --check``: catalogue, capabilities and middleware checked without calling anything."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ai_core import (
    Capabilities,
    MCPServerSpec,
    Middleware,
    ModelInfo,
    ModelPrice,
    PluginRegistry,
    ProviderSpec,
    builtin,
    fake_plugin,
    hookimpl,
    plugins,
)
from ai_core.cli import cli


def price(provider: str, model: str) -> ModelPrice:
    return ModelPrice(
        provider=provider,
        model=model,
        effective_from=date(2025, 1, 1),
        input_per_mtok=Decimal(1),
        output_per_mtok=Decimal(2),
    )


class Provider:
    """A plugin registering one provider, its models and prices, as told."""

    def __init__(
        self, spec: ProviderSpec, models: list[ModelInfo] = (), prices: list[ModelPrice] | None = None
    ) -> None:  # type: ignore[assignment]
        self.spec, self.model_list = spec, list(models)
        self.price_list = [price(m.provider, m.id) for m in self.model_list] if prices is None else prices

    @hookimpl
    def register_providers(self, register: Any) -> None:
        register(self.spec)

    @hookimpl
    def register_models(self, register: Any) -> None:
        for model in self.model_list:
            register(model)

    @hookimpl
    def register_prices(self, register: Any) -> None:
        for row in self.price_list:
            register(row)


class Layers:
    def __init__(self, *layers: object) -> None:
        self.layers = layers

    @hookimpl
    def register_middleware(self, register: Any) -> None:
        for layer in self.layers:
            register(layer)


def problems(*extra: tuple[str, object]) -> list[str]:
    registry = PluginRegistry(plugins=[("core", builtin), ("fake", fake_plugin), *extra])
    return [str(problem) for problem in registry.check()]


FAKE = "ai_core.drivers.fake:FakeDriver"


def test_core_and_the_fake_have_no_problems() -> None:
    assert problems() == []


def test_every_installed_plugin_of_this_repository_checks_clean(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AI_CORE_PLUGINS", raising=False)
    monkeypatch.delenv("AI_PLUGINS", raising=False)
    monkeypatch.setenv("AI_CONFIG_FILE", str(tmp_path / "absent.toml"))
    registry = PluginRegistry.from_entry_points()
    assert {"core", "fake", "openai", "xai"} <= set(registry.plugin_names())
    assert [str(p) for p in registry.check()] == []


def test_provider_problems() -> None:
    spec = ProviderSpec(
        name="p1", driver=FAKE, capabilities=Capabilities(streaming=True, batch=False), default_model="nope",
        default_base_url="ftp://example",
    )  # fmt: skip
    missing_driver = ProviderSpec(name="p2", driver="no_such_module_xyz:Driver")
    chat = ProviderSpec(
        name="p3", driver="ai_core.dialects.openai_chat:OpenAIChatDriver", default_base_url="http://h:1"
    )
    found = problems(
        ("one", Provider(spec, [ModelInfo(provider="p1", id="m")])),
        ("two", Provider(missing_driver)),
        ("three", Provider(chat)),
    )
    assert found == [
        "one: provider 'p1': default model 'nope' is not among its models (m)",
        "one: provider 'p1': base URL 'ftp://example' is not an http:// or https:// URL",
        "two: provider 'p2': cannot import driver 'no_such_module_xyz:Driver': No module named 'no_such_module_xyz'",
        "three: provider 'p3': base URL 'http://h:1' has no path; an OpenAI-compatible API is served under a prefix "
        "such as /v1 (the driver appends /chat/completions)",
    ]


def test_a_capability_the_driver_does_not_declare() -> None:
    from ai_core import Driver

    class Plain(Driver):  # says its wire format carries streaming only
        capabilities = Capabilities(streaming=True)

        async def send(self, request: Any) -> Any: ...

        def stream(self, request: Any) -> Any: ...

    class Undeclared(Plain):  # a driver that leaves capabilities to its ProviderSpec (the declaration)
        capabilities = Driver.capabilities

    spec = ProviderSpec(name="plain", driver=Plain, capabilities=Capabilities(streaming=True, tools=True))
    [found] = problems(("plain", Provider(spec)))
    assert found == (
        "plain: provider 'plain' advertises tools, which test_a_capability_the_driver_does_not_declare.<locals>.Plain"
        ".capabilities says the driver cannot carry (stop advertising it, or correct the driver's)"
    )
    spec = ProviderSpec(name="plain", driver=Undeclared, capabilities=Capabilities(streaming=True, tools=True))
    assert problems(("plain", Provider(spec))) == []


def test_model_and_price_problems() -> None:
    spec = ProviderSpec(name="p", driver=FAKE, capabilities=Capabilities(streaming=True))
    models = [
        ModelInfo(provider="p", id="seeing", capabilities=Capabilities(streaming=True, vision=True, batch=False)),
        ModelInfo(provider="p", id="old", served_by="gone"),
        ModelInfo(provider="p", id="free"),
        ModelInfo(provider="ghost", id="m"),
    ]
    rows = [price("p", "seeing"), price("p", "old"), price("ghost", "m"), price("p", "unlisted")]
    assert problems(("p", Provider(spec, models, rows))) == [
        "p: model 'p/seeing' lists vision, which provider 'p' does not advertise",
        "p: model 'p/old' is served by 'gone', which no plugin lists",
        'p: model \'p/free\' has no price row, so its calls cost "unknown" (add a [[prices]] row; "0" if it is free)',
        "p: model 'ghost/m': no plugin registers a provider named 'ghost'",
        "p: price for p/unlisted from 2025-01-01: no plugin lists that model",
    ]


class OnlyCall(Middleware):
    name = "only-call"

    async def __call__(self, call: Any, call_next: Any) -> Any:
        return await call_next(call)


class CoroutineStream(Middleware):
    name = "coroutine-stream"

    async def stream(self, call: Any, call_next: Any) -> Any:  # type: ignore[override]
        return call_next(call)


class SyncCall(Middleware):
    name = "sync-call"
    order = "late"  # type: ignore[assignment]

    def __call__(self, call: Any, call_next: Any) -> Any:  # type: ignore[override]
        return call_next(call)

    def stream(self, call: Any, call_next: Any) -> AsyncIterator[Any]:
        return call_next(call)


class WrongArguments(Middleware):
    name = "wrong-arguments"

    async def __call__(self, call: Any) -> Any:  # type: ignore[override]
        return call

    async def stream(self, call: Any, call_next: Any) -> AsyncIterator[Any]:  # an async generator: fine
        async for event in call_next(call):
            yield event


def test_middleware_problems() -> None:
    found = problems(("layers", Layers(OnlyCall(), CoroutineStream(), SyncCall(), WrongArguments())))
    assert found == [
        "layers: middleware 'only-call' (OnlyCall) overrides __call__ but not stream, so streamed calls "
        "(ai chat streams) pass it by; override stream too (or put the change in rewrite(), or set unary_only = True)",
        "layers: middleware 'coroutine-stream' (CoroutineStream): stream is 'async def' without 'yield', so it returns "
        "a coroutine, not a stream; write an async generator, or a plain def returning call_next(call)",
        "layers: middleware 'sync-call' (SyncCall): order must be an integer, got 'late'",
        "layers: middleware 'sync-call' (SyncCall): __call__ must be 'async def __call__(self, call, call_next)'",
        "layers: middleware 'wrong-arguments' (WrongArguments): __call__ must take (call, call_next)",
    ]


def test_a_load_error_and_an_mcp_factory_that_does_not_import() -> None:
    class Broken:
        @hookimpl
        def register_models(self, register: Any) -> None:
            raise RuntimeError("broken on purpose")

    class Tools:
        @hookimpl
        def register_mcp_servers(self, register: Any) -> None:
            register(MCPServerSpec(name="t", factory="no_such_module_xyz:make"))

    assert problems(("broken", Broken()), ("tools", Tools())) == [
        "broken: failed to load (register_models): RuntimeError: broken on purpose",
        "tools: MCP server 't': cannot import its factory 'no_such_module_xyz:make': "
        "No module named 'no_such_module_xyz'",
    ]


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> PluginRegistry:
    monkeypatch.setenv("AI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AI_CONFIG_FILE", str(tmp_path / "absent.toml"))
    made = PluginRegistry(
        plugins=[
            ("core", builtin),
            ("fake", fake_plugin),
            ("layers", Layers(OnlyCall(), CoroutineStream(), WrongArguments())),
        ]
    )
    monkeypatch.setattr(plugins, "_default", made)
    return made


def test_the_command_prints_one_line_per_problem_and_fails(installed: PluginRegistry) -> None:
    result = CliRunner().invoke(cli, ["plugins", "--check"])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and all(line.startswith("layers: middleware ") for line in lines)


def test_the_command_checks_only_the_plugins_named(installed: PluginRegistry) -> None:
    result = CliRunner().invoke(cli, ["plugins", "--check", "core", "fake"])
    assert (result.exit_code, result.stdout) == (0, "2 plugins checked: no problems\n")
    unknown = CliRunner().invoke(cli, ["plugins", "--check", "nope"])
    assert unknown.exit_code == 2 and "no plugin named nope" in unknown.stderr


def test_the_command_as_json(installed: PluginRegistry) -> None:
    result = CliRunner().invoke(cli, ["plugins", "--check", "--json"])
    assert result.exit_code == 1
    found = json.loads(result.stdout)["problems"]
    assert {p["plugin"] for p in found} == {"layers"} and len(found) == 3


def test_names_limit_the_listing_too(installed: PluginRegistry) -> None:
    result = CliRunner().invoke(cli, ["plugins", "fake"])
    assert result.exit_code == 0 and result.stdout.startswith("fake  (no distribution)  ai_core.drivers.fake_plugin")
    assert "layers" not in result.stdout and "core  " not in result.stdout
