"""catalog.toml is validated when loaded: errors name the file, the entry and the TOML key; unknown keys fail."""

from __future__ import annotations

import re
import textwrap
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ai_core import CatalogError, PluginRegistry, builtin, catalog_provider_hooks
from ai_core.dialects.catalog import MODEL_KEYS, PRICE_KEYS, TIER_KEYS, catalog_from_data, load_catalog

SOURCE = "acme_ai/data/catalog.toml"
MODEL = '[[models]]\nid = "m1"\n'
PRICE = '[[prices]]\nmodel = "m1"\neffective_from = 2026-01-01\ninput = "1.00"\noutput = "2.00"\n'
DOCS = Path(__file__).resolve().parents[2] / "docs" / "catalogs.md"


def load(text: str) -> object:
    return load_catalog("acme", textwrap.dedent(text), source=SOURCE)


def error_of(text: str) -> CatalogError:
    with pytest.raises(CatalogError) as caught:
        load(text)
    return caught.value


def test_a_misspelt_cached_input_is_an_error_not_a_full_price_bill() -> None:
    error = error_of(MODEL + PRICE + 'cached_inptu = "0.10"\n')
    assert (error.source, error.entry, error.key) == (SOURCE, "[[prices]] #1 (model 'm1')", "cached_inptu")
    assert str(error).startswith(f"{SOURCE}: [[prices]] #1 (model 'm1'): unknown key 'cached_inptu'")
    assert "did you mean 'cached_input'?" in str(error)


@pytest.mark.parametrize(
    ("python_name", "toml_key"),
    [("input_per_mtok", "input"), ("output_per_mtok", "output"), ("cached_input_per_mtok", "cached_input")],
)
def test_python_field_names_point_at_the_toml_key(python_name: str, toml_key: str) -> None:
    price = PRICE.replace(f"{toml_key} = ", f"{python_name} = ") if toml_key != "cached_input" else PRICE
    extra = f'{python_name} = "0.5"\n' if toml_key == "cached_input" else ""
    error = error_of(MODEL + price + extra)
    assert f"unknown key {python_name!r} (the TOML key is {toml_key!r})" in str(error)
    assert "ModelPrice" not in str(error) and "Field required" not in str(error)


@pytest.mark.parametrize(
    ("text", "entry", "key", "message"),
    [
        (MODEL + PRICE.replace('input = "1.00"\n', ""), "[[prices]] #1 (model 'm1')", "input", "missing key 'input'"),
        (MODEL + PRICE.replace('"1.00"', "1.5"), "[[prices]] #1 (model 'm1')", "input", "floats lose cents"),
        (MODEL + PRICE.replace('"1.00"', '"NaN"'), "[[prices]] #1 (model 'm1')", "input", "finite price"),
        (MODEL + PRICE.replace('"1.00"', '"-1"'), "[[prices]] #1 (model 'm1')", "input", "0 or more"),
        (MODEL + PRICE.replace("2026-01-01", "2026-01-01T10:00:00"), "[[prices]] #1 (model 'm1')",
         "effective_from", "no time"),
        (MODEL + PRICE.replace("2026-01-01", '"2026-01-01"'), "[[prices]] #1 (model 'm1')",
         "effective_from", "TOML date"),
        (MODEL + PRICE + 'currency = "usd"\n', "[[prices]] #1 (model 'm1')", "currency", "three-letter code"),
        (MODEL + PRICE.replace('"m1"', '"m2"'), "[[prices]] #1 (model 'm2')", "model", "not listed in [[models]]"),
        (MODEL + PRICE + PRICE, "[[prices]] #2 (model 'm1')", "effective_from", "a second USD row"),
        (MODEL + MODEL, "[[models]] #2 (id 'm1')", "id", "already listed (entry #1)"),
        (MODEL + "context_window = 0\n", "[[models]] #1 (id 'm1')", "context_window", "at least 1"),
        (MODEL + 'context_window = "128k"\n', "[[models]] #1 (id 'm1')", "context_window", "whole number"),
        (MODEL + 'reasoning = "yes"\n', "[[models]] #1 (id 'm1')", "reasoning", "true or false"),
        (MODEL + 'capabilites = ["tools"]\n', "[[models]] #1 (id 'm1')", "capabilites", "did you mean 'capabilities'"),
        ("[[models]]\nname = 'x'\n", "[[models]] #1", "id", "missing key 'id'"),
        (MODEL + PRICE + "tiers = [{ above_input_tokens = 10, input = '1', ouptut = '2' }]\n",
         "[[prices]] #1 (model 'm1'), tiers #1", "ouptut", "did you mean 'output'"),
        (MODEL + PRICE + "tiers = [{ input = '1', output = '2' }]\n",
         "[[prices]] #1 (model 'm1'), tiers #1", "above_input_tokens", "missing key 'above_input_tokens'"),
    ],
)  # fmt: skip
def test_each_mistake_names_the_entry_and_the_key(text: str, entry: str, key: str, message: str) -> None:
    error = error_of(text)
    assert (error.source, error.entry, error.key) == (SOURCE, entry, key)
    assert message in str(error)
    assert str(error).startswith(f"{SOURCE}: {entry}: ")


def test_tiers_must_ascend_and_unknown_top_level_keys_fail() -> None:
    tiers = "tiers = [{ above_input_tokens = 10, input = '1', output = '2' }, { above_input_tokens = 5, input = '1', output = '2' }]\n"  # noqa: E501
    assert "distinct and ascending" in str(error_of(MODEL + PRICE + tiers))
    error = error_of('[[model]]\nid = "m1"\n')
    assert "unknown key 'model' (did you mean 'models'?)" in str(error)


def test_a_good_catalogue_loads_exactly() -> None:
    catalog = load(
        MODEL + 'capabilities = ["streaming", "tools"]\ncontext_window = 8192\n' + PRICE
        + 'cached_input = "0.25"\ncache_write = "1.25"\ncurrency = "EUR"\n'
        + "tiers = [{ above_input_tokens = 1000, input = '3', output = '4', cached_input = '0.5' }]\n"
    )  # fmt: skip
    [model] = catalog.models  # type: ignore[attr-defined]
    [price] = catalog.prices  # type: ignore[attr-defined]
    assert model.capabilities.names() == ["streaming", "tools"]  # batch is not implied
    assert (price.effective_from, price.currency, price.input_per_mtok) == (date(2026, 1, 1), "EUR", Decimal("1.00"))
    assert (price.cached_input_per_mtok, price.cache_write_per_mtok) == (Decimal("0.25"), Decimal("1.25"))
    assert price.tiers[0].cached_input_per_mtok == Decimal("0.5")


def test_the_shipped_catalogues_load() -> None:
    from ai_core import read_package_catalog

    for provider, package in (("openai", "ai_openai"), ("xai", "ai_xai")):
        catalog = read_package_catalog(provider, package)
        assert catalog.models and catalog.prices


def test_the_reference_page_documents_every_key_and_only_those() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for table, keys in (("models", MODEL_KEYS), ("prices", PRICE_KEYS), ("tiers", TIER_KEYS)):
        section = re.search(rf"<!-- keys: {table} -->(.*?)<!-- /keys -->", text, flags=re.DOTALL)
        assert section, f"docs/catalogs.md has no key table for {table}"
        documented = re.findall(r"^\| `(\w+)` \|", section.group(1), flags=re.MULTILINE)
        assert documented == list(keys), table


def test_a_plugin_with_a_bad_catalogue_is_a_load_error_labelled_catalog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = f"shop_{uuid.uuid4().hex[:8]}"
    (tmp_path / package / "data").mkdir(parents=True)
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / package / "data" / "catalog.toml").write_text(MODEL + PRICE + 'input_per_mtok = "1"\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    hooks = catalog_provider_hooks(name="shop", package=package, base_url="http://127.0.0.1:1/v1")
    shop = SimpleNamespace(
        **dict(zip(("register_providers", "register_models", "register_prices"), hooks, strict=True))
    )
    registry = PluginRegistry(plugins=[("core", builtin), ("shop", shop)])
    [error] = registry.load_errors
    assert (error.name, error.phase) == ("shop", "catalog")
    assert f"{package}/data/catalog.toml: [[prices]] #1 (model 'm1'): unknown key 'input_per_mtok'" in error.error
    assert "shop" not in registry.plugin_names()


def test_a_missing_catalogue_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ai_core import read_package_catalog

    package = f"empty_{uuid.uuid4().hex[:8]}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(CatalogError, match=r"cannot read the catalogue .*shipped in the wheel"):
        read_package_catalog("x", package)


scalars = st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats() | st.text(max_size=5) | st.dates()
keys = st.sampled_from([*MODEL_KEYS, *PRICE_KEYS, *TIER_KEYS, "models", "prices", "bogus"])
values = st.recursive(
    scalars | st.sampled_from(["1.5", "m1", "streaming"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=6),
    max_leaves=25,
)


@given(st.dictionaries(st.sampled_from(["models", "prices", "other"]), values, max_size=3))
def test_any_document_loads_or_raises_a_catalog_error(document: dict) -> None:
    try:
        catalog_from_data("acme", document, source=SOURCE)
    except CatalogError as error:
        assert str(error).startswith(SOURCE + ":")
