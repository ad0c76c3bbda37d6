"""``ai models sync``: store every provider's models and price history.

Models come from the plugins' registered data and, with ``remote=True``, from
each provider's own model list (``Driver.list_models``); prices are every
:class:`~ai_core.types.ModelPrice` row the plugins register. Each provider is
written in one transaction and announced with a ModelSynced event. A provider
whose list cannot be fetched (no key, offline) is reported, not fatal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ai_core.errors import UnknownProviderError
from ai_core.events.types import ModelSynced
from ai_core.types import ModelInfo, ModelPrice

if TYPE_CHECKING:
    from ai_core.pipeline.providers import ProviderManager
    from ai_core.services import Services
    from ai_core.storage.database import Database

__all__ = ["ProviderSync", "sync_models"]


@dataclass
class ProviderSync:
    """What one provider's sync stored."""

    provider: str
    models: int = 0
    prices: int = 0
    remote_models: int = 0
    error: str | None = None


async def sync_models(
    services: Services,
    *,
    provider: str | None = None,
    remote: bool = False,
    database: Database | None = None,
    providers: ProviderManager | None = None,
) -> list[ProviderSync]:
    """Sync ``provider`` (or every installed one) into ``database`` (default: the services').

    :param remote: also ask each provider's API for its model list.
    :param providers: the driver manager to ask (default: a new one on ``services``).
    :raises UnknownProviderError: ``provider`` is not installed.
    """
    specs = services.registry.providers()
    if provider is not None and provider not in specs:
        raise UnknownProviderError(provider, list(specs))
    names = [provider] if provider is not None else sorted(specs)
    db = database or services.database
    owned = None
    if db is None:
        from ai_core.storage.database import Database

        db = owned = Database.open(settings=services.settings)
    manager = providers
    if remote and manager is None:
        from ai_core.pipeline.providers import ProviderManager

        manager = ProviderManager(services)
    try:
        results = []
        for name in names:
            result = ProviderSync(provider=name)
            models = {m.id: m for m in services.registry.models() if m.provider == name}
            remote_models: list[ModelInfo] = []
            if remote and manager is not None:
                try:
                    driver = await manager.driver(name)
                    remote_models = list(await driver.list_models())
                except Exception as exc:  # one unreachable provider must not stop the others
                    result.error = f"{type(exc).__name__}: {exc}"
            prices = [p for p in services.registry.prices() if p.provider == name]
            await db.run(_store, db, specs[name], list(models.values()), remote_models, prices, result)
            services.events.emit(ModelSynced(provider=name, models=result.models, prices=result.prices))
            results.append(result)
        return results
    finally:
        if owned is not None:
            await owned.aclose()
        if providers is None and manager is not None:
            await manager.aclose()


def _store(
    database: Database,
    spec: Any,
    models: list[ModelInfo],
    remote: list[ModelInfo],
    prices: list[ModelPrice],
    result: ProviderSync,
) -> None:
    from ai_core.storage.catalog import upsert_model, upsert_price, upsert_provider
    from ai_core.storage.columns import utcnow

    now = utcnow()
    capabilities = spec.capabilities.names() if getattr(spec, "capabilities", None) else []
    with database.write() as conn:
        provider_id = upsert_provider(
            conn,
            spec.name,
            description=getattr(spec, "description", None),
            driver=spec.driver if isinstance(getattr(spec, "driver", None), str) else None,
            base_url=getattr(spec, "base_url", None),
            capabilities=capabilities,
        )
        ids: dict[str, int] = {}
        for info in models:
            ids[info.id] = upsert_model(conn, provider_id, info, source="plugin", now=now)
        for info in remote:
            if info.id not in ids:
                ids[info.id] = upsert_model(conn, provider_id, info, source="remote", now=now)
                result.remote_models += 1
        for price in prices:
            if price.model not in ids:
                ids[price.model] = upsert_model(
                    conn, provider_id, ModelInfo(provider=spec.name, id=price.model), source="plugin", now=now
                )
            upsert_price(conn, ids[price.model], price, now=now)
        result.models = len(ids)
        result.prices = len(prices)
