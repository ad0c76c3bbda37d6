"""ai-openai's plugin module: light to import, and its models and prices register and price right."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ai_core import ModelInfo, ModelPrice, PluginRegistry, PriceBook, ProviderSpec, TokenUsage, compute_cost
from ai_openai import plugin


def registry() -> PluginRegistry:
    return PluginRegistry([("openai", plugin)])


def test_importing_the_plugin_loads_no_http_code() -> None:
    code = (
        "import sys, ai_openai.plugin; "
        "print(sorted({'httpx2', 'httpx', 'ai_openai.driver', 'ai_core.drivers.http'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_provider_spec() -> None:
    spec = registry().providers()["openai"]
    assert isinstance(spec, ProviderSpec)
    assert spec.default_base_url == "https://api.openai.com/v1"
    assert spec.api_key_env == ("OPENAI_API_KEY",)
    assert spec.capabilities.tools and spec.capabilities.vision and spec.capabilities.json_schema
    factory = spec.load_factory()
    assert factory.__name__ == "OpenAIDriver"


def test_models_and_prices_register() -> None:
    reg = registry()
    models = {m.id: m for m in reg.models() if m.provider == "openai"}
    assert {
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4.1",
        "gpt-4.1-mini",
        "gpt-4.1-nano",
        "o3",
        "o4-mini",
        "gpt-5",
        "gpt-5-mini",
    } <= set(models)
    assert all(isinstance(m, ModelInfo) for m in models.values())
    assert models["o4-mini"].reasoning and not models["gpt-4o"].reasoning
    prices = [p for p in reg.prices() if p.provider == "openai"]
    assert all(isinstance(p, ModelPrice) for p in prices)
    priced = {p.model for p in prices}
    aliases = {alias for m in models.values() for alias in m.aliases}
    assert priced == set(models) | aliases, "every model has a price and every price a model or alias"
    for model_id in {"gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o3", "o4-mini", "gpt-5", "gpt-5-mini"}:
        book = PriceBook(prices)
        assert book.price_at("openai", model_id).cached_input_per_mtok is not None, model_id


@pytest.mark.parametrize(
    ("model", "day", "rates"),
    [
        ("gpt-4o", date(2024, 6, 1), ("5.00", None, "15.00")),
        ("gpt-4o", date(2025, 1, 1), ("2.50", "1.25", "10.00")),
        ("o3", date(2025, 5, 1), ("10.00", "2.50", "40.00")),
        ("o3", date(2025, 6, 10), ("2.00", "0.50", "8.00")),
        ("gpt-5-mini", date(2026, 1, 1), ("0.25", "0.025", "2.00")),
    ],
)
def test_price_history_by_date(model: str, day: date, rates: tuple[str, str | None, str]) -> None:
    price = PriceBook(registry().prices()).price_at("openai", model, day)
    assert price is not None
    expected = tuple(None if r is None else Decimal(r) for r in rates)
    assert (price.input_per_mtok, price.cached_input_per_mtok, price.output_per_mtok) == expected


def test_no_price_before_a_model_existed() -> None:
    assert PriceBook(registry().prices()).price_at("openai", "gpt-5", date(2025, 1, 1)) is None


@given(
    st.integers(0, 2_000_000),
    st.integers(0, 200_000),
    st.integers(0, 100),
    st.integers(0, 100),
)
def test_cached_and_reasoning_tokens_priced_as_openai_prices_them(
    prompt: int, completion: int, cached_pct: int, reasoning_pct: int
) -> None:
    cached, reasoning = prompt * cached_pct // 100, completion * reasoning_pct // 100
    usage = TokenUsage(
        input_tokens=prompt, output_tokens=completion, cached_input_tokens=cached, reasoning_tokens=reasoning
    )
    price = PriceBook(registry().prices()).price_at("openai", "o4-mini", date(2026, 1, 1))
    cost = compute_cost(usage, price)
    # o4-mini: input 1.10, cached input 0.275, output (reasoning included) 4.40 per million
    expected = (
        Decimal(prompt - cached) * Decimal("1.10")
        + Decimal(cached) * Decimal("0.275")
        + Decimal(completion) * Decimal("4.40")
    ) / Decimal(10**6)
    assert cost.total == expected
