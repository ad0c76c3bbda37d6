"""Discovery through real entry points: enabled-set filtering before import, broken plugins."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stevedore.extension import ExtensionManager

from ai_core import plugins
from ai_core.errors import ConfigurationError
from ai_core.plugins import PluginRegistry, default_registry, parse_plugin_names, reset_default_registry


class Site:
    """A directory on sys.path holding fake distributions with ``ai_core`` entry points."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.tag = uuid.uuid4().hex[:8]  # fresh module names: no sys.modules leftovers between tests
        monkeypatch.syspath_prepend(str(root))
        # stevedore caches each group's entry points per process; a new site must be seen.
        monkeypatch.setattr(ExtensionManager, "ENTRY_POINT_CACHE", {})

    def module(self, stem: str) -> str:
        return f"{stem}_{self.tag}"

    def distribution(self, dist: str, version: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
        info = self.root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[ai_core]\n{lines}\n")
        for name, source in modules.items():
            (self.root / f"{name}.py").write_text(textwrap.dedent(source))


GOOD = """
    from ai_core.hookspecs import hookimpl

    @hookimpl
    def register_providers(register):
        from ai_core.drivers.base import ProviderSpec
        register(ProviderSpec(name="{provider}", driver="x:Y"))
"""
EXPLODES = "raise RuntimeError('this plugin must not be imported')\n"


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Site:
    monkeypatch.delenv("AI_CORE_PLUGINS", raising=False)
    monkeypatch.delenv("AI_PLUGINS", raising=False)
    monkeypatch.setenv("AI_CONFIG_FILE", str(tmp_path / "absent.toml"))
    (tmp_path / "site").mkdir()
    return Site(tmp_path / "site", monkeypatch)


def test_only_enabled_plugins_are_imported(site: Site) -> None:
    good, bomb = site.module("good"), site.module("bomb")
    site.distribution("acme-good", "1.2.3", {"good": good}, {good: GOOD.format(provider="good")})
    site.distribution("acme-bomb", "0.1", {"bomb": bomb}, {bomb: EXPLODES})

    registry = PluginRegistry.from_entry_points(["good"])

    assert registry.plugin_names() == ["core", "good"]
    assert list(registry.providers()) == ["good"]
    assert registry.load_errors == []  # the bomb was filtered out before import
    assert bomb not in sys.modules


def test_a_plugin_that_raises_on_import_is_reported_with_its_distribution(site: Site) -> None:
    good, bomb = site.module("good"), site.module("bomb")
    site.distribution("acme-good", "1.2.3", {"good": good}, {good: GOOD.format(provider="good")})
    site.distribution("acme-bomb", "0.1", {"bomb": bomb}, {bomb: EXPLODES})

    registry = PluginRegistry.from_entry_points(["good", "bomb"])

    assert registry.plugin_names() == ["core", "good"]
    [error] = registry.load_errors
    assert (error.name, error.distribution, error.version, error.phase) == ("bomb", "acme-bomb", "0.1", "import")
    assert error.module == bomb
    assert "RuntimeError: this plugin must not be imported" in error.error
    assert {i.name: (i.distribution, i.version) for i in registry.inventory()}["good"] == ("acme-good", "1.2.3")


def test_assertion_error_at_import_is_not_fatal(site: Site) -> None:
    asserts = site.module("asserts")
    site.distribution("acme-asserts", "1", {"asserts": asserts}, {asserts: "assert False, 'nope'\n"})
    registry = PluginRegistry.from_entry_points(["asserts"])
    assert registry.load_errors[0].name == "asserts"
    assert "nope" in registry.load_errors[0].error


def test_environment_variable_chooses_and_none_loads_only_core(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    good = site.module("good")
    site.distribution("acme-good", "1.2.3", {"good": good}, {good: GOOD.format(provider="good")})

    monkeypatch.setenv("AI_CORE_PLUGINS", "good")
    assert PluginRegistry.from_entry_points().plugin_names() == ["core", "good"]
    for value in ("", "none", " none "):
        monkeypatch.setenv("AI_CORE_PLUGINS", value)
        registry = PluginRegistry.from_entry_points()
        assert registry.plugin_names() == ["core"]
        assert registry.providers() == {}


def test_the_plugins_setting_is_used_when_the_variable_is_unset(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    good = site.module("good")
    site.distribution("acme-good", "1.2.3", {"good": good}, {good: GOOD.format(provider="good")})
    monkeypatch.setenv("AI_PLUGINS", "good")
    assert PluginRegistry.from_entry_points().plugin_names() == ["core", "good"]


def test_unset_loads_everything_installed(site: Site) -> None:
    good = site.module("good")
    site.distribution("acme-good", "1.2.3", {"good": good}, {good: GOOD.format(provider="good")})
    registry = PluginRegistry.from_entry_points()
    assert "good" in registry.plugin_names()
    assert registry.plugin_names()[0] == "core"
    assert "fake" in registry.plugin_names()


def test_a_name_not_installed_is_reported(site: Site) -> None:
    registry = PluginRegistry.from_entry_points(["missing"])
    [error] = registry.load_errors
    assert (error.name, error.phase) == ("missing", "not installed")


def test_default_registry_is_cached_until_reset(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AI_CORE_PLUGINS", "none")
    reset_default_registry()
    try:
        first = default_registry()
        assert default_registry() is first
        reset_default_registry()
        assert default_registry() is not first
    finally:
        reset_default_registry()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("openai,fake", ["openai", "fake"]),
        (" openai , fake,,openai ", ["openai", "fake"]),
        ("openai fake", ["openai", "fake"]),
        (["openai", " fake "], ["openai", "fake"]),
        ("", []),
        ("none", []),
        ([], []),
        ("all", None),
        ("*", None),
        (None, None),
    ],
)
def test_parse_plugin_names(value: str | list[str] | None, expected: list[str] | None) -> None:
    assert parse_plugin_names(value) == expected


@pytest.mark.parametrize("value", ["open;ai", "-x", "a,b/c", ["ok", "bad name"]])
def test_bad_plugin_names_are_a_configuration_error(value: str | list[str]) -> None:
    with pytest.raises(ConfigurationError, match="invalid plugin name"):
        parse_plugin_names(value)


_names = st.from_regex(r"[a-z][a-z0-9_\-]{0,12}", fullmatch=True).filter(lambda n: n not in ("none", "all"))


@given(st.lists(_names, max_size=6), st.sampled_from([",", ", ", " "]))
def test_parse_round_trips_any_list(names: list[str], sep: str) -> None:
    assert parse_plugin_names(sep.join(names)) == list(dict.fromkeys(names))


def test_importing_the_registry_module_loads_no_plugin_machinery() -> None:
    code = (
        "import sys, threading, ai_core.plugins\n"
        "heavy = ('stevedore', 'httpx', 'httpx2', 'pydantic', 'ai_core.builtin', 'ai_core.drivers.fake_plugin')\n"
        "bad = [m for m in heavy if m in sys.modules]\n"
        "assert not bad, bad\n"
        "assert threading.active_count() == 1\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert plugins.ENTRY_POINT_GROUP == "ai_core"


@pytest.mark.parametrize(
    ("env", "file"),
    [
        (None, None),
        ("openai,fake", None),
        ("", None),
        (None, 'plugins = "fake, openai"\n'),
        (None, 'plugins = "none"\n'),
        ("fake", 'plugins = "openai"\n'),  # the environment beats the file
        (None, 'default_model = "fake/echo"\n'),
    ],
)
def test_plugins_setting_read_like_settings_reads_it(
    env: str | None, file: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """plugins.py reads the setting without pydantic-settings (startup time); it must agree."""
    from ai_core.config import load_settings

    monkeypatch.delenv("AI_CORE_PLUGINS", raising=False)
    config = tmp_path / "config.toml"
    monkeypatch.setenv("AI_CONFIG_FILE", str(config))
    if file is not None:
        config.write_text(file)
    if env is None:
        monkeypatch.delenv("AI_PLUGINS", raising=False)
    else:
        monkeypatch.setenv("AI_PLUGINS", env)
    assert plugins.enabled_plugins_from_environment() == load_settings().enabled_plugins()


def test_unreadable_config_file_is_a_configuration_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AI_CORE_PLUGINS", raising=False)
    monkeypatch.delenv("AI_PLUGINS", raising=False)
    config = tmp_path / "config.toml"
    config.write_text("plugins = [unclosed\n")
    monkeypatch.setenv("AI_CONFIG_FILE", str(config))
    with pytest.raises(ConfigurationError, match="cannot read config file"):
        plugins.enabled_plugins_from_environment()
