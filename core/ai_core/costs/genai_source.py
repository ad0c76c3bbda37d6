"""Prices from pydantic's ``genai-prices``, the maintained source of ai-core's catalogues.

The catalogues shipped by the OpenAI and xAI plugins are imported from it
(every row names ``source``, ``source_version`` and ``source_date``) and
``ai models sync --prices`` refreshes the stored prices from the installed
version (``pip install 'ai-core[prices]'``). Only token prices are imported:
input, cached input (``cache_read``), cache writes and output, each with its
long-context tiers; per-request tool fees (web searches) are not token
prices and are left out, and a model priced in audio or image units is not a
chat model here.

genai-prices gives a model's first price no date; such a row is dated
:data:`UNDATED_FROM` unless the catalogue knows the model's first day.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from ai_core.errors import ConfigurationError
from ai_core.types import ModelPrice, PriceTier, TokenUsage

__all__ = [
    "SOURCE",
    "SOURCE_PROVIDERS",
    "UNDATED_FROM",
    "SourceModel",
    "compare_catalog",
    "installed_version",
    "render_catalog",
    "source_cost",
    "source_models",
]

SOURCE = "genai-prices"
# ai-core provider name -> genai-prices provider id.
SOURCE_PROVIDERS: Mapping[str, str] = {"openai": "openai", "xai": "x-ai", "gemini": "google"}
# The first day of the Chat Completions API: no model of these catalogues was callable before it.
UNDATED_FROM = date(2023, 3, 1)
_TOKEN_KEYS = {"input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok"}
# Per-request fees, not token prices: not billed by ai-core (see docs/prices.md).
_IGNORED_KEYS = {"web_searches_kcount", "storage_searches_kcount"}
_NOT_CHAT = ("audio", "realtime", "transcribe", "tts", "image", "embedding", "moderation", "whisper", "voice",
             "davinci", "babbage", "curie", "ada", "ft:", "computer-use", "gpt-oss", "instruct", "gpt-3.5",
             ".ft-", ":")  # fmt: skip


@dataclass
class SourceModel:
    """One model as the source prices it."""

    id: str
    aliases: tuple[str, ...]
    name: str | None
    context_window: int | None
    deprecated: bool
    prices: list[ModelPrice] = field(default_factory=list)


def _module() -> Any:
    try:
        import genai_prices
        from genai_prices.data import providers  # noqa: F401
    except ImportError as exc:
        raise ConfigurationError(
            "genai-prices is not installed; install it with: pip install 'ai-core[prices]'"
        ) from exc
    return genai_prices


def installed_version() -> str:
    """The installed genai-prices version (ConfigurationError if it is missing)."""
    return str(_module().__version__)


def _source_provider(name: str) -> Any:
    _module()
    from genai_prices.data import providers

    wanted = SOURCE_PROVIDERS.get(name, name)
    for provider in providers:
        if provider.id == wanted:
            return provider
    raise ConfigurationError(f"genai-prices has no provider {wanted!r} (for {name!r})")


def _names(match: Any) -> list[str]:
    from genai_prices import types as t

    if isinstance(match, t.ClauseEquals):
        return [match.equals]
    if isinstance(match, t.ClauseOr):
        return [name for clause in match.or_ for name in _names(clause)]
    return []  # patterns (dated snapshots) are resolved by PriceBook's snapshot rule


def _is_chat(info: Any) -> bool:
    from genai_prices import types as t

    if any(word in info.id for word in _NOT_CHAT):
        return False
    rows = [info.prices] if isinstance(info.prices, t.ModelPrice) else [c.prices for c in info.prices]
    for row in rows:
        keys = {k for k, v in row.__dict__.items() if v is not None}
        if not {"input_mtok", "output_mtok"} <= keys or keys - _TOKEN_KEYS - _IGNORED_KEYS:
            return False
    return True


def _at(value: Any, threshold: int | None) -> Decimal | None:
    """A price (plain or tiered) at the tier starting above ``threshold`` (None: the base)."""
    from genai_prices import types as t

    if value is None or isinstance(value, Decimal):
        return value
    assert isinstance(value, t.TieredPrices)
    price = value.base
    if threshold is not None:
        for tier in value.tiers:
            if tier.start <= threshold:
                price = tier.price
    return price


def convert(
    provider: str, model: str, row: Any, effective_from: date, *, version: str, imported_on: date
) -> ModelPrice:
    """One genai-prices ``ModelPrice`` as an ai-core row (tiers merged on their thresholds)."""
    from genai_prices import types as t

    values = {key: getattr(row, key, None) for key in _TOKEN_KEYS}
    thresholds = sorted({tier.start for v in values.values() if isinstance(v, t.TieredPrices) for tier in v.tiers})
    tiers = []
    for start in thresholds:
        input_rate, output_rate = _at(values["input_mtok"], start), _at(values["output_mtok"], start)
        assert input_rate is not None and output_rate is not None
        tiers.append(PriceTier(
            above_input_tokens=start, input_per_mtok=input_rate, output_per_mtok=output_rate,
            cached_input_per_mtok=_at(values["cache_read_mtok"], start),
            cache_write_per_mtok=_at(values["cache_write_mtok"], start),
        ))  # fmt: skip
    input_rate, output_rate = _at(values["input_mtok"], None), _at(values["output_mtok"], None)
    assert input_rate is not None and output_rate is not None
    return ModelPrice(
        provider=provider, model=model, effective_from=effective_from,
        input_per_mtok=input_rate, output_per_mtok=output_rate,
        cached_input_per_mtok=_at(values["cache_read_mtok"], None),
        cache_write_per_mtok=_at(values["cache_write_mtok"], None),
        tiers=tuple(tiers), source=SOURCE, source_version=version, source_date=imported_on,
    )  # fmt: skip


def source_models(
    provider: str, *, first_days: Mapping[str, date] | None = None, imported_on: date | None = None
) -> dict[str, SourceModel]:
    """The chat models genai-prices prices for ``provider``, by id, with their dated rows."""
    from genai_prices import types as t

    version = installed_version()
    day = imported_on or date.today()
    found: dict[str, SourceModel] = {}
    for info in _source_provider(provider).models:
        if not _is_chat(info):
            continue
        names = [n for n in dict.fromkeys(_names(info.match)) if "/" not in n]
        first = (first_days or {}).get(info.id, UNDATED_FROM)
        dated: list[tuple[date, Any]] = []
        if isinstance(info.prices, t.ModelPrice):
            dated.append((first, info.prices))
        else:
            for conditional in info.prices:
                constraint = conditional.constraint
                if constraint is None:
                    dated.append((first, conditional.prices))
                elif isinstance(constraint, t.StartDateConstraint):
                    start = constraint.start_date
                    dated.append((start.date() if isinstance(start, datetime) else start, conditional.prices))
                else:  # a time-of-day discount: not a list price
                    continue
        model = SourceModel(
            id=info.id, aliases=tuple(n for n in names if n != info.id), name=info.name,
            context_window=info.context_window, deprecated=bool(info.deprecated),
        )  # fmt: skip
        by_day = {start: row for start, row in dated}  # a dated row wins over the undated one on its day
        for start, row in sorted(by_day.items(), key=lambda pair: pair[0]):
            model.prices.append(convert(provider, info.id, row, start, version=version, imported_on=day))
        found[info.id] = model
    return found


def source_cost(provider: str, model: str, usage: TokenUsage, day: date) -> Decimal:
    """What genai-prices' own arithmetic charges for ``usage`` on ``day`` (for checking catalogues)."""
    genai_prices = _module()
    from genai_prices import Usage

    used = Usage(
        input_tokens=usage.input_tokens,
        cache_read_tokens=usage.cached_input_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        output_tokens=usage.output_tokens,
    )
    when = datetime.combine(day, time(12), tzinfo=UTC)
    result = genai_prices.calc_price(used, model, provider_id=SOURCE_PROVIDERS.get(provider, provider),
                                     genai_request_timestamp=when)  # fmt: skip
    return Decimal(result.total_price)


# ---------------------------------------------------------------------------
# Checking a catalogue against the source
# ---------------------------------------------------------------------------

TOLERANCE = Decimal("1e-9")


def _check_usages(price: ModelPrice) -> list[tuple[str, TokenUsage]]:
    usages = [
        ("plain", TokenUsage(input_tokens=1_234, output_tokens=567)),
        ("cached", TokenUsage(input_tokens=10_000, cached_input_tokens=7_500, output_tokens=321)),
        ("reasoning", TokenUsage(input_tokens=2_000, output_tokens=3_000, reasoning_tokens=2_500)),
    ]
    if price.cache_write_per_mtok is not None:
        usages.append(("cache write", TokenUsage(input_tokens=9_000, cache_write_tokens=4_000,
                                                 cached_input_tokens=1_000, output_tokens=10)))  # fmt: skip
    for tier in price.tiers:
        for tokens in (tier.above_input_tokens, tier.above_input_tokens + 1):
            usage = TokenUsage(input_tokens=tokens, cached_input_tokens=tokens // 4, output_tokens=999)
            usages.append((f"{tokens} input", usage))
    return usages


def compare_catalog(provider: str, models: Any, prices: Any) -> tuple[int, list[str]]:
    """Price every row of a catalogue both ways; return (costs compared, problems).

    For each row not marked ``override`` (on its first day and on its last
    one, before the next row), a plain call, a cached one, one with reasoning,
    one with cache writes and one on each side of every tier are priced with
    ai-core's arithmetic and with the installed genai-prices' own; a
    difference above :data:`TOLERANCE`, a row without provenance, or a model
    the source does not price is a problem. Aliases are compared under their
    own names; a retired model's rows after its retirement with the model
    that serves it. Works for any plugin's catalogue (``Catalog.models``,
    ``Catalog.prices``).
    """
    from datetime import timedelta

    from ai_core.costs.pricing import PriceBook, compute_cost

    by_id = {m.id: m for m in models}
    owners = {alias: m for m in models for alias in m.aliases}
    book = PriceBook(prices)
    known = source_models(provider)
    names = set(known) | {alias for m in known.values() for alias in m.aliases}
    compared, problems = 0, []
    for model_id in sorted({p.model for p in prices}):
        rows = book.history(provider, model_id)
        owner = by_id.get(model_id) or owners.get(model_id)
        for index, row in enumerate(rows):
            where = f"{provider}/{model_id}@{row.effective_from}"
            if row.override is not None:
                if len(row.override.split()) < 5:
                    problems.append(f"{where}: an override must say why ({row.override!r})")
                continue
            if row.source is None or row.source_version is None or row.source_date is None:
                problems.append(f"{where}: no provenance (source, source_version, source_date) and no override")
                continue
            retired = owner is not None and owner.served_by is not None and row.billed_as == owner.served_by
            reference = owner.served_by if retired and owner is not None and owner.served_by else model_id
            if reference not in names:
                problems.append(f"{where}: genai-prices does not price {reference} (add an override saying why)")
                continue
            days = [row.effective_from]
            if index + 1 < len(rows):
                days.append(rows[index + 1].effective_from - timedelta(days=1))
            for day in days:
                for label, usage in _check_usages(row):
                    ours = compute_cost(usage, row).total
                    theirs = source_cost(provider, reference, usage, day)
                    compared += 1
                    if ours is None or abs(ours - theirs) > TOLERANCE:
                        problems.append(f"{where} on {day}, {label}: ai-core {ours}, genai-prices {theirs}")
    return compared, problems


# ---------------------------------------------------------------------------
# Re-importing a catalogue: `python -m ai_core.costs.genai_source PROVIDER catalog.toml`
# ---------------------------------------------------------------------------

_KEPT_MODEL_KEYS = ("name", "context_window", "max_output_tokens", "capabilities", "reasoning", "deprecated",
                    "served_by", "retired_on", "deprecated_on", "shutdown_on", "replacement")  # fmt: skip


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f'"{value}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _price_fields(price: ModelPrice) -> dict[str, Any]:
    fields: dict[str, Any] = {"model": price.model, "effective_from": price.effective_from,
                              "input": price.input_per_mtok}  # fmt: skip
    optional = (("cached_input", price.cached_input_per_mtok), ("cache_write", price.cache_write_per_mtok),
                ("output", price.output_per_mtok), ("reasoning", price.reasoning_per_mtok))  # fmt: skip
    fields.update((key, value) for key, value in optional if value is not None or key == "output")
    if price.tiers:
        fields["tiers"] = [_tier_fields(t) for t in price.tiers]
    for key in ("source", "source_version", "source_date", "override"):
        if getattr(price, key) is not None:
            fields[key] = getattr(price, key)
    return fields


def _tier_fields(tier: PriceTier) -> dict[str, Any]:
    pairs = (("above_input_tokens", tier.above_input_tokens), ("input", tier.input_per_mtok),
             ("output", tier.output_per_mtok), ("cached_input", tier.cached_input_per_mtok),
             ("cache_write", tier.cache_write_per_mtok))  # fmt: skip
    return {key: value for key, value in pairs if value is not None}


def render_catalog(provider: str, text: str, *, header: str, imported_on: date | None = None) -> str:
    """The catalogue ``text`` re-imported: every source row fresh, model metadata and override rows kept.

    Models the catalogue lists that the source does not price keep their rows
    only if each says why (``override``).
    """
    import tomllib

    data = tomllib.loads(text)
    old_models = {m["id"]: m for m in data.get("models", [])}
    old_rows = data.get("prices", [])
    first_days: dict[str, date] = {}
    for row in old_rows:
        if "override" not in row:
            first_days[row["model"]] = min(row["effective_from"], first_days.get(row["model"], row["effective_from"]))
    found = source_models(provider, first_days=first_days, imported_on=imported_on)
    out = [header.rstrip(), ""]
    ids = list(found) + [m for m in old_models if m not in found]
    for model_id in ids:
        source = found.get(model_id)
        old = old_models.get(model_id, {})
        entry: dict[str, Any] = {"id": model_id}
        if source is not None:
            entry.update(name=source.name, context_window=source.context_window)
            if source.aliases:
                entry["aliases"] = list(source.aliases)
        entry.update((k, old[k]) for k in _KEPT_MODEL_KEYS if k in old)
        if source is not None and source.deprecated and "retired_on" not in entry:
            entry.setdefault("deprecated", True)
        rows = [r for r in old_rows if r["model"] == model_id and "override" in r]
        if source is None and not rows:
            continue
        out.append("[[models]]")
        out.extend(f"{k} = {_toml(v)}" for k, v in entry.items() if v is not None)
        out.append("")
        overridden = {r["effective_from"] for r in rows}
        for price in source.prices if source is not None else []:
            if price.effective_from not in overridden:
                out.extend(["[[prices]]", *(f"{k} = {_toml(v)}" for k, v in _price_fields(price).items()), ""])
        for row in rows:
            out.extend(["[[prices]]", *(f"{k} = {_toml(v)}" for k, v in row.items()), ""])
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    import sys
    from pathlib import Path

    path = Path(sys.argv[2])
    original = path.read_text(encoding="utf-8")
    header = original.split("\n[[", 1)[0].split("\n# ----", 1)[0]
    path.write_text(render_catalog(sys.argv[1], original, header=header), encoding="utf-8")
