"""ai-gemini's hooks: the ``gemini`` provider, its models and its prices.

Data only: the driver is named by an import string and the catalogue
(``ai_gemini/data/catalog.toml``) is read when a hook first runs, so importing
this module costs nothing. Gemini speaks its own wire format (the Generative
Language API v1beta), translated in :mod:`ai_gemini.wire`.
"""

from __future__ import annotations

from ai_core import catalog_provider_hooks

__all__ = ["DEFAULT_BASE_URL", "register_models", "register_prices", "register_providers"]

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"

register_providers, register_models, register_prices = catalog_provider_hooks(
    name="gemini",
    package="ai_gemini",
    driver="ai_gemini.driver:GeminiDriver",
    base_url=DEFAULT_BASE_URL,
    api_key_env=("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    capabilities=("streaming", "tools", "tool_streaming", "vision", "json_schema", "reasoning", "batch", "list_models"),
    description="Google Gemini (Generative Language API v1beta)",
    default_model="gemini-2.5-flash",
)
