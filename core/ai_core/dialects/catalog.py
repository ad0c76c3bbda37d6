"""Model and price tables that provider plugins ship as TOML data files.

A provider's catalogue changes more often than its code, so plugins keep it in
``<package>/data/catalog.toml`` (shipped in the wheel) and register it through
``register_models`` / ``register_prices`` with :func:`read_package_catalog`.
docs/catalogs.md is the reference for the format; in short::

    [[models]]
    id = "gpt-4o-mini"
    context_window = 128000
    capabilities = ["streaming", "tools", "vision", "json_schema"]

    [[prices]]                       # USD per million tokens
    model = "gpt-4o-mini"
    effective_from = 2024-07-18      # first day the row applies (a TOML date)
    input = "0.15"                   # strings, so money never passes through float
    cached_input = "0.075"
    output = "0.60"

Loading is strict, because a catalogue is billing data: an unknown key (a
misspelt ``cached_input`` would bill cache reads at the full input rate), a
missing one, a float price or a wrong type is a :class:`CatalogError` naming
the file, the entry (``[[prices]] #3 (model 'gpt-4o')``) and the TOML key.

A retired model that another model now serves names it and the day it changed
(``served_by = "grok-4.3"``, ``retired_on = 2026-05-15``): from that day it is
priced at the serving model's rows, so its price history stays true on both
sides of the change.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Any

from ai_core.types import Capabilities, ModelInfo, ModelPrice, PriceTier

__all__ = [
    "MODEL_KEYS",
    "PRICE_KEYS",
    "TIER_KEYS",
    "Catalog",
    "CatalogError",
    "catalog_from_data",
    "load_catalog",
    "read_package_catalog",
]

MODEL_KEYS: Mapping[str, str] = {
    "id": "the provider's model id, as sent on the wire (required)",
    "name": "a display name",
    "context_window": "tokens the model accepts, prompt and answer together (a whole number)",
    "max_output_tokens": "most tokens one answer may have (a whole number)",
    "capabilities": "list of: " + ", ".join(Capabilities.model_fields),
    "reasoning": "true for a reasoning model",
    "deprecated": "true for a model the provider is retiring",
    "served_by": "the model that now answers for this one",
    "retired_on": "the day served_by took over (a TOML date); implies deprecated",
    "aliases": "other ids billed at this model's rows: dated snapshots, -latest names",
    "deprecated_on": "the day the provider announced its retirement (a TOML date); implies deprecated",
    "shutdown_on": "the first day the provider refuses calls (a TOML date); calls from then on are refused",
    "replacement": "the model the provider recommends instead",
}
PRICE_KEYS: Mapping[str, str] = {
    "model": "the id of a model in [[models]] (required)",
    "effective_from": "first day the row applies, a TOML date like 2025-04-14 (required)",
    "currency": "ISO 4217 code, default USD",
    "input": "price of a million input tokens (required)",
    "output": "price of a million output tokens (required)",
    "cached_input": "price of a million input tokens read from the prompt cache (default: input)",
    "cache_write": "price of a million input tokens written to the prompt cache (default: input)",
    "reasoning": "price of a million reasoning tokens (default: output)",
    "tiers": "long-context prices: [{ above_input_tokens = 200000, input = ..., output = ... }]",
    "source": "where the row comes from, e.g. genai-prices (omit for a row typed here)",
    "source_version": "the version of the source the row was imported from",
    "source_date": "the day the row was imported (a TOML date)",
    "override": "why this row differs from the source, or why the source lacks it",
}
TIER_KEYS: Mapping[str, str] = {
    "above_input_tokens": "the tier applies when the prompt has more input tokens than this (required)",
    "input": "price of a million input tokens (required)",
    "output": "price of a million output tokens (required)",
    "cached_input": "price of a million cached input tokens (default: the row's cached_input)",
    "cache_write": "price of a million input tokens written to the cache (default: the row's cache_write)",
}
_TOP_KEYS = ("models", "prices")
# The Python field names people try first, and the TOML key that means the same.
_PYTHON_NAMES = {
    "input_per_mtok": "input",
    "output_per_mtok": "output",
    "cached_input_per_mtok": "cached_input",
    "cache_write_per_mtok": "cache_write",
    "reasoning_per_mtok": "reasoning",
    "model_id": "id",
    "effective": "effective_from",
}


class CatalogError(ValueError):
    """A catalogue that cannot be loaded.

    ``source`` is the file, ``entry`` the table (``[[prices]] #3 (model 'x')``)
    and ``key`` the TOML key at fault, each ``None`` when it does not apply.
    """

    def __init__(self, source: str, problem: str, *, entry: str | None = None, key: str | None = None) -> None:
        self.source = source
        self.entry = entry
        self.key = key
        self.problem = problem
        super().__init__(": ".join(part for part in (source, entry, problem) if part))


@dataclass(frozen=True)
class Catalog:
    """One provider's models and price rows."""

    models: tuple[ModelInfo, ...]
    prices: tuple[ModelPrice, ...]


def read_package_catalog(provider: str, package: str, resource: str = "data/catalog.toml") -> Catalog:
    """Load the catalogue a plugin package ships (``importlib.resources``, so zipped wheels work)."""
    source = f"{package}/{resource}"
    try:
        text = resources.files(package).joinpath(resource).read_text(encoding="utf-8")
    except (OSError, ModuleNotFoundError) as exc:
        raise CatalogError(source, f"cannot read the catalogue ({exc}); is it shipped in the wheel?") from exc
    except UnicodeDecodeError as exc:
        raise CatalogError(source, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    return load_catalog(provider, text, source=source)


def load_catalog(provider: str, text: str, *, source: str = "catalog") -> Catalog:
    """Parse catalogue TOML; any mistake is a :class:`CatalogError` naming the file, entry and key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(source, f"not valid TOML: {exc}") from exc
    return catalog_from_data(provider, data, source=source)


def catalog_from_data(
    provider: str, data: Mapping[str, Any], *, source: str = "catalog", table_prefix: str = ""
) -> Catalog:
    """Build a catalogue from already-parsed data (TOML, JSON...): same checks, same errors.

    ``table_prefix`` is where the tables sit in the file, for messages: a
    config file's ``[providers.local]`` section passes ``"providers.local."``
    so an entry is named ``[[providers.local.prices]] #1``.
    """
    if not isinstance(data, Mapping):
        raise CatalogError(source, f"must be a table of [[{table_prefix}models]] and [[{table_prefix}prices]]")
    for key in data:
        if key not in _TOP_KEYS:
            raise CatalogError(source, _unknown(str(key), _TOP_KEYS, f"a catalogue has only {_listing(_TOP_KEYS)}"))
    model_entries = _tables(data, "models", source, table_prefix)
    price_entries = _tables(data, "prices", source, table_prefix)
    models: list[ModelInfo] = []
    listed: dict[str, int] = {}
    aliases_of: dict[str, str] = {}
    for number, fields in enumerate(model_entries, 1):
        entry = _Entry(source, f"[[{table_prefix}models]]", number, fields, MODEL_KEYS, "id")
        model = _model(provider, entry)
        if model.id in listed:
            raise entry.error(f"id {model.id!r} is already listed (entry #{listed[model.id]})", "id")
        listed[model.id] = number
        models.append(model)
    for model in models:
        for alias in model.aliases:
            if alias in listed or alias in aliases_of:
                other = aliases_of.get(alias, alias)
                raise CatalogError(
                    source,
                    f"alias {alias!r} of {model.id!r} is already an id or alias of {other!r}",
                    entry=f"[[{table_prefix}models]] ({model.id!r})",
                    key="aliases",
                )
            aliases_of[alias] = model.id
    prices: list[ModelPrice] = []
    seen: dict[tuple[str, date, str], int] = {}
    for number, fields in enumerate(price_entries, 1):
        entry = _Entry(source, f"[[{table_prefix}prices]]", number, fields, PRICE_KEYS, "model")
        price = _price(provider, entry)
        if price.model not in listed:
            raise entry.error(f"model {price.model!r} is not listed in [[{table_prefix}models]]", "model")
        row = (price.model, price.effective_from, price.currency)
        if row in seen:
            raise entry.error(
                f"a second {price.currency} row for {price.model!r} from {price.effective_from} "
                f"(entry #{seen[row]}); add a row with a later effective_from instead",
                "effective_from",
            )
        seen[row] = number
        prices.append(price)
    prices.extend(_retired_prices(models, prices, model_entries, source))
    prices.extend(_alias_prices(models, prices))
    return Catalog(tuple(models), tuple(prices))


def _alias_prices(models: list[ModelInfo], prices: list[ModelPrice]) -> list[ModelPrice]:
    """Each alias priced at its model's rows, naming the row it is billed at."""
    extra: list[ModelPrice] = []
    for model in models:
        rows = [p for p in prices if p.model == model.id and p.override is None]  # an override is the id's own
        for alias in model.aliases:
            extra.extend(p.model_copy(update={"model": alias, "billed_as": p.billed_as or p.model}) for p in rows)
    return extra


# ---------------------------------------------------------------------------
# Entries
# ---------------------------------------------------------------------------


def _tables(data: Mapping[str, Any], key: str, source: str, prefix: str) -> list[Mapping[str, Any]]:
    entries = data.get(key, [])
    if not isinstance(entries, list) or not all(isinstance(entry, Mapping) for entry in entries):
        raise CatalogError(source, f"{prefix}{key!r} must be an array of tables ([[{prefix}{key}]])", key=key)
    return entries


class _Entry:
    """One table of a catalogue, read key by key with errors that name it."""

    def __init__(
        self, source: str, table: str, number: int, fields: Mapping[str, Any], keys: Mapping[str, str], ident: str
    ) -> None:
        self.source = source
        self.fields = fields
        named = fields.get(ident)
        self.label = f"{table} #{number}" + (f" ({ident} {named!r})" if isinstance(named, str) and named else "")
        for key in fields:
            if key not in keys:
                raise self.error(_unknown(str(key), keys, f"keys of {table}: {_listing(keys)}"), str(key))

    def error(self, problem: str, key: str | None = None) -> CatalogError:
        return CatalogError(self.source, problem, entry=self.label, key=key)

    def _get(self, key: str, required: bool, what: str) -> Any:
        value = self.fields.get(key)
        if value is None and required:
            raise self.error(f"missing key {key!r} ({what})", key)
        return value

    def text(self, key: str, *, required: bool = False) -> str | None:
        value = self._get(key, required, "a string")
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise self.error(f"key {key!r} must be a non-empty string, got {value!r}", key)
        return value

    def whole(self, key: str, *, minimum: int, required: bool = False) -> int | None:
        value = self._get(key, required, "a whole number")
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
            raise self.error(f"key {key!r} must be a whole number of at least {minimum}, got {value!r}", key)
        return value

    def flag(self, key: str) -> bool:
        value = self.fields.get(key, False)
        if not isinstance(value, bool):
            raise self.error(f"key {key!r} must be true or false, got {value!r}", key)
        return value

    def day(self, key: str, *, required: bool = False) -> date | None:
        value = self._get(key, required, "a TOML date like 2025-04-14, unquoted")
        if value is not None and (not isinstance(value, date) or isinstance(value, datetime)):
            raise self.error(f"key {key!r} must be a TOML date like 2025-04-14 (unquoted, no time), got {value!r}", key)
        return value

    def money(self, key: str, *, required: bool = False) -> Decimal | None:
        value = self._get(key, required, 'per million tokens, as a string: input = "0.15"')
        if value is None:
            return None
        if isinstance(value, float | bool) or not isinstance(value, str | int):
            raise self.error(
                f'key {key!r} must be a price as a string ("0.15") or a whole number '
                f"(floats lose cents), got {value!r}",
                key,
            )
        try:
            amount = Decimal(value.strip() if isinstance(value, str) else value)
        except InvalidOperation:
            raise self.error(f"key {key!r} is not a number: {value!r}", key) from None
        if not amount.is_finite() or amount < 0:
            raise self.error(f"key {key!r} must be a finite price of 0 or more, got {value!r}", key)
        return amount


def _unknown(key: str, known: Any, listing: str) -> str:
    hint = ""
    if key in _PYTHON_NAMES and _PYTHON_NAMES[key] in known:
        hint = f" (the TOML key is {_PYTHON_NAMES[key]!r})"
    elif key == "provider":
        hint = " (a catalogue is one provider's: its plugin names the provider)"
    else:
        close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown key {key!r}{hint}; {listing}"


def _listing(keys: Any) -> str:
    return ", ".join(keys)


def _model(provider: str, entry: _Entry) -> ModelInfo:
    model_id = entry.text("id", required=True)
    capabilities = None
    names = entry.fields.get("capabilities")
    if names is not None:
        known = list(Capabilities.model_fields)
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise entry.error(f"key 'capabilities' must be a list of names ({', '.join(known)}), got {names!r}")
        unknown = sorted(set(names) - set(known))
        if unknown:
            raise entry.error(f"key 'capabilities': unknown capabilities {unknown}; known: {', '.join(known)}")
        capabilities = Capabilities(**{name: name in names for name in known})
    retired_on = entry.day("retired_on")
    deprecated_on = entry.day("deprecated_on")
    aliases = entry.fields.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
        raise entry.error(f"key 'aliases' must be a list of model ids, got {aliases!r}", "aliases")
    fields: dict[str, Any] = dict(
        provider=provider,
        id=model_id,
        name=entry.text("name"),
        context_window=entry.whole("context_window", minimum=1),
        max_output_tokens=entry.whole("max_output_tokens", minimum=1),
        capabilities=capabilities,
        reasoning=entry.flag("reasoning"),
        deprecated=entry.flag("deprecated") or retired_on is not None or deprecated_on is not None,
        served_by=entry.text("served_by"),
        aliases=tuple(aliases),
        deprecated_on=deprecated_on,
        shutdown_on=entry.day("shutdown_on"),
        replacement=entry.text("replacement"),
    )
    try:
        return ModelInfo(**fields)
    except ValueError as exc:  # pydantic's, for anything the checks above let through
        raise entry.error(_first_error(exc)) from exc


def _price(provider: str, entry: _Entry) -> ModelPrice:
    model = entry.text("model", required=True)
    effective_from = entry.day("effective_from", required=True)
    currency = entry.text("currency") or "USD"
    if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        raise entry.error(f"key 'currency' must be a three-letter code like USD, got {currency!r}", "currency")
    raw_tiers = entry.fields.get("tiers", [])
    if not isinstance(raw_tiers, list) or not all(isinstance(tier, Mapping) for tier in raw_tiers):
        raise entry.error("key 'tiers' must be a list of inline tables: [{ above_input_tokens = ..., ... }]", "tiers")
    tiers = []
    for number, tier_fields in enumerate(raw_tiers, 1):
        tier = _Entry(entry.source, f"{entry.label}, tiers", number, tier_fields, TIER_KEYS, "")
        tiers.append(
            PriceTier(
                above_input_tokens=tier.whole("above_input_tokens", minimum=0, required=True),
                input_per_mtok=tier.money("input", required=True),
                output_per_mtok=tier.money("output", required=True),
                cached_input_per_mtok=tier.money("cached_input"),
                cache_write_per_mtok=tier.money("cache_write"),
            )
        )
    thresholds = [tier.above_input_tokens for tier in tiers]
    if thresholds != sorted(set(thresholds)):
        raise entry.error(f"key 'tiers': above_input_tokens must be distinct and ascending, got {thresholds}", "tiers")
    fields: dict[str, Any] = dict(
        provider=provider,
        model=model,
        effective_from=effective_from,
        currency=currency,
        input_per_mtok=entry.money("input", required=True),
        output_per_mtok=entry.money("output", required=True),
        cached_input_per_mtok=entry.money("cached_input"),
        cache_write_per_mtok=entry.money("cache_write"),
        reasoning_per_mtok=entry.money("reasoning"),
        tiers=tuple(tiers),
        source=entry.text("source"),
        source_version=entry.text("source_version"),
        source_date=entry.day("source_date"),
        override=entry.text("override"),
    )
    if fields["source"] is None and (fields["source_version"] or fields["source_date"]):
        raise entry.error("source_version and source_date need a 'source'", "source")
    try:
        return ModelPrice(**fields)
    except ValueError as exc:  # pydantic's, for anything the checks above let through
        raise entry.error(_first_error(exc)) from exc


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        found = errors()
        if found:
            where = ".".join(str(part) for part in found[0].get("loc", ()))
            return f"{where}: {found[0].get('msg', 'invalid')}" if where else str(found[0].get("msg", "invalid"))
    return str(exc)


def _retired_prices(
    models: list[ModelInfo], prices: list[ModelPrice], entries: list[Mapping[str, Any]], source: str
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
            raise CatalogError(
                source,
                f"{model.id} is served by {model.served_by}, which has no price on {retired_on}",
                key="served_by",
            )
        served = {"model": model.id, "billed_as": model.served_by}
        first = in_force[-1]
        extra.append(
            first.model_copy(update={**served, "effective_from": retired_on, "billed_from": first.effective_from})
        )
        extra.extend(p.model_copy(update=served) for p in later)
    return extra
