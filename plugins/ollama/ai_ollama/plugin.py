"""ai-ollama's hooks: the ``ollama`` provider, its default model and a zero cost.

Data only at import: the driver is named by an import string and the catalogue
(``ai_ollama/data/catalog.toml``) is read when a hook first runs. ``ai models pull
ollama/NAME`` is core's command, calling the driver's ``pull``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from ai_core import hookimpl
from ai_core.dialects.provider_hooks import catalog_provider_hooks

if TYPE_CHECKING:
    from ai_core.types import Cost, ModelPrice, TokenUsage

__all__ = [
    "DEFAULT_BASE_URL",
    "calculate_cost",
    "register_models",
    "register_prices",
    "register_providers",
]

DEFAULT_BASE_URL = "http://127.0.0.1:11434"

register_providers, register_models, register_prices = catalog_provider_hooks(
    name="ollama",
    package="ai_ollama",
    driver="ai_ollama.driver:OllamaDriver",
    # Empty: the driver resolves AI_OLLAMA_BASE_URL, then OLLAMA_HOST, then DEFAULT_BASE_URL.
    base_url="",
    requires_api_key=False,
    # What the driver can carry; each local model's own capabilities come from /api/show
    # (`ai models --provider ollama`, `ai models sync --provider ollama --remote`).
    capabilities=("streaming", "tools", "tool_streaming", "vision", "json_schema", "reasoning", "list_models"),
    description="Ollama, local models (native /api/chat, NDJSON streaming)",
    default_model="llama3.2",
)


@hookimpl
def calculate_cost(
    provider: str, model: str, usage: TokenUsage, priced_at: datetime, price: ModelPrice | None
) -> Cost | None:
    """A local model costs nothing: a known zero, never "unknown" (which budgets refuse).

    A price row for the model (the catalogue, the config file) wins, since core's price
    table prices it; so does a ``calculate_cost`` hook marked ``tryfirst``.
    """
    if provider != "ollama" or price is not None:
        return None
    from decimal import Decimal

    from ai_core.types import Cost

    return Cost(total=Decimal(0), provider=provider, model=model, priced_by="ai-ollama: local, free")
