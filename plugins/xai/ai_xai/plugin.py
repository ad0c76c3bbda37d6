"""ai-xai's hooks: the ``xai`` provider, its models and its prices.

Data only: the driver is named by an import string and the catalogue
(``ai_xai/data/catalog.toml``) is read when a hook first runs, so importing
this module costs nothing. xAI speaks the shared Chat Completions dialect with
its own profile (``ai_xai.profile``).
"""

from __future__ import annotations

from ai_core.dialects.provider_hooks import catalog_provider_hooks

__all__ = ["DEFAULT_BASE_URL", "register_models", "register_prices", "register_providers"]

DEFAULT_BASE_URL = "https://api.x.ai/v1"

register_providers, register_models, register_prices = catalog_provider_hooks(
    name="xai",
    package="ai_xai",
    driver="ai_xai.driver:XAIDriver",
    base_url=DEFAULT_BASE_URL,
    api_key_env=("XAI_API_KEY",),
    capabilities=("streaming", "tools", "tool_streaming", "vision", "json_schema", "reasoning", "batch", "list_models"),
    description="xAI Grok models (OpenAI-compatible Chat Completions)",
    default_model="grok-4.3",
)
