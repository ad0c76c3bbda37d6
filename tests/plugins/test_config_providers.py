"""Providers without code: a ``[providers.NAME]`` config section with a dialect, end to end on a local server."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from servers.fixtures import TEST_API_KEY, _openai_server_session, openai_server  # noqa: F401
from servers.openai_compat import Completion, OpenAICompatServer, Usage

from ai_core import AI, CatalogError, ConfigurationError, MissingCredentialsError, PluginRegistry, plugins
from ai_core.cli import cli
from ai_core.dialects.config_providers import SECTION_KEYS, ConfigProvider

SECTION = """
[providers.lab]
dialect = "openai-chat"
base_url = "{base_url}"
api_key_env = "LAB_TEST_KEY"
description = "the lab's vLLM"
default_model = "llama-3.1-8b"
models = ["llama-3.1-8b", "qwen-2.5-7b"]

[[providers.lab.prices]]
model = "llama-3.1-8b"
effective_from = 2025-01-01
input = "0.10"
cached_input = "0.01"
output = "0.20"

[[providers.lab.prices]]
model = "qwen-2.5-7b"
effective_from = 2025-01-01
input = "0"
output = "0"
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config.toml"
    monkeypatch.setenv("AI_CONFIG_FILE", str(path))
    monkeypatch.setenv("AI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AI_CORE_PLUGINS", "none")  # only core's own and the config file's providers
    monkeypatch.delenv("LAB_TEST_KEY", raising=False)
    return path


@pytest.fixture
def lab(config: Path, openai_server: OpenAICompatServer, monkeypatch: pytest.MonkeyPatch) -> OpenAICompatServer:  # noqa: F811
    config.write_text(SECTION.format(base_url=openai_server.base_url))
    openai_server.api_keys = {TEST_API_KEY}
    monkeypatch.setenv("LAB_TEST_KEY", TEST_API_KEY)
    return openai_server


@pytest.fixture
def process_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI builds the process registry from entry points and the config file, fresh for this test."""
    monkeypatch.setattr(plugins, "_default", None)
    yield


@pytest.mark.anyio
async def test_a_config_section_is_a_provider_with_prices(lab: OpenAICompatServer) -> None:
    registry = PluginRegistry.from_entry_points()
    assert registry.load_errors == []
    assert registry.plugin_names() == ["core", "config:lab"]
    lab.reply(
        Completion(
            text="hello from the lab", usage=Usage(prompt_tokens=1000, completion_tokens=100, cached_tokens=800)
        ),
        Completion(text="streamed", chunk_size=3, usage=Usage(prompt_tokens=1000, completion_tokens=100)),
    )
    async with AI(persistence=False, registry=registry) as ai:
        reply = await ai.conversation("lab/llama-3.1-8b").user("hi").asend()
        events = [event async for event in ai.conversation("lab/llama-3.1-8b").user("hi").astream()]
    assert reply.text == "hello from the lab"
    assert reply.cost.total == (200 * Decimal("0.10") + 800 * Decimal("0.01") + 100 * Decimal("0.20")) / 10**6
    streamed = events[-1].response
    assert streamed.text == "streamed"
    assert streamed.cost.total == (1000 * Decimal("0.10") + 100 * Decimal("0.20")) / 10**6
    assert [r.headers["authorization"] for r in lab.requests] == [f"Bearer {TEST_API_KEY}"] * 2
    assert [r.path for r in lab.requests] == ["/v1/chat/completions"] * 2


def test_listed_checked_and_used_by_the_cli(lab: OpenAICompatServer, config: Path, process_registry: None) -> None:
    listed = CliRunner().invoke(cli, ["plugins", "--json"])
    assert listed.exit_code == 0, listed.output
    by_name = {p["name"]: p for p in json.loads(listed.stdout)["plugins"]}
    entry = by_name["config:lab"]
    assert entry["module"] == f"{config} [providers.lab]" and entry["distribution"] is None
    assert entry["providers"][0] == {
        "name": "lab",
        "driver": "ai_core.dialects.openai_chat:OpenAIChatDriver",
        "description": "the lab's vLLM",
        "capabilities": ["streaming", "tools", "tool_streaming", "vision", "json_schema", "list_models"],
        "default_model": "llama-3.1-8b",
        "default_base_url": lab.base_url,
        "api_key_env": ["LAB_TEST_KEY"],
    }
    assert entry["models"] == ["lab/llama-3.1-8b", "lab/qwen-2.5-7b"]
    checked = CliRunner().invoke(cli, ["plugins", "--check"])
    assert (checked.exit_code, checked.stdout) == (0, "2 plugins checked: no problems\n")
    models = CliRunner().invoke(cli, ["models", "--provider", "lab"])
    assert models.stdout.startswith("lab/llama-3.1-8b")

    lab.reply(Completion(text="hi from the CLI", usage=Usage(prompt_tokens=10, completion_tokens=5)))
    chat = CliRunner().invoke(cli, ["chat", "-m", "lab/llama-3.1-8b", "--no-persist", "hello"])
    assert chat.exit_code == 0, chat.output
    assert chat.stdout == "hi from the CLI\n"
    assert "[lab/llama-3.1-8b] 10 in, 5 out tokens; cost 0.000002 USD" in chat.stderr


@pytest.mark.anyio
async def test_a_keyless_server_needs_no_key_and_a_missing_key_names_its_variable(
    config: Path,
    openai_server: OpenAICompatServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config.write_text(
        SECTION.format(base_url=openai_server.base_url).replace('api_key_env = "LAB_TEST_KEY"\n', "")
        + f'\n[providers.hosted]\ndialect = "openai-chat"\nbase_url = "{openai_server.base_url}"\n'
        'api_key_env = ["HOSTED_KEY", "HOSTED_TOKEN"]\nmodels = ["m"]\n'
    )
    monkeypatch.delenv("HOSTED_KEY", raising=False)
    monkeypatch.delenv("HOSTED_TOKEN", raising=False)
    registry = PluginRegistry.from_entry_points()
    assert not registry.providers()["lab"].requires_api_key and registry.providers()["hosted"].requires_api_key
    async with AI(persistence=False, registry=registry) as ai:
        assert (await ai.conversation("lab/llama-3.1-8b").user("hi").asend()).text == "Hello from the test server."
        with pytest.raises(MissingCredentialsError, match="HOSTED_KEY or HOSTED_TOKEN"):
            await ai.conversation("hosted/m").user("hi").asend()
    assert len(openai_server.requests) == 1 and "authorization" not in openai_server.requests[0].headers


def test_the_environment_overrides_the_base_url(lab: OpenAICompatServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AI_LAB_BASE_URL", "http://127.0.0.1:9/v1")
    with AI(persistence=False, registry=PluginRegistry.from_entry_points()) as ai:
        assert ai.providers.config("lab").base_url == "http://127.0.0.1:9/v1"
        assert ai.settings.providers["lab"].base_url == lab.base_url  # the settings read the same section


BASE = 'dialect = "openai-chat"\nbase_url = "http://127.0.0.1:1/v1"\n'


@pytest.mark.parametrize(
    ("body", "phase", "message"),
    [
        (BASE + 'api_key_var = "X"\n', "register_providers", "unknown key 'api_key_var' (did you mean 'api_key_env'?)"),
        ('dialect = "anthropic"\nbase_url = "http://h/v1"\n', "register_providers",
         "key 'dialect': unknown dialect 'anthropic'; known: openai-chat"),
        ('dialect = "openai-chat"\n', "register_providers", "missing key 'base_url'"),
        ('dialect = "openai-chat"\nbase_url = "127.0.0.1:8000/v1"\n', "register_providers",
         "key 'base_url' must be an http:// or https:// URL"),
        (BASE + 'api_key_env = "MY KEY"\n', "register_providers", "key 'api_key_env' must name environment variables"),
        (BASE + 'capabilities = ["telepathy"]\n', "register_providers", "unknown capabilities ['telepathy']"),
        (BASE + 'models = ["a", { id = "b" }]\n', "register_models", "a list of ids or of tables, not both"),
        (BASE + 'models = ["a"]\n[[providers.x.prices]]\nmodel = "a"\neffective_from = 2025-01-01\n'
         'input = "1"\noutput = "1"\ncached_inptu = "0.1"\n', "catalog",
         "[[providers.x.prices]] #1 (model 'a'): unknown key 'cached_inptu' (did you mean 'cached_input'?)"),
    ],
)  # fmt: skip
def test_a_bad_section_is_a_load_error_naming_file_section_and_key(
    config: Path, body: str, phase: str, message: str
) -> None:
    config.write_text(f"[providers.x]\n{body}")
    registry = PluginRegistry.from_entry_points()
    [error] = registry.load_errors
    assert (error.name, error.phase, error.module) == ("config:x", phase, f"{config} [providers.x]")
    assert f"{config} [providers.x]: " in error.error and message in error.error
    assert registry.plugin_names() == ["core"]


def test_plain_settings_sections_are_not_providers(config: Path) -> None:
    config.write_text('[providers.openai]\nbase_url = "http://127.0.0.1:1/v1"\ntimeout = 5\n')
    registry = PluginRegistry.from_entry_points()
    assert registry.plugin_names() == ["core"] and registry.load_errors == []


def test_a_name_an_installed_plugin_has_is_refused(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AI_CORE_PLUGINS", "fake")
    config.write_text(f"[providers.fake]\n{BASE}")
    [error] = PluginRegistry.from_entry_points().load_errors
    assert error.name == "config:fake" and "provider 'fake' is already registered by plugin 'fake'" in error.error


def test_an_unreadable_config_file_is_a_load_error(config: Path) -> None:
    config.write_text("[providers.x\n")
    registry = PluginRegistry.from_entry_points()
    [error] = registry.load_errors
    assert (error.name, error.phase, error.module) == ("config", "import", str(config))
    assert "cannot read config file" in error.error and registry.plugin_names() == ["core"]


def test_config_providers_can_be_left_out(config: Path) -> None:
    config.write_text(textwrap.dedent(f"[providers.x]\n{BASE}"))
    assert PluginRegistry.from_entry_points(config_providers=False).plugin_names() == ["core"]
    assert PluginRegistry.from_entry_points().plugin_names() == ["core", "config:x"]


section_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10**6) | st.floats() | st.text(max_size=8) | st.dates()
    | st.sampled_from(["openai-chat", "http://127.0.0.1:1/v1", "LAB_KEY", "m", "0.5", "streaming"]),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(["id", "model", "effective_from", "input", "output", "x"]), children, max_size=5),
    max_leaves=20,
)  # fmt: skip


@given(st.dictionaries(st.sampled_from([*SECTION_KEYS, "bogus"]), section_values, max_size=6))
def test_any_section_is_a_provider_or_one_clear_error(section: dict) -> None:
    provider = ConfigProvider("x", {"dialect": "openai-chat", **section}, "/etc/ai/config.toml")
    for build in (provider.spec, provider.catalog):
        try:
            build()
        except (ConfigurationError, CatalogError) as error:
            assert str(error).startswith("/etc/ai/config.toml [providers.x]: ")
