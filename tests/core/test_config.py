"""Configuration: environment, config file, run-time overrides and their precedence."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ai_core import AI, FakeDriver
from ai_core.config import Settings, load_settings
from ai_core.drivers.base import ProviderSpec
from ai_core.errors import ConfigurationError, MissingCredentialsError
from ai_core.hookspecs import hookimpl
from ai_core.pipeline.providers import split_model
from ai_core.plugins import PluginRegistry


class AcmePlugin:
    @hookimpl
    def register_providers(self, register):  # type: ignore[no-untyped-def]
        register(
            ProviderSpec(
                name="acme",
                driver=lambda cfg: FakeDriver(cfg),
                api_key_env=("ACME_KEY",),
                default_base_url="https://acme.invalid/v1",
            )
        )


def registry() -> PluginRegistry:
    import ai_core.builtin

    return PluginRegistry(plugins=[("core", ai_core.builtin), ("acme", AcmePlugin())])


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "AI_ACME_API_KEY",
        "ACME_KEY",
        "AI_ACME_BASE_URL",
        "AI_ACME_TIMEOUT",
        "AI_ACME_RETRY_ATTEMPTS",
        "AI_DEFAULT_MODEL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AI_CONFIG_FILE", str(tmp_path / "config.toml"))


def test_split_model_at_first_slash() -> None:
    assert split_model("openai/gpt-4o") == ("openai", "gpt-4o")
    assert split_model("ollama/library/llama3:8b") == ("ollama", "library/llama3:8b")


def test_env_overrides_ecosystem_variable_and_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        '[providers.acme]\napi_key = "from-file"\nbase_url = "https://file.invalid"\ntimeout = 5\n'
    )
    ai = AI(persistence=False, registry=registry())
    config = ai.providers.config("acme")
    assert config.api_key is not None and config.api_key.get_secret_value() == "from-file"
    assert config.base_url == "https://file.invalid" and config.timeout == 5
    monkeypatch.setenv("ACME_KEY", "ecosystem")
    assert ai.providers.config("acme").api_key.get_secret_value() == "ecosystem"  # type: ignore[union-attr]
    monkeypatch.setenv("AI_ACME_API_KEY", "ours")
    monkeypatch.setenv("AI_ACME_TIMEOUT", "12.5")
    monkeypatch.setenv("AI_ACME_RETRY_ATTEMPTS", "0")
    config = ai.providers.config("acme")
    assert config.api_key.get_secret_value() == "ours"  # type: ignore[union-attr]
    assert config.timeout == 12.5 and config.retry_attempts == 0


def test_run_time_overrides_win_per_instance_and_per_conversation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AI_ACME_API_KEY", "env-key")
    tenant_a = AI(persistence=False, registry=registry(), providers={"acme": {"api_key": "tenant-a"}})
    tenant_b = AI(persistence=False, registry=registry())
    assert tenant_a.providers.config("acme").api_key.get_secret_value() == "tenant-a"  # type: ignore[union-attr]
    assert tenant_b.providers.config("acme").api_key.get_secret_value() == "env-key"  # type: ignore[union-attr]
    chat = tenant_b.conversation("acme/m").credentials(api_key="tenant-c", base_url="https://c.invalid")
    config = tenant_b.providers.config("acme", chat._overrides["acme"])
    assert config.api_key.get_secret_value() == "tenant-c" and config.base_url == "https://c.invalid"  # type: ignore[union-attr]
    assert tenant_b.providers.config("acme").base_url == "https://acme.invalid/v1"


def test_per_conversation_key_reaches_the_driver() -> None:
    ai = AI(persistence=False, registry=registry())
    reply = ai.conversation("acme/m").credentials(api_key="tenant-key").user("hi").send()
    assert reply.text == "Echo: hi"
    ai.close()


def test_missing_key_is_a_clear_error_naming_the_variables() -> None:
    ai = AI(persistence=False, registry=registry())
    with pytest.raises(MissingCredentialsError, match="AI_ACME_API_KEY or ACME_KEY"):
        ai.conversation("acme/m").user("hi").send()
    ai.close()


def test_bad_numbers_are_configuration_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AI_ACME_TIMEOUT", "soon")
    with pytest.raises(ConfigurationError, match="AI_ACME_TIMEOUT"):
        Settings().provider("acme")


def test_persistence_off_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AI_PERSISTENCE", "off")
    assert load_settings().persistence is False
    assert load_settings(persistence=True).persistence is True


def test_default_model_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AI_DEFAULT_MODEL", "acme/big")
    assert Settings().default_model == "acme/big"


def test_plugins_setting_parses_none() -> None:
    assert Settings(plugins="none").enabled_plugins() == []
    assert Settings(plugins="openai, fake").enabled_plugins() == ["openai", "fake"]
    assert Settings().enabled_plugins() is None


def test_api_key_never_reaches_logs_or_reprs(caplog: pytest.LogCaptureFixture) -> None:
    from ai_core.logging import get_logger

    ai = AI(persistence=False, registry=registry(), providers={"acme": {"api_key": "sk-supersecretvalue123"}})
    config = ai.providers.config("acme")
    caplog.set_level(logging.DEBUG, logger="ai_core")
    from ai_core.redaction import remember_secret

    remember_secret("sk-supersecretvalue123")
    get_logger("ai_core.test").warning(
        "calling",
        config=repr(config),
        headers={"Authorization": "Bearer sk-supersecretvalue123"},
        note="key sk-supersecretvalue123",
    )
    assert "sk-supersecretvalue123" not in caplog.text
    assert "sk-supersecretvalue123" not in repr(config)
    assert "***" in caplog.text


class ClosingFake(FakeDriver):
    closed: list[str] = []

    async def aclose(self) -> None:
        ClosingFake.closed.append(self.config.api_key.get_secret_value())  # type: ignore[union-attr]


class ClosingPlugin:
    @hookimpl
    def register_providers(self, register):  # type: ignore[no-untyped-def]
        register(ProviderSpec(name="acme", driver=ClosingFake))


def test_per_tenant_drivers_are_bounded_and_evicted_ones_closed() -> None:
    import ai_core.builtin

    ai = AI(persistence=False, registry=PluginRegistry(plugins=[("core", ai_core.builtin), ("acme", ClosingPlugin())]))
    ai.providers.max_drivers = 2
    ClosingFake.closed.clear()
    for tenant_key in ("key-a", "key-b", "key-c"):
        ai.conversation("acme/m").credentials(api_key=tenant_key).user("hi").send()
    assert ClosingFake.closed == ["key-a"]  # the least recently used pool was closed
    assert len(ai.providers._cache) == 2
    ai.close()
