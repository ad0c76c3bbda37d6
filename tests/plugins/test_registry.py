"""PluginRegistry built from explicit plugin objects: collection, validation, isolation."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import click
import pytest

from ai_core import builtin
from ai_core.drivers import fake_plugin
from ai_core.drivers.base import ProviderSpec
from ai_core.events.listener import Listener
from ai_core.events.types import CostCalculated, MessageSent
from ai_core.hookspecs import hookimpl
from ai_core.mcp.spec import MCPServerSpec
from ai_core.pipeline.middleware import Middleware
from ai_core.plugins import PluginRegistry
from ai_core.types import Capabilities, Cost, ModelInfo, ModelPrice, TokenUsage


class Tagging(Middleware):
    name = "tagging"
    order = 700


class Outer(Middleware):
    name = "outer"
    order = 50


def _on_sent(event: Any) -> None:
    pass


class AcmePlugin:
    """A plugin as a class instance, implementing every registration hook."""

    @hookimpl
    def register_providers(self, register: Any) -> None:
        register(ProviderSpec(name="acme", driver="acme.driver:Driver", capabilities=Capabilities(tools=True)))

    @hookimpl
    def register_models(self, register: Any) -> None:
        register(ModelInfo(provider="acme", id="rocket-1"))
        register(ModelInfo(provider="acme", id="rocket-2"))

    @hookimpl
    def register_prices(self, register: Any) -> None:
        register(
            ModelPrice(
                provider="acme",
                model="rocket-1",
                effective_from=date(2025, 1, 1),
                input_per_mtok=Decimal("1"),
                output_per_mtok=Decimal("2"),
            )
        )

    @hookimpl
    def register_middleware(self, register: Any) -> None:
        register(Tagging())
        register(Outer())

    @hookimpl
    def register_listeners(self, register: Any) -> None:
        register(Listener(MessageSent, _on_sent, name="acme-audit"))

    @hookimpl
    def register_mcp_servers(self, register: Any) -> None:
        register(MCPServerSpec(name="acme-tools", factory="acme.mcp:Server", tools=("lookup", "search")))

    @hookimpl
    def register_commands(self, cli: click.Group) -> None:
        @cli.command(name="acme-hello")
        def hello() -> None:
            """Say hello."""
            click.echo("hello from acme")

    @hookimpl
    def calculate_cost(self, provider: str, model: str, usage: TokenUsage) -> Cost | None:
        if provider != "acme":
            return None
        return Cost(total=Decimal("0.42"), currency="USD", provider=provider, model=model)


def test_collects_every_kind_and_remembers_the_giver() -> None:
    registry = PluginRegistry(plugins=[("acme", AcmePlugin()), ("fake", fake_plugin)])

    assert set(registry.providers()) == {"acme", "fake"}
    assert registry.provider_owner("acme") == "acme"
    assert registry.provider_owner("fake") == "fake"
    assert {m.qualified_id for m in registry.models()} == {"acme/rocket-1", "acme/rocket-2", "fake/echo"}
    assert {(p.provider, p.model) for p in registry.prices()} == {("acme", "rocket-1"), ("fake", "echo")}
    assert [layer.name for layer in registry.middleware()] == ["outer", "tagging"]  # by order, not registration
    assert [listener.name for listener in registry.listeners()] == ["acme-audit"]
    assert list(registry.mcp_servers()) == ["acme-tools"]
    assert registry.load_errors == []


def test_explicit_registry_loads_nothing_else() -> None:
    registry = PluginRegistry(plugins=[("acme", AcmePlugin())])
    assert registry.plugin_names() == ["acme"]
    assert list(registry.providers()) == ["acme"]


def test_calculate_cost_first_result_wins_and_core_answers_last() -> None:
    registry = PluginRegistry(plugins=[("core", builtin), ("acme", AcmePlugin())])
    usage = TokenUsage(input_tokens=1000, output_tokens=500)
    when = datetime(2025, 6, 1, tzinfo=UTC)

    acme = registry.hook.calculate_cost(provider="acme", model="rocket-1", usage=usage, priced_at=when, price=None)
    assert acme.total == Decimal("0.42")

    price = ModelPrice(
        provider="other",
        model="m",
        effective_from=date(2025, 1, 1),
        input_per_mtok=Decimal("2"),
        output_per_mtok=Decimal("4"),
    )
    other = registry.hook.calculate_cost(provider="other", model="m", usage=usage, priced_at=when, price=price)
    assert other.total == Decimal("0.004")  # 1000 * 2/1M + 500 * 4/1M, from core's table


class WrongType:
    @hookimpl
    def register_providers(self, register: Any) -> None:
        register({"name": "dict-provider"})


class Raises:
    @hookimpl
    def register_models(self, register: Any) -> None:
        register(ModelInfo(provider="boom", id="half-registered"))
        raise RuntimeError("models file missing")

    @hookimpl
    def calculate_cost(self) -> Cost | None:
        raise AssertionError("a skipped plugin must never be called again")


@pytest.mark.parametrize(
    ("plugin", "phase", "text"),
    [
        (WrongType(), "register_providers", "register() takes a ProviderSpec, got dict"),
        (Raises(), "register_models", "RuntimeError: models file missing"),
    ],
)
def test_a_failing_plugin_is_recorded_and_skipped(plugin: object, phase: str, text: str) -> None:
    registry = PluginRegistry(plugins=[("core", builtin), ("bad", plugin), ("fake", fake_plugin)])

    assert list(registry.providers()) == ["fake"]
    assert [m.qualified_id for m in registry.models()] == ["fake/echo"]  # nothing half-registered survives
    [error] = registry.load_errors
    assert (error.name, error.phase) == ("bad", phase)
    assert text in error.error
    assert registry.plugin_names() == ["core", "fake"]
    # The skipped plugin is gone from pluggy too: decision hooks never reach it.
    cost = registry.hook.calculate_cost(
        provider="fake", model="echo", usage=TokenUsage(), priced_at=datetime.now(UTC), price=None
    )
    assert cost.total is None


def test_provider_names_must_be_addressable() -> None:
    class Slash:
        @hookimpl
        def register_providers(self, register: Any) -> None:
            register(ProviderSpec(name="a/b", driver="x:Y"))

    registry = PluginRegistry(plugins=[("slash", Slash())])
    assert registry.providers() == {}
    assert "contain no '/'" in registry.load_errors[0].error


def test_duplicate_provider_is_an_error_of_the_second_plugin() -> None:
    class Impostor:
        @hookimpl
        def register_providers(self, register: Any) -> None:
            register(ProviderSpec(name="fake", driver="impostor:Driver"))

        @hookimpl
        def register_models(self, register: Any) -> None:
            register(ModelInfo(provider="fake", id="impostor"))

    registry = PluginRegistry(plugins=[("fake", fake_plugin), ("impostor", Impostor())])
    assert registry.providers()["fake"].driver == "ai_core.drivers.fake:FakeDriver"
    assert [m.id for m in registry.models()] == ["echo"]
    [error] = registry.load_errors
    assert error.name == "impostor"
    assert "provider 'fake' is already registered by plugin 'fake'" in error.error


def test_duplicate_mcp_server_within_one_plugin() -> None:
    class Twice:
        @hookimpl
        def register_mcp_servers(self, register: Any) -> None:
            register(MCPServerSpec(name="s", factory="m:f"))
            register(MCPServerSpec(name="s", factory="m:g"))

    registry = PluginRegistry(plugins=[("twice", Twice())])
    assert registry.mcp_servers() == {}
    assert "registered twice" in registry.load_errors[0].error


def test_unknown_hook_name_is_a_load_error() -> None:
    class Typo:
        @hookimpl
        def register_provider(self, register: Any) -> None:  # missing the final "s"
            raise AssertionError("never called")

    registry = PluginRegistry(plugins=[("typo", Typo()), ("fake", fake_plugin)])
    assert registry.plugin_names() == ["fake"]
    assert registry.load_errors[0].phase == "register"
    assert "unknown hook(s): register_provider" in registry.load_errors[0].error


def test_wrong_hook_arguments_are_a_load_error() -> None:
    class BadArgs:
        @hookimpl
        def register_models(self, register: Any, colour: str) -> None:
            raise AssertionError("never called")

    registry = PluginRegistry(plugins=[("badargs", BadArgs())])
    assert registry.plugin_names() == []
    assert "colour" in registry.load_errors[0].error


def test_same_name_twice_keeps_the_first() -> None:
    registry = PluginRegistry(plugins=[("fake", fake_plugin), ("fake", AcmePlugin())])
    assert list(registry.providers()) == ["fake"]
    assert registry.load_errors[0].error == "a plugin named 'fake' is already loaded"


def test_registering_later_recollects() -> None:
    registry = PluginRegistry(plugins=[("fake", fake_plugin)])
    assert list(registry.providers()) == ["fake"]
    assert registry.register("acme", AcmePlugin())
    assert set(registry.providers()) == {"fake", "acme"}


def test_cli_commands_from_plugins_and_a_failing_one_is_removed() -> None:
    class HalfCommands:
        @hookimpl
        def register_commands(self, cli: click.Group) -> None:
            cli.add_command(click.Command("half", callback=lambda: None))
            raise RuntimeError("second command broke")

    registry = PluginRegistry(plugins=[("acme", AcmePlugin()), ("half", HalfCommands())])
    group = click.Group("ai")
    registry.add_cli_commands(group)

    assert sorted(group.commands) == ["acme-hello"]
    assert registry.load_errors[0].phase == "register_commands"
    assert registry.plugin_names() == ["acme"]


def test_inventory_lists_what_each_plugin_provides() -> None:
    registry = PluginRegistry(plugins=[("core", builtin), ("acme", AcmePlugin()), ("fake", fake_plugin)])
    by_name = {info.name: info for info in registry.inventory()}

    acme = by_name["acme"]
    assert acme.hooks == sorted(
        [
            "calculate_cost",
            "register_commands",
            "register_listeners",
            "register_mcp_servers",
            "register_middleware",
            "register_models",
            "register_prices",
            "register_providers",
        ]
    )
    [provider] = acme.providers
    assert (provider.name, provider.driver) == ("acme", "acme.driver:Driver")
    assert "tools" in provider.capabilities and "vision" not in provider.capabilities
    assert acme.models == ["acme/rocket-1", "acme/rocket-2"]
    assert acme.priced_models == ["acme/rocket-1"]
    assert [(s.name, s.tools) for s in acme.mcp_servers] == [("acme-tools", ["lookup", "search"])]
    assert [(m.name, m.order) for m in acme.middleware] == [("tagging", 700), ("outer", 50)]
    assert [(lst.name, lst.events, lst.is_async, lst.per_instance) for lst in acme.listeners] == [
        ("acme-audit", ["MessageSent"], False, False)
    ]
    assert acme.cost_calculators == [f"{__name__}:AcmePlugin.calculate_cost"]
    assert acme.cli_commands == ["acme-hello"]
    assert acme.distribution is None  # not from an entry point

    assert by_name["core"].cost_calculators == ["ai_core.builtin:calculate_cost"]
    # Core's listeners are made per AI instance, their events chosen by its settings.
    assert {lst.name for lst in by_name["core"].listeners} >= {"webhooks", "analytics", "otel"}
    assert all(lst.per_instance for lst in by_name["core"].listeners)
    assert by_name["core"].module == "ai_core.builtin"
    assert by_name["fake"].models == ["fake/echo"]
    assert by_name["fake"].providers[0].capabilities  # the fake lists its features
    # The whole inventory is JSON-ready.
    assert '"acme-tools"' in acme.model_dump_json()


def test_async_listener_is_reported_async() -> None:
    async def handler(event: Any) -> None:
        pass

    class AsyncListener:
        @hookimpl
        def register_listeners(self, register: Any) -> None:
            register(Listener((MessageSent, CostCalculated), handler, name="both"))

    [info] = PluginRegistry(plugins=[("al", AsyncListener())]).inventory()
    assert info.listeners[0].events == ["MessageSent", "CostCalculated"]
    assert info.listeners[0].is_async
