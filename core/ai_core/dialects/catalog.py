"""Model and price tables that provider plugins ship as TOML data files.

A provider's catalogue changes more often than its code, so plugins keep it in
``<package>/data/catalog.toml`` (shipped in the wheel) and register it through
``register_models`` / ``register_prices`` with :func:`load_catalog`. The format::

    [[models]]
    id = "gpt-4o-mini"
    context_window = 128000
    capabilities = ["streaming", "tools", "vision", "json_schema"]

    [[prices]]                       # USD per million tokens
    model = "gpt-4o-mini"
    effective_from = 2024-07-18      # first day the row applies
    input = "0.15"                   # strings, so money never passes through float
    cached_input = "0.075"
    output = "0.60"

A retired model that another model now serves names it and the day it changed
(``served_by = "grok-4.3"``, ``retired_on = 2026-05-15``): from that day it is
priced at the serving model's rows, so its price history stays true on both
sides of the change.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Any

from ai_core.types import Capabilities, ModelInfo, ModelPrice, PriceTier

__all__ = ["Catalog", "catalog_from_data", "load_catalog", "read_package_catalog"]

_PRICE_FIELDS = {
    "input": "input_per_mtok",
    "output": "output_per_mtok",
    "cached_input": "cached_input_per_mtok",
    "cache_write": "cache_write_per_mtok",
    "reasoning": "reasoning_per_mtok",
}


@dataclass(frozen=True)
class Catalog:
    """One provider's models and price rows."""

    models: tuple[ModelInfo, ...]
    prices: tuple[ModelPrice, ...]


def read_package_catalog(provider: str, package: str, resource: str = "data/catalog.toml") -> Catalog:
    """Load the catalogue a plugin package ships (``importlib.resources``, so zipped wheels work)."""
    text = resources.files(package).joinpath(resource).read_text(encoding="utf-8")
    return load_catalog(provider, text, source=f"{package}/{resource}")


def load_catalog(provider: str, text: str, *, source: str = "catalog") -> Catalog:
    """Parse catalogue TOML; any mistake is a ``ValueError`` naming the file and entry."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{source}: not valid TOML: {exc}") from exc
    return catalog_from_data(provider, data, source=source)


def catalog_from_data(provider: str, data: dict[str, Any], *, source: str = "catalog") -> Catalog:
    """Build a catalogue from already-parsed data (TOML, JSON...): same checks, same errors."""
    model_entries = _tables(data, "models", source)
    models = [_model(provider, entry, source) for entry in model_entries]
    prices = [_price(provider, entry, source) for entry in _tables(data, "prices", source)]
    prices.extend(_retired_prices(models, prices, model_entries, source))
    return Catalog(tuple(models), tuple(prices))


def _tables(data: dict[str, Any], key: str, source: str) -> list[dict[str, Any]]:
    entries = data.get(key, [])
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise ValueError(f"{source}: {key!r} must be an array of tables ([[{key}]])")
    return entries


def _model(provider: str, entry: dict[str, Any], source: str) -> ModelInfo:
    try:
        names = entry.get("capabilities")
        capabilities = None
        if names is not None:
            unknown = set(names) - set(Capabilities.model_fields)
            if unknown:
                raise ValueError(f"unknown capabilities {sorted(unknown)}")
            capabilities = Capabilities(**{name: name in names for name in Capabilities.model_fields})
        retired_on = entry.get("retired_on")
        if retired_on is not None and not isinstance(retired_on, date):
            raise ValueError(f"retired_on must be a TOML date, got {retired_on!r}")
        return ModelInfo(
            provider=provider,
            id=entry["id"],
            name=entry.get("name"),
            context_window=entry.get("context_window"),
            max_output_tokens=entry.get("max_output_tokens"),
            capabilities=capabilities,
            reasoning=bool(entry.get("reasoning", False)),
            deprecated=bool(entry.get("deprecated", False) or entry.get("retired_on")),
            served_by=entry.get("served_by"),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{source}: bad model entry {entry.get('id', entry)!r}: {exc}") from exc


def _money(value: Any, what: str) -> Decimal:
    if isinstance(value, float | bool):
        raise ValueError(f"{what} must be a string or an integer (floats lose cents), got {value!r}")
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"{what} is not a number: {value!r}") from exc


def _price(provider: str, entry: dict[str, Any], source: str) -> ModelPrice:
    try:
        fields = {target: _money(entry[key], key) for key, target in _PRICE_FIELDS.items() if key in entry}
        tiers = tuple(
            PriceTier(
                above_input_tokens=tier["above_input_tokens"],
                input_per_mtok=_money(tier["input"], "tier input"),
                output_per_mtok=_money(tier["output"], "tier output"),
                cached_input_per_mtok=_money(tier["cached_input"], "tier cached_input")
                if "cached_input" in tier
                else None,
            )
            for tier in entry.get("tiers", [])
        )
        effective = entry["effective_from"]
        if not isinstance(effective, date):
            raise ValueError(f"effective_from must be a TOML date, got {effective!r}")
        return ModelPrice(
            provider=provider,
            model=entry["model"],
            effective_from=effective,
            currency=entry.get("currency", "USD"),
            tiers=tiers,
            **fields,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{source}: bad price entry for {entry.get('model', entry)!r}: {exc}") from exc


def _retired_prices(
    models: list[ModelInfo], prices: list[ModelPrice], entries: list[dict[str, Any]], source: str
) -> list[ModelPrice]:
    """Rows pricing each retired model at its successor's prices from the retirement day on."""
    extra: list[ModelPrice] = []
    for model, entry in zip(models, entries, strict=True):
        retired_on = entry.get("retired_on")
        if model.served_by is None or retired_on is None:
            continue
        rows = sorted((p for p in prices if p.model == model.served_by), key=lambda p: p.effective_from)
        in_force = [p for p in rows if p.effective_from <= retired_on]
        later = [p for p in rows if p.effective_from > retired_on]
        if not in_force:
            raise ValueError(f"{source}: {model.id} is served by {model.served_by}, which has no price on {retired_on}")
        extra.append(in_force[-1].model_copy(update={"model": model.id, "effective_from": retired_on}))
        extra.extend(p.model_copy(update={"model": model.id}) for p in later)
    return extra
