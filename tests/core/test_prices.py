"""The shipped catalogues against the installed genai-prices, tier edges, aliases and snapshot ids."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ai_core.costs import PriceBook, compute_cost
from ai_core.costs.genai_source import compare_catalog, installed_version, render_catalog
from ai_core.dialects.catalog import Catalog, load_catalog, read_package_catalog
from ai_core.types import ModelPrice, TokenUsage

# genai-prices is a dev tool (dev.py DEV_TOOLS) and ai-core[prices]: these tests need it, never skip.

SHIPPED = (("openai", "ai_openai"), ("xai", "ai_xai"))
# Gemini's catalogue is kept by hand (genai-prices' google provider lacks several Gemini models),
# so it is compared with the source but not re-imported from it.
COMPARED = (*SHIPPED, ("gemini", "ai_gemini"))


def _catalog(provider: str, package: str) -> Catalog:
    return read_package_catalog(provider, package)


@pytest.mark.parametrize(("provider", "package"), COMPARED)
def test_every_shipped_price_matches_the_installed_genai_prices(provider: str, package: str) -> None:
    catalog = _catalog(provider, package)
    compared, problems = compare_catalog(provider, catalog.models, catalog.prices)
    assert not problems, "\n".join(problems[:40])
    assert compared > 50


def test_the_check_catches_a_wrong_price_a_missing_source_and_an_unexplained_model() -> None:
    catalog = _catalog("xai", "ai_xai")
    wrong = [
        p.model_copy(update={"tiers": (p.tiers[0].model_copy(update={"cached_input_per_mtok": Decimal("0.20")}),)})
        if p.model == "grok-4.3"
        else p
        for p in catalog.prices
    ]
    problems = compare_catalog("xai", catalog.models, wrong)[1]
    assert problems and all("xai/grok-4.3@2026-04-30" in p or "grok-4.3" in p for p in problems)
    assert any("199999 input" not in p and "200000 input" in p for p in problems)  # only above the edge
    made_up = load_catalog("xai", '[[models]]\nid = "grok-99"\n[[prices]]\nmodel = "grok-99"\n'
                           'effective_from = 2026-01-01\ninput = "1"\noutput = "2"\nsource = "genai-prices"\n'
                           'source_version = "0.2.3"\nsource_date = 2026-12-01\n')  # fmt: skip
    assert compare_catalog("xai", made_up.models, made_up.prices)[1] == [
        "xai/grok-99@2026-01-01: genai-prices does not price grok-99 (add an override saying why)"
    ]
    typed = load_catalog("xai", '[[models]]\nid = "grok-4.3"\n[[prices]]\nmodel = "grok-4.3"\n'
                         'effective_from = 2026-04-30\ninput = "1.25"\noutput = "2.5"\n')  # fmt: skip
    assert "no provenance" in compare_catalog("xai", typed.models, typed.prices)[1][0]
    terse = load_catalog("xai", '[[models]]\nid = "grok-99"\n[[prices]]\nmodel = "grok-99"\n'
                         'effective_from = 2026-01-01\ninput = "1"\noutput = "2"\noverride = "trust me"\n')  # fmt: skip
    assert "an override must say why" in compare_catalog("xai", terse.models, terse.prices)[1][0]


@pytest.mark.parametrize(("provider", "package"), SHIPPED)
def test_every_row_of_the_shipped_catalogues_says_where_it_comes_from(provider: str, package: str) -> None:
    version = installed_version()
    for row in _catalog(provider, package).prices:
        assert row.override is not None or (row.source == "genai-prices" and row.source_version), row
        if row.source is not None:
            assert row.source_version == version, f"{row.model}: re-import the catalogue from genai-prices {version}"


@pytest.mark.parametrize(("provider", "package"), SHIPPED)
def test_each_tier_edge_is_priced_at_the_right_rate(provider: str, package: str) -> None:
    """At the threshold the row's base rates apply; one token more, the whole call is at the tier's."""
    million = Decimal(1_000_000)
    tiered = [row for row in _catalog(provider, package).prices if row.tiers]
    assert tiered, "expected long-context tiers in the catalogue"
    for row in tiered:
        previous = (row.input_per_mtok, row.output_per_mtok, row.cached_input_per_mtok or row.input_per_mtok)
        for tier in row.tiers:
            edge = tier.above_input_tokens
            rates = (tier.input_per_mtok, tier.output_per_mtok, tier.cached_input_per_mtok or tier.input_per_mtok)
            for tokens, (rate_in, rate_out, rate_cached) in ((edge, previous), (edge + 1, rates)):
                cached = 1_000
                cost = compute_cost(TokenUsage(input_tokens=tokens, cached_input_tokens=cached, output_tokens=10), row)
                expected = ((tokens - cached) * rate_in + cached * rate_cached + 10 * rate_out) / million
                assert cost.total == expected, (row.model, tokens)
            previous = rates


def test_grok_4_3_long_context_starts_at_200000_tokens_with_cached_input_at_0_40() -> None:
    book = PriceBook(_catalog("xai", "ai_xai").prices)
    million = Decimal(1_000_000)
    for model in ("grok-4.3", "grok-3", "grok-4-0709"):  # the retired names bill as grok-4.3
        row = book.price_at("xai", model, date(2026, 6, 1))
        assert row is not None
        below = compute_cost(TokenUsage(input_tokens=199_999, cached_input_tokens=100_000, output_tokens=0), row)
        assert below.total == (99_999 * Decimal("1.25") + 100_000 * Decimal("0.20")) / million
        at = compute_cost(TokenUsage(input_tokens=200_000, cached_input_tokens=100_000, output_tokens=1), row)
        assert at.total == (100_000 * Decimal("2.50") + 100_000 * Decimal("0.40") + Decimal("5.00")) / million


def test_dated_snapshot_ids_and_aliases_are_billed_at_their_models_row() -> None:
    prices = _catalog("openai", "ai_openai").prices
    book = PriceBook(prices)
    day = date(2025, 3, 1)
    base = book.price_at("openai", "gpt-4o", day)
    listed = book.price_at("openai", "gpt-4o-2024-08-06", day)  # an alias the catalogue lists
    assert base is not None and listed is not None
    assert (listed.input_per_mtok, listed.billed_as, listed.effective_from) == (
        Decimal("2.5"),
        "gpt-4o",
        date(2024, 10, 2),
    )
    usage = TokenUsage(input_tokens=1_000, output_tokens=100)
    cost = compute_cost(usage, listed)
    assert cost.total == compute_cost(usage, base).total and cost.model == "gpt-4o-2024-08-06"
    assert cost.priced_by == f"gpt-4o@2024-10-02 genai-prices {installed_version()}"
    # A snapshot id no catalogue lists (genai-prices matches these with a pattern).
    snapshot = book.price_at("openai", "gpt-6-sol-2026-09-30")
    assert snapshot is not None and snapshot.billed_as == "gpt-6-sol" and snapshot.model == "gpt-6-sol-2026-09-30"
    assert book.price_at("openai", "gpt-6-sol-2026-09-30") == snapshot
    assert book.price_at("openai", "no-such-model-2026-09-30") is None
    # The gpt-4o alias's own history (5.00 before 2024-10-02) is not its snapshots'.
    assert book.price_at("openai", "gpt-4o", date(2024, 6, 1)).input_per_mtok == Decimal("5.00")  # type: ignore[union-attr]
    assert book.price_at("openai", "gpt-4o", date(2024, 6, 1)).priced_by.endswith(" override")  # type: ignore[union-attr]


def test_an_alias_cannot_name_another_model() -> None:
    from ai_core.dialects.catalog import CatalogError

    text = """
[[models]]
id = "a"
aliases = ["b"]
[[models]]
id = "b"
"""
    with pytest.raises(CatalogError, match="alias 'b' of 'a' is already an id"):
        load_catalog("p", text)


def test_reimporting_the_shipped_catalogues_changes_nothing() -> None:
    """The catalogues are exactly what the importer makes of the installed genai-prices."""
    from importlib import resources

    for provider, package in SHIPPED:
        text = resources.files(package).joinpath("data/catalog.toml").read_text(encoding="utf-8")
        header = text.split("\n[[", 1)[0].split("\n# ----", 1)[0]
        imported_on = next(row.source_date for row in _catalog(provider, package).prices if row.source_date)
        assert render_catalog(provider, text, header=header, imported_on=imported_on) == text, provider


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('source_version = "1.0"', "source_version and source_date need a 'source'"),
        ("source_date = 2026-01-01", "source_version and source_date need a 'source'"),
        ('source = ""', "key 'source' must be a non-empty string"),
        ("override = 3", "key 'override' must be a non-empty string"),
        ('source_date = "2026-01-01"', "key 'source_date' must be a TOML date"),
    ],
)
def test_provenance_keys_are_checked(extra: str, message: str) -> None:
    from ai_core.dialects.catalog import CatalogError

    row = '[[prices]]\nmodel = "m"\neffective_from = 2026-01-01\ninput = "1"\noutput = "2"'
    text = f'[[models]]\nid = "m"\n{row}\n{extra}\n'
    with pytest.raises(CatalogError, match=message):
        load_catalog("p", text)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('aliases = "m-latest"', "key 'aliases' must be a list of model ids"),
        ('aliases = ["m"]', "alias 'm' of 'm' is already an id"),
        ("shutdown_on = 2026", "key 'shutdown_on' must be a TOML date"),
        ('replacement = ""', "key 'replacement' must be a non-empty string"),
    ],
)
def test_lifecycle_and_alias_keys_are_checked(extra: str, message: str) -> None:
    from ai_core.dialects.catalog import CatalogError

    with pytest.raises(CatalogError, match=message):
        load_catalog("p", f'[[models]]\nid = "m"\n{extra}\n')


def test_priced_by_fits_the_ledger_column() -> None:
    price = ModelPrice(provider="p", model="m" * 200, effective_from=date(2026, 1, 1), input_per_mtok=Decimal(1),
                       output_per_mtok=Decimal(1), source="genai-prices", source_version="10.20.30")  # fmt: skip
    assert len(price.priced_by) == 64
    longest = max((p.priced_by for provider, package in SHIPPED for p in _catalog(provider, package).prices), key=len)
    assert longest.endswith(installed_version()), longest  # no shipped row is cut short
