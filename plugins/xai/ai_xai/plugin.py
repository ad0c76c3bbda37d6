"""ai-xai's hooks: the ``xai`` provider, its models and its prices.

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

DEFAULT_BASE_URL = "https://api.x.ai/v1"


@cache
def catalog() -> Catalog:
    """The models and prices in ``ai_xai/data/catalog.toml`` (read once)."""
    from ai_core.dialects.catalog import read_package_catalog

    return read_package_catalog("xai", "ai_xai")


@hookimpl
def register_providers(register: Callable[[Any], None]) -> None:
    from ai_core import Capabilities, ProviderSpec

    register(
        ProviderSpec(
            name="xai",
            driver="ai_xai.driver:XAIDriver",
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
            api_key_env=("XAI_API_KEY",),
            description="xAI Grok models (OpenAI-compatible Chat Completions)",
            default_model="grok-4.3",
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
