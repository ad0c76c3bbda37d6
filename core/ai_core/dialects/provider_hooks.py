"""The three hooks of a provider that ships its catalogue as data.

A provider plugin for a shared dialect differs from the next only in data:
name, driver, base URL, key variables and ``<package>/data/catalog.toml``. So
its ``plugin.py`` is one call::

    register_providers, register_models, register_prices = catalog_provider_hooks(
        name="acme", package="acme_ai", base_url="https://api.acme.example/v1", api_key_env=("ACME_API_KEY",),
    )

It works for any driver (pass ``driver="acme_ai.driver:AcmeDriver"``); the
default is core's OpenAI Chat Completions driver. Nothing heavy is imported
here or by the call: the spec and the catalogue are built when a hook first
runs, so importing the plugin stays free.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from ai_core.hookspecs import hookimpl

__all__ = ["CHAT_CAPABILITIES", "OPENAI_CHAT_DRIVER", "catalog_provider_hooks"]

Hook = Callable[[Callable[[Any], None]], None]
OPENAI_CHAT_DRIVER = "ai_core.dialects.openai_chat:OpenAIChatDriver"
CHAT_CAPABILITIES = ("streaming", "tools", "tool_streaming", "vision", "json_schema", "list_models")
"""What a plain OpenAI-compatible server offers. Not ``reasoning`` or ``batch``:
a provider that has them says so (``capabilities=(*CHAT_CAPABILITIES, "reasoning")``)."""


def catalog_provider_hooks(
    *,
    name: str,
    package: str,
    base_url: str,
    driver: str = OPENAI_CHAT_DRIVER,
    api_key_env: Sequence[str] = (),
    requires_api_key: bool = True,
    capabilities: Sequence[str] = CHAT_CAPABILITIES,
    default_model: str | None = None,
    description: str = "",
    catalog: str = "data/catalog.toml",
) -> tuple[Hook, Hook, Hook]:
    """``register_providers``, ``register_models`` and ``register_prices`` for one provider.

    :param name: the provider name, as in ``"acme/rocket-1"`` and ``AI_ACME_API_KEY``.
    :param package: the import package that ships the catalogue.
    :param base_url: where the API lives. For the OpenAI Chat dialect this
        includes the version prefix (``https://api.acme.example/v1``): the
        driver appends ``/chat/completions`` and ``/models``.
        ``AI_<NAME>_BASE_URL`` or the config file's ``base_url`` override it.
    :param driver: ``"module:Class"`` of the driver, imported on first use.
    :param api_key_env: extra variables holding the key, besides ``AI_<NAME>_API_KEY``.
    :param requires_api_key: ``False`` for a server that needs no key (a local
        vLLM or LM Studio); otherwise a call without a key fails before
        sending, naming the variables to set.
    :param capabilities: what the provider supports, listed by ``ai plugins``
        (names of :class:`~ai_core.Capabilities` fields).
    :param default_model: the model ``ai`` picks for this provider when none is named.
    :param description: one line for ``ai plugins``.
    :param catalog: the catalogue's path inside ``package`` (docs/catalogs.md has the format).
    """
    chosen = tuple(capabilities)

    @cache
    def load() -> Any:
        from ai_core.dialects.catalog import read_package_catalog

        return read_package_catalog(name, package, catalog)

    @hookimpl
    def register_providers(register: Callable[[Any], None]) -> None:
        from ai_core.drivers.base import ProviderSpec
        from ai_core.types import Capabilities

        known = list(Capabilities.model_fields)
        unknown = sorted(set(chosen) - set(known))
        if unknown:
            raise ValueError(f"provider {name!r}: unknown capabilities {unknown}; known: {', '.join(known)}")
        register(
            ProviderSpec(
                name=name,
                driver=driver,
                capabilities=Capabilities(**{capability: capability in chosen for capability in known}),
                default_base_url=base_url,
                api_key_env=tuple(api_key_env),
                requires_api_key=requires_api_key,
                description=description,
                default_model=default_model,
            )
        )

    @hookimpl
    def register_models(register: Callable[[Any], None]) -> None:
        for model in load().models:
            register(model)

    @hookimpl
    def register_prices(register: Callable[[Any], None]) -> None:
        for price in load().prices:
            register(price)

    return register_providers, register_models, register_prices
