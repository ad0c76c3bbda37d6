"""``ai models sync --prices``: refresh stored prices from the installed genai-prices.

Every chat model the installed ``genai-prices`` prices for an installed provider
(OpenAI, xAI, Gemini) is compared, row by row, with what ai-core already knows
(the plugins' catalogues and the rows stored before); a new model, a new dated
row or a row whose prices differ is stored with its provenance and reported.
Only prices are compared, so running it again changes nothing. Stored rows
fill the catalogues' gaps and replace their imported rows of the same day
when imported later; a catalogue's ``override`` row always wins (see
docs/prices.md and :func:`ai_core.storage.catalog.load_prices`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from ai_core.errors import UnknownProviderError
from ai_core.types import ModelInfo, ModelPrice

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from ai_core.services import Services
    from ai_core.storage.database import Database

__all__ = ["PriceChange", "sync_prices"]


@dataclass(frozen=True)
class PriceChange:
    """One row the refresh stored: ``kind`` is ``new model``, ``new row`` or ``changed``."""

    kind: str
    price: ModelPrice
    before: ModelPrice | None = None

    def describe(self) -> str:
        new = self.price
        text = f"{new.provider}/{new.model} from {new.effective_from}: {_rates(new)}"
        if self.before is not None:
            text += f" (was {_rates(self.before)})"
        return f"{self.kind}: {text} [{new.provenance}]"


def _rates(price: ModelPrice) -> str:
    parts = [f"in {price.input_per_mtok}", f"out {price.output_per_mtok}"]
    if price.cached_input_per_mtok is not None:
        parts.append(f"cached {price.cached_input_per_mtok}")
    if price.cache_write_per_mtok is not None:
        parts.append(f"cache write {price.cache_write_per_mtok}")
    parts.extend(f"above {t.above_input_tokens}: in {t.input_per_mtok} out {t.output_per_mtok}" for t in price.tiers)
    return f"{price.currency} " + ", ".join(parts) + " per Mtok"


def _same(a: ModelPrice, b: ModelPrice) -> bool:
    fields = ("input_per_mtok", "output_per_mtok", "cached_input_per_mtok", "cache_write_per_mtok",
              "reasoning_per_mtok", "tiers")  # fmt: skip
    return all(getattr(a, name) == getattr(b, name) for name in fields)


async def sync_prices(
    services: Services,
    *,
    provider: str | None = None,
    database: Database | None = None,
    today: date | None = None,
) -> list[PriceChange]:
    """Store what the installed genai-prices says that ai-core does not know yet; return the changes.

    :raises UnknownProviderError: ``provider`` is not installed.
    :raises ConfigurationError: genai-prices is not installed, or does not price ``provider``.
    """
    from ai_core.costs.genai_source import SOURCE_PROVIDERS, installed_version, source_models
    from ai_core.storage.catalog import read_prices

    installed_version()  # a clear error first when genai-prices is missing
    specs = services.registry.providers()
    if provider is not None and provider not in specs:
        raise UnknownProviderError(provider, list(specs))
    names = [provider] if provider is not None else sorted(name for name in specs if name in SOURCE_PROVIDERS)
    db = database or services.database
    owned = None
    if db is None:
        from ai_core.storage.database import Database

        db = owned = Database.open(settings=services.settings)
    try:
        stored = await db.run(read_prices, db)
        changes: list[PriceChange] = []
        for name in names:
            known: dict[tuple[str, date], ModelPrice] = {}
            for row in [*stored, *services.registry.prices()]:  # what was refreshed last, else the catalogue
                if row.provider == name:
                    known.setdefault((row.model, row.effective_from), row)
            known_models = {m.id for m in services.registry.models() if m.provider == name}
            known_models |= {model for model, _ in known}
            first_days: dict[str, date] = {}
            for row in services.registry.prices():
                if row.provider == name and row.override is None and row.billed_as is None:
                    first_days[row.model] = min(row.effective_from, first_days.get(row.model, row.effective_from))
            found = source_models(name, first_days=first_days, imported_on=today or date.today())
            new_models: list[ModelInfo] = []
            for model in found.values():
                is_new = model.id not in known_models
                if is_new:
                    new_models.append(ModelInfo(provider=name, id=model.id, name=model.name,
                                                context_window=model.context_window, aliases=model.aliases,
                                                deprecated=model.deprecated))  # fmt: skip
                rows = list(model.prices)
                rows += [p.model_copy(update={"model": alias, "billed_as": model.id}) for alias in model.aliases
                         for p in model.prices]  # fmt: skip
                for row in rows:
                    before = known.get((row.model, row.effective_from))
                    if before is None:
                        changes.append(PriceChange("new model" if is_new else "new row", row))
                    elif not _same(before, row) and before.override is None:
                        changes.append(PriceChange("changed", row, before))
            mine = [c for c in changes if c.price.provider == name]
            if mine:
                await db.run(_store, db, name, new_models, [c.price for c in mine])
        return changes
    finally:
        if owned is not None:
            await owned.aclose()


def _provider_id(conn: Connection, name: str) -> int:
    from sqlalchemy import select

    from ai_core.storage.base import table_of
    from ai_core.storage.catalog import upsert_provider
    from ai_core.storage.catalog_tables import Provider

    providers = table_of(Provider)
    found = conn.execute(select(providers.c.id).where(providers.c.name == name)).scalar_one_or_none()
    return int(found) if found is not None else upsert_provider(conn, name)


def _store(database: Database, name: str, models: list[ModelInfo], prices: list[ModelPrice]) -> None:
    from ai_core.storage.catalog import upsert_model, upsert_price
    from ai_core.storage.columns import utcnow

    now = utcnow()
    with database.write() as conn:
        provider_id = _provider_id(conn, name)
        ids: dict[str, int] = {}
        for info in models:
            ids[info.id] = upsert_model(conn, provider_id, info, source="genai-prices", now=now)
        for price in prices:
            if price.model not in ids:
                ids[price.model] = _model_id(conn, provider_id, price.model, now)
            upsert_price(conn, ids[price.model], price, now=now)


def _model_id(conn: Connection, provider_id: int, model: str, now: Any) -> int:
    from sqlalchemy import select

    from ai_core.storage.base import table_of
    from ai_core.storage.catalog import upsert_model
    from ai_core.storage.catalog_tables import ProviderModel

    models = table_of(ProviderModel)
    query = select(models.c.id).where(models.c.provider_id == provider_id, models.c.model_id == model)
    found = conn.execute(query).scalar_one_or_none()
    if found is not None:
        return int(found)
    return upsert_model(conn, provider_id, ModelInfo(provider="", id=model), source="genai-prices", now=now)
