"""ai-xai's plugin module: light to import; models, prices and retired names priced right."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from decimal import Decimal

import pytest

from ai_core import PluginRegistry, PriceBook, TokenUsage, compute_cost
from ai_xai import plugin
from ai_xai.profile import is_chat_model, is_reasoning_model

RETIRED = [
    "grok-4-1-fast-reasoning",
    "grok-4-1-fast-non-reasoning",
    "grok-4-fast-reasoning",
    "grok-4-fast-non-reasoning",
    "grok-4-0709",
    "grok-code-fast-1",
    "grok-3",
]


def registry() -> PluginRegistry:
    return PluginRegistry([("xai", plugin)])


def test_importing_the_plugin_loads_no_http_code() -> None:
    code = (
        "import sys, ai_xai.plugin; "
        "print(sorted({'httpx2', 'ai_xai.driver', 'ai_core.drivers.http'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_provider_spec() -> None:
    spec = registry().providers()["xai"]
    assert spec.default_base_url == "https://api.x.ai/v1"
    assert spec.api_key_env == ("XAI_API_KEY",)
    assert spec.load_factory().__name__ == "XAIDriver"


def test_retired_models_are_served_by_grok_4_3() -> None:
    models = {m.id: m for m in registry().models()}
    assert {"grok-4.3", "grok-3-mini", *RETIRED} <= set(models)
    for name in RETIRED:
        assert models[name].served_by == "grok-4.3" and models[name].deprecated
    assert models["grok-4.3"].served_by is None and not models["grok-4.3"].deprecated


@pytest.mark.parametrize("name", RETIRED)
def test_retired_models_cost_what_grok_4_3_costs_after_retirement(name: str) -> None:
    book = PriceBook(registry().prices())
    usage = TokenUsage(input_tokens=50_000, output_tokens=3_000, cached_input_tokens=20_000, reasoning_tokens=2_000)
    after = date(2026, 6, 1)
    retired_cost = compute_cost(usage, book.price_at("xai", name, after)).total
    assert retired_cost == compute_cost(usage, book.price_at("xai", "grok-4.3", after)).total
    # before the retirement the model had its own price, and history keeps it
    before = book.price_at("xai", name, date(2026, 5, 14))
    assert before is not None and before.input_per_mtok != Decimal("1.25")


def test_grok_4_3_prices_cached_input_and_long_context() -> None:
    price = PriceBook(registry().prices()).price_at("xai", "grok-4.3", date(2026, 11, 1))
    short = compute_cost(TokenUsage(input_tokens=100_000, output_tokens=1_000, cached_input_tokens=50_000), price)
    assert (
        short.total
        == (Decimal(50_000) * Decimal("1.25") + Decimal(50_000) * Decimal("0.20") + Decimal(1_000) * Decimal("2.50"))
        / 10**6
    )
    long = compute_cost(TokenUsage(input_tokens=300_000, output_tokens=1_000), price)
    assert long.total == (Decimal(300_000) * Decimal("2.50") + Decimal(1_000) * Decimal("5.00")) / 10**6


def test_model_classification() -> None:
    assert all(
        map(
            is_reasoning_model,
            ["grok-4.3", "grok-3-mini", "grok-4-0709", "grok-code-fast-1", "grok-4-1-fast-reasoning"],
        )
    )
    assert not any(map(is_reasoning_model, ["grok-3", "grok-2-1212", "grok-4-fast-non-reasoning", "llama3"]))
    assert (
        is_chat_model("grok-4.3") and not is_chat_model("grok-imagine-image") and not is_chat_model("grok-2-image-1212")
    )
