"""ai-openai's hooks: the ``openai`` provider, its models and its prices.

Data only: the driver is named by an import string and the catalogue
(``ai_openai/data/catalog.toml``) is read when a hook first runs, so importing
this module costs nothing.
"""

from __future__ import annotations

from ai_core.dialects.provider_hooks import catalog_provider_hooks

__all__ = ["DEFAULT_BASE_URL", "register_models", "register_prices", "register_providers"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"

register_providers, register_models, register_prices = catalog_provider_hooks(
    name="openai",
    package="ai_openai",
    driver="ai_openai.driver:OpenAIDriver",
    base_url=DEFAULT_BASE_URL,
    api_key_env=("OPENAI_API_KEY",),
    capabilities=("streaming", "tools", "tool_streaming", "vision", "json_schema", "reasoning", "batch", "list_models"),
    description="OpenAI Chat Completions (GPT-4o, GPT-4.1, o-series, GPT-5)",
    default_model="gpt-4o-mini",
)
