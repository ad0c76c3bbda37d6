"""ai-openai's hooks: the ``openai`` provider, its models and its prices.

Hook implementations only. The driver is named by an import string and the
catalogue is read when a hook runs, so importing this module costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from ai_core import hookimpl

if TYPE_CHECKING:
    from ai_core.dialects.catalog import Catalog

__all__ = ["register_models", "register_prices", "register_providers"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"


@cache
def catalog() -> Catalog:
    """The models and prices in ``ai_openai/data/catalog.toml`` (read once)."""
    from ai_core.dialects.catalog import read_package_catalog

    return read_package_catalog("openai", "ai_openai")


@hookimpl
def register_providers(register: Callable[[Any], None]) -> None:
    from ai_core import Capabilities, ProviderSpec

    register(
        ProviderSpec(
            name="openai",
            driver="ai_openai.driver:OpenAIDriver",
            capabilities=Capabilities(
                streaming=True,
                tools=True,
                tool_streaming=True,
                vision=True,
                json_schema=True,
                reasoning=True,
                list_models=True,
            ),
            default_base_url=DEFAULT_BASE_URL,
            api_key_env=("OPENAI_API_KEY",),
            description="OpenAI Chat Completions (GPT-4o, GPT-4.1, o-series, GPT-5)",
            default_model="gpt-4o-mini",
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
