"""``ai models sync --prices``: refresh stored prices from the installed genai-prices (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from click.testing import CliRunner

from ai_core.costs import PriceBook
from ai_core.costs.genai_source import installed_version
from ai_core.dialects.catalog import load_catalog
from ai_core.hookspecs import hookimpl
from ai_core.jobs.sync_prices import sync_prices
from ai_core.storage.catalog import load_prices, read_prices
from ai_core.testing import fake_registry

pytestmark = pytest.mark.anyio

# An xAI catalogue as it was before this refresh: grok-4.3's long-context tier one token late and
# without its cached rate, and no grok-4.7.
STALE = load_catalog(
    "xai",
    """
[[models]]
id = "grok-4.3"

[[prices]]
model = "grok-4.3"
effective_from = 2026-04-30
input = "1.25"
cached_input = "0.20"
output = "2.50"
tiers = [{ above_input_tokens = 200000, input = "2.50", output = "5.00" }]
""",
)


class _StaleXai:
    @hookimpl
    def register_providers(self, register: Callable[[Any], None]) -> None:
        from ai_core.drivers.base import ProviderSpec

        register(ProviderSpec(name="xai", driver="ai_core.drivers.fake:FakeDriver", requires_api_key=False))

    @hookimpl
    def register_models(self, register: Callable[[Any], None]) -> None:
        for model in STALE.models:
            register(model)

    @hookimpl
    def register_prices(self, register: Callable[[Any], None]) -> None:
        for price in STALE.prices:
            register(price)


@pytest.fixture
def ai(database_url: str):
    from ai_core.app import AI

    return AI(database_url=database_url, persistence=True, registry=fake_registry(("stale-xai", _StaleXai())))


async def test_a_refresh_stores_new_models_and_changed_prices_and_a_second_one_changes_nothing(ai) -> None:
    async with ai:
        changes = await sync_prices(ai.services, provider="xai", today=date(2026, 12, 1))
        described = [change.describe() for change in changes]
        kinds = {(c.kind, c.price.model, c.price.effective_from) for c in changes}
        assert ("changed", "grok-4.3", date(2026, 4, 30)) in kinds, described
        assert any(kind == "new model" and model == "grok-4.7" for kind, model, _ in kinds), described
        changed = next(c for c in changes if c.kind == "changed")
        assert changed.before is not None and changed.before.tiers[0].above_input_tokens == 200000
        assert "above 199999: in 2.5 out 5" in changed.describe() and "(was " in changed.describe()
        stored = read_prices(ai.services.database)
        assert stored and all(p.source == "genai-prices" for p in stored)
        assert all((p.source_version, p.source_date) == (installed_version(), date(2026, 12, 1)) for p in stored)
        # Stored rows price what the catalogue lacks (grok-4.7, and its aliases).
        book = PriceBook(ai.services.registry.prices())
        assert book.price_at("xai", "grok-4.7") is None
        assert load_prices(ai.services.database, book) > 0
        row = book.price_at("xai", "grok-4.7-latest")
        assert row is not None and row.billed_as == "grok-4.7" and row.source == "genai-prices"
        # ...and the refreshed grok-4.3 row replaces the stale catalogue row it corrects.
        fixed = book.price_at("xai", "grok-4.3", date(2026, 6, 1))
        assert fixed is not None and fixed.tiers[0].above_input_tokens == 199999
        # Run again (even on another day): nothing new, nothing stored twice.
        assert await sync_prices(ai.services, provider="xai", today=date(2026, 12, 2)) == []
        assert read_prices(ai.services.database) == stored


async def test_the_shipped_catalogues_are_current_with_the_installed_genai_prices(database_url: str) -> None:
    from ai_core.app import AI

    async with AI(database_url=database_url, persistence=True) as ai:
        for provider in ("openai", "xai"):
            assert await sync_prices(ai.services, provider=provider) == [], provider


def test_the_command_lists_changes_then_nothing(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from ai_core.cli import cli as main

    monkeypatch.setenv("AI_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    for _ in range(2):
        result = runner.invoke(main, ["models", "sync", "--prices", "-p", "xai"])
        assert result.exit_code == 0, result.output
        assert result.output == f"genai-prices {installed_version()}: no price rows new or changed\n"
    refused = runner.invoke(main, ["models", "sync", "--prices", "-p", "nope"])
    assert refused.exit_code != 0 and "nope" in refused.output


def test_without_genai_prices_the_command_says_how_to_install_it(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from ai_core.cli import cli

    monkeypatch.setenv("AI_DATA_DIR", str(tmp_path))
    monkeypatch.setitem(sys.modules, "genai_prices", None)  # import genai_prices now fails
    result = CliRunner().invoke(cli, ["models", "sync", "--prices"])
    assert result.exit_code == 1
    assert "genai-prices is not installed; install it with: pip install 'ai-core[prices]'" in result.output
    assert "Traceback" not in result.output
