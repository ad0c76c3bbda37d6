"""The three hooks of a provider that ships its catalogue as data.

A provider plugin for a shared dialect differs from the next only in data:
name, driver, base URL, key variables and ``<package>/data/catalog.toml``. So
its ``plugin.py`` is one call::

    register_providers, register_models, register_prices = catalog_provider_hooks(
        name="acme", package="acme_ai", driver="acme_ai.driver:AcmeDriver",
        base_url="https://api.acme.example/v1", api_key_env=("ACME_API_KEY",),
    )

Nothing heavy is imported here or by the call: the spec and the catalogue are
built when a hook first runs, so importing the plugin stays free.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from ai_core.hookspecs import hookimpl

__all__ = ["catalog_provider_hooks"]

Hook = Callable[[Callable[[Any], None]], None]
CHAT_CAPABILITIES = ("streaming", "tools", "tool_streaming", "vision", "json_schema", "reasoning", "list_models")


def catalog_provider_hooks(
    *,
    name: str,
    package: str,
    driver: str,
    base_url: str,
    api_key_env: Sequence[str] = (),
    description: str = "",
    default_model: str | None = None,
    capabilities: Sequence[str] = CHAT_CAPABILITIES,
    requires_api_key: bool = True,
) -> tuple[Hook, Hook, Hook]:
    """``register_providers``, ``register_models`` and ``register_prices`` for one provider."""

    @cache
    def catalog() -> Any:
        from ai_core.dialects.catalog import read_package_catalog

        return read_package_catalog(name, package)

    @hookimpl
    def register_providers(register: Callable[[Any], None]) -> None:
        from ai_core.drivers.base import ProviderSpec
        from ai_core.types import Capabilities

        register(
            ProviderSpec(
                name=name,
                driver=driver,
                capabilities=Capabilities(**{capability: True for capability in capabilities}),
                default_base_url=base_url,
                api_key_env=tuple(api_key_env),
                requires_api_key=requires_api_key,
                description=description,
                default_model=default_model,
            )
        )

    @hookimpl
    def register_models(register: Callable[[Any], None]) -> None:
        for model in catalog().models:
            register(model)

    @hookimpl
    def register_prices(register: Callable[[Any], None]) -> None:
        for price in catalog().prices:
            register(price)

    return register_providers, register_models, register_prices
