"""catalog_provider_hooks: what its options do, and what a shortcut provider advertises by default."""

from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ai_core import PluginRegistry, builtin, catalog_provider_hooks

CATALOG = '[[models]]\nid = "m1"\n\n[[prices]]\nmodel = "m1"\neffective_from = 2025-01-01\ninput = "1"\noutput = "2"\n'


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"svc_{uuid.uuid4().hex[:8]}"
    (tmp_path / name / "data").mkdir(parents=True)
    (tmp_path / name / "__init__.py").write_text("")
    (tmp_path / name / "data" / "catalog.toml").write_text(CATALOG)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def registry_of(**options: Any) -> PluginRegistry:
    hooks = catalog_provider_hooks(**options)
    plugin = SimpleNamespace(
        **dict(zip(("register_providers", "register_models", "register_prices"), hooks, strict=True))
    )
    return PluginRegistry(plugins=[("core", builtin), ("svc", plugin)])


def test_a_shortcut_provider_does_not_advertise_reasoning_or_batch(package: str) -> None:
    registry = registry_of(name="svc", package=package, base_url="http://127.0.0.1:1/v1")
    spec = registry.providers()["svc"]
    assert spec.capabilities.names() == ["streaming", "tools", "tool_streaming", "vision", "json_schema", "list_models"]
    assert not spec.capabilities.reasoning and not spec.capabilities.batch
    assert spec.driver == "ai_core.dialects.openai_chat:OpenAIChatDriver"  # the default driver
    assert spec.requires_api_key and spec.default_base_url == "http://127.0.0.1:1/v1"


def test_every_option_reaches_the_provider(package: str) -> None:
    registry = registry_of(
        name="svc", package=package, base_url="http://127.0.0.1:1/v1", driver="svc_driver:Driver",
        api_key_env=("SVC_KEY",), requires_api_key=False, capabilities=("streaming", "reasoning"),
        default_model="m1", description="a service",
    )  # fmt: skip
    spec = registry.providers()["svc"]
    assert spec.capabilities.names() == ["streaming", "reasoning"]
    assert (spec.driver, spec.api_key_env, spec.requires_api_key) == ("svc_driver:Driver", ("SVC_KEY",), False)
    assert (spec.default_model, spec.description) == ("m1", "a service")
    assert [m.qualified_id for m in registry.models()] == ["svc/m1"]


def test_an_unknown_capability_is_a_load_error(package: str) -> None:
    registry = registry_of(name="svc", package=package, base_url="http://x/v1", capabilities=("streaming", "telepathy"))
    [error] = registry.load_errors
    assert error.phase == "register_providers" and "unknown capabilities ['telepathy']" in error.error


def test_a_catalogue_elsewhere_in_the_package(package: str, tmp_path: Path) -> None:
    (tmp_path / package / "data" / "catalog.toml").rename(tmp_path / package / "models.toml")
    registry = registry_of(name="svc", package=package, base_url="http://x/v1", catalog="models.toml")
    assert registry.load_errors == [] and [m.id for m in registry.models()] == ["m1"]


def test_first_party_plugins_still_advertise_what_they_support() -> None:
    from ai_openai import plugin as openai_plugin
    from ai_xai import plugin as xai_plugin

    registry = PluginRegistry(plugins=[("openai", openai_plugin), ("xai", xai_plugin)])
    for name in ("openai", "xai"):
        assert registry.providers()[name].capabilities.reasoning, name
