"""Reading and writing the model catalog (providers, models, price history).

``ai models sync`` writes it; :meth:`Database.load_prices` reads it back so
prices stored in the database are charged too. Plugin data wins where both
have a row for the same model and date: the database fills gaps only.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ai_core.storage.base import table_of
from ai_core.storage.catalog_tables import Provider, ProviderModel, ProviderModelCost
from ai_core.storage.columns import utcnow
from ai_core.storage.sql import dialect_insert
from ai_core.types import ModelInfo, ModelPrice, PriceTier

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ai_core.costs import PriceBook
    from ai_core.storage.database import Database

__all__ = ["load_prices", "merge_prices", "read_prices", "upsert_model", "upsert_price", "upsert_provider"]

_providers = table_of(Provider)
_models = table_of(ProviderModel)
_costs = table_of(ProviderModelCost)


def upsert_provider(conn: Connection, name: str, **fields: Any) -> int:
    """The id of provider ``name``, created or updated with ``fields``."""
    now = utcnow()
    values = {"name": name, "created_at": now, "updated_at": now, "capabilities": [], "enabled": True, **fields}
    update = {k: v for k, v in values.items() if k not in ("name", "created_at")}
    statement = dialect_insert(conn, _providers).values(values)
    statement = statement.on_conflict_do_update(index_elements=["name"], set_=update).returning(_providers.c.id)
    return int(conn.execute(statement).scalar_one())


def upsert_model(conn: Connection, provider_id: int, info: ModelInfo, *, source: str, now: datetime) -> int:
    values = {
        "provider_id": provider_id,
        "model_id": info.id,
        "name": info.name,
        "context_window": info.context_window,
        "max_output_tokens": info.max_output_tokens,
        "capabilities": info.capabilities.names() if info.capabilities else [],
        "reasoning": info.reasoning,
        "deprecated": info.deprecated,
        "served_by": info.served_by,
        "source": source,
        "synced_at": now,
    }
    update = {k: v for k, v in values.items() if k not in ("provider_id", "model_id")}
    if source == "remote":
        # The provider's list rarely carries limits: keep what plugin data said.
        update = {k: v for k, v in update.items() if v is not None and k not in ("capabilities", "name")}
    statement = dialect_insert(conn, _models).values(values)
    statement = statement.on_conflict_do_update(index_elements=["provider_id", "model_id"], set_=update)
    conn.execute(statement.returning(_models.c.id))
    return int(
        conn.execute(
            select(_models.c.id).where(_models.c.provider_id == provider_id, _models.c.model_id == info.id)
        ).scalar_one()
    )


def upsert_price(conn: Connection, model_pk: int, price: ModelPrice, *, now: datetime) -> None:
    values = {
        "model_id": model_pk,
        "effective_from": price.effective_from,
        "currency": price.currency,
        "input_per_mtok": price.input_per_mtok,
        "output_per_mtok": price.output_per_mtok,
        "cached_input_per_mtok": price.cached_input_per_mtok,
        "cache_write_per_mtok": price.cache_write_per_mtok,
        "reasoning_per_mtok": price.reasoning_per_mtok,
        "tiers": [tier.model_dump(mode="json") for tier in price.tiers],
        "source": price.source,
        "source_version": price.source_version,
        "source_date": price.source_date,
        "billed_as": price.billed_as,
        "synced_at": now,
    }
    update = {k: v for k, v in values.items() if k not in ("model_id", "effective_from", "currency")}
    statement = dialect_insert(conn, _costs).values(values)
    keys = ["model_id", "effective_from", "currency"]
    conn.execute(statement.on_conflict_do_update(index_elements=keys, set_=update))


def read_prices(database: Database) -> list[ModelPrice]:
    """Every stored price row as a :class:`ModelPrice`."""
    query = (
        select(_providers.c.name.label("provider"), _models.c.model_id.label("model"), _costs)
        .select_from(
            _costs.join(_models, _costs.c.model_id == _models.c.id).join(
                _providers, _models.c.provider_id == _providers.c.id
            )
        )
        .order_by(_providers.c.name, _models.c.model_id, _costs.c.effective_from)
    )
    with database.read() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        ModelPrice(
            provider=row["provider"],
            model=row["model"],
            effective_from=row["effective_from"],
            currency=row["currency"],
            input_per_mtok=_plain(row["input_per_mtok"]),
            output_per_mtok=_plain(row["output_per_mtok"]),
            cached_input_per_mtok=_plain(row["cached_input_per_mtok"]),
            cache_write_per_mtok=_plain(row["cache_write_per_mtok"]),
            reasoning_per_mtok=_plain(row["reasoning_per_mtok"]),
            tiers=tuple(PriceTier.model_validate(t) for t in row["tiers"] or ()),
            source=row["source"],
            source_version=row["source_version"],
            source_date=row["source_date"],
            billed_as=row["billed_as"],
        )
        for row in rows
    ]


def _plain(value: Decimal | None) -> Decimal | None:
    # Stored at 18 places; hand back the shortest equal Decimal for readable output.
    if value is None:
        return None
    normal = value.normalize()
    return normal if normal.as_tuple().exponent <= 0 else normal.quantize(Decimal(1))  # type: ignore[operator]


def load_prices(database: Database, book: PriceBook) -> int:
    """Add stored price rows the book lacks; return how many were added.

    A stored row imported from a source also replaces the book's row of the
    same day when that row was imported earlier or says nowhere where it comes
    from (``ai models sync --prices`` ran after the catalogue was made); a
    catalogue's ``override`` row always wins.
    """
    return merge_prices(book, read_prices(database))


def merge_prices(book: PriceBook, prices: Iterable[ModelPrice]) -> int:
    """Add ``prices`` (stored rows) to ``book`` by :func:`load_prices`' rules; return how many were added."""
    added = 0
    for price in prices:
        known = {row.effective_from: row for row in book.history(price.provider, price.model)}
        current = known.get(price.effective_from)
        if current is None or _fresher(price, current):
            book.add(price)
            added += 1
    return added


def _fresher(stored: ModelPrice, current: ModelPrice) -> bool:
    """A row imported (by ``sync --prices``) after ``current`` was, or ``current`` has no provenance."""
    if current.override is not None or stored.source_date is None or stored == current:
        return False
    return current.source_date is None or stored.source_date > current.source_date
