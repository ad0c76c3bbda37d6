"""The ``ai`` command line against the built-in fake provider (CliRunner, in-process)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from ai_core import app as app_module
from ai_core import builtin, plugins
from ai_core.cli import cli
from ai_core.drivers import fake_plugin
from ai_core.drivers.fake import FakeDriver
from ai_core.errors import AuthenticationError
from ai_core.hookspecs import hookimpl
from ai_core.plugins import PluginRegistry


class Broken:
    @hookimpl
    def register_providers(self, register: Any) -> None:
        raise RuntimeError("broken on purpose")


class Greeter:
    @hookimpl
    def register_commands(self, cli: click.Group) -> None:
        @cli.command()
        def greet() -> None:
            """Greet from a plugin."""
            click.echo("hello from a plugin command")


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[PluginRegistry]:
    """The process-wide registry, made of explicit plugins (no entry points)."""
    monkeypatch.setenv("AI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AI_CONFIG_FILE", str(tmp_path / "absent.toml"))
    made = PluginRegistry(
        plugins=[("core", builtin), ("fake", fake_plugin), ("broken", Broken()), ("greeter", Greeter())]
    )
    monkeypatch.setattr(plugins, "_default", made)
    yield made


@pytest.fixture
def driver(monkeypatch: pytest.MonkeyPatch, registry: PluginRegistry) -> FakeDriver:
    """Every ``AI`` the CLI builds uses this fake driver, so tests can see what was sent."""
    fake = FakeDriver()
    real_ai = app_module.AI

    def make_ai(**kwargs: Any) -> Any:
        return real_ai(drivers={"fake": fake}, **kwargs)

    monkeypatch.setattr(app_module, "AI", make_ai)
    return fake


@pytest.mark.parametrize("args", [["--help"], ["plugins", "--help"], ["models", "--help"], ["chat", "--help"]])
def test_every_command_has_help(registry: PluginRegistry, args: list[str]) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_top_level_help_lists_builtin_and_plugin_commands(registry: PluginRegistry) -> None:
    result = CliRunner().invoke(cli, ["--help"])
    for name in ("plugins", "models", "chat", "greet"):
        assert f"  {name}" in result.output


def test_plugin_command_runs(registry: PluginRegistry) -> None:
    result = CliRunner().invoke(cli, ["greet"])
    assert result.exit_code == 0
    assert result.output == "hello from a plugin command\n"


def test_plugins_plain_lists_plugins_and_load_errors(registry: PluginRegistry) -> None:
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("core  ")
    assert "  provider fake (streaming, tools" in result.output
    assert "  models: fake/echo" in result.output
    assert "  cost calculator ai_core.builtin:calculate_cost" in result.output
    assert "  commands: greet" in result.output
    assert "Load errors (1):" in result.output
    assert "broken  (no distribution)  [register_providers] RuntimeError: broken on purpose" in result.output


def test_plugins_json(registry: PluginRegistry) -> None:
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    data = json.loads(result.output)
    assert [p["name"] for p in data["plugins"]] == ["core", "fake", "greeter"]
    fake = data["plugins"][1]
    assert fake["providers"][0]["name"] == "fake"
    assert "streaming" in fake["providers"][0]["capabilities"]
    assert fake["hooks"] == ["register_models", "register_prices", "register_providers"]
    [error] = data["load_errors"]
    assert (error["name"], error["phase"]) == ("broken", "register_providers")


def test_plugins_strict_fails_on_load_errors(registry: PluginRegistry) -> None:
    assert CliRunner().invoke(cli, ["plugins", "--strict"]).exit_code == 1


def test_models_offline_with_prices(registry: PluginRegistry) -> None:
    result = CliRunner().invoke(cli, ["models"])
    assert result.exit_code == 0, result.output
    assert result.output == "fake/echo  Fake echo  128,000 ctx  USD 0.50 in / 1.50 out per Mtok\n"


def test_models_json_and_provider_filter(registry: PluginRegistry) -> None:
    data = json.loads(CliRunner().invoke(cli, ["models", "--provider", "fake", "--json"]).output)
    assert [m["qualified_id"] for m in data] == ["fake/echo"]
    assert data[0]["price"]["input_per_mtok"] == "0.50"


def test_models_unknown_provider_is_a_usage_error(registry: PluginRegistry) -> None:
    result = CliRunner().invoke(cli, ["models", "-p", "nope"])
    assert result.exit_code == 2
    assert "no provider named 'nope' is installed (installed: fake)" in result.output


def test_chat_streams_one_answer_then_usage_and_cost(driver: FakeDriver) -> None:
    result = CliRunner().invoke(cli, ["chat", "-m", "fake/echo", "--no-persist", "-s", "Be terse.", "hello there"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "Echo: hello there\n"
    assert "[fake/echo]" in result.stderr
    assert "tokens; cost 0.0000" in result.stderr and "USD" in result.stderr
    [request] = driver.calls
    assert request.system == "Be terse."
    assert request.model == "echo"


def test_chat_reads_the_prompt_from_stdin(driver: FakeDriver) -> None:
    result = CliRunner().invoke(cli, ["chat", "-m", "fake/echo", "--no-persist", "-"], input="from a pipe")
    assert result.stdout == "Echo: from a pipe\n"


def test_chat_repl_keeps_the_conversation(driver: FakeDriver) -> None:
    result = CliRunner().invoke(cli, ["chat", "-m", "fake/echo", "--no-persist"], input="first\n\nsecond\nexit\n")
    assert result.exit_code == 0, result.output
    assert "Echo: first" in result.stdout and "Echo: second" in result.stdout
    assert len(driver.calls) == 2  # the empty line sent nothing
    texts = [(m.role, m.text) for m in driver.calls[1].messages]
    assert texts == [("user", "first"), ("assistant", "Echo: first"), ("user", "second")]
    assert "2 turn(s)" in result.stderr


def test_chat_repl_ends_on_end_of_input(driver: FakeDriver) -> None:
    result = CliRunner().invoke(cli, ["chat", "-m", "fake/echo", "--no-persist"], input="only\n")
    assert result.exit_code == 0
    assert "1 turn(s)" in result.stderr


def test_chat_provider_error_is_a_clean_message(monkeypatch: pytest.MonkeyPatch, registry: PluginRegistry) -> None:
    real_ai = app_module.AI
    failing = FakeDriver.scripted([AuthenticationError("key rejected", provider="fake", status_code=401)])
    monkeypatch.setattr(app_module, "AI", lambda **kw: real_ai(drivers={"fake": failing}, **kw))
    result = CliRunner().invoke(cli, ["chat", "-m", "fake/echo", "--no-persist", "hi"])
    assert result.exit_code == 1
    assert "Error:" in result.stderr and "key rejected" in result.stderr
    assert "Traceback" not in result.output


def test_chat_unknown_provider(driver: FakeDriver) -> None:
    result = CliRunner().invoke(cli, ["chat", "-m", "nope/x", "--no-persist", "hi"])
    assert result.exit_code == 1
    assert "nope" in result.stderr


def test_bad_plugin_setting_is_a_clean_error_and_help_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AI_CORE_PLUGINS", "a;b")
    monkeypatch.setattr(plugins, "_default", None)
    result = CliRunner().invoke(cli, ["models"])
    assert result.exit_code == 1
    assert result.stderr == "Error: invalid plugin name(s) in AI_CORE_PLUGINS/plugins setting: 'a;b'\n"
    monkeypatch.setattr(plugins, "_default", None)
    helped = CliRunner().invoke(cli, ["--help"])
    assert helped.exit_code == 0
    assert "  chat" in helped.stdout
    assert "warning: plugin commands not loaded" in helped.stderr


def test_ai_help_loads_plugins_without_pydantic_or_http(tmp_path: Path) -> None:
    """Startup time is a feature: `ai --help` lists plugin commands yet builds no model and no client."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from ai_core.cli import cli\n"
        "result = CliRunner().invoke(cli, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "heavy = sorted(m for m in ('pydantic', 'pydantic_settings', 'httpx', 'httpx2', 'sqlalchemy', 'rich') "
        "if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    env = {"PATH": "/usr/bin:/bin", "AI_CONFIG_FILE": str(tmp_path / "absent.toml"), "AI_CORE_PLUGINS": "fake"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_models_sync_stores_models_and_prices(registry: PluginRegistry) -> None:
    result = CliRunner().invoke(cli, ["models", "sync"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "fake: 1 models, 1 prices\n"
    assert CliRunner().invoke(cli, ["models", "sync", "-p", "fake"]).stdout == "fake: 1 models, 1 prices\n"
    unknown = CliRunner().invoke(cli, ["models", "sync", "-p", "nope"])
    assert unknown.exit_code == 1 and "nope" in unknown.stderr


def test_chat_persists_by_default(driver: FakeDriver, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["chat", "-m", "fake/echo", "remember me"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "Echo: remember me\n"
    assert any(tmp_path.iterdir())  # the SQLite database in AI_DATA_DIR
