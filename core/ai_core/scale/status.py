"""What ``ai status`` shows: providers, breakers, limits, caches, queue, database.

Each section is a function ``(settings) -> dict`` (sync or async) that never
raises: a part that cannot be read says so in its ``error`` entry. Other parts
of ai-core add sections to :data:`STATUS_SECTIONS` (an import string, loaded
only when ``ai status`` runs); ``queue`` is the background-work engine's
(:mod:`ai_core.queue.status`).
"""

from __future__ import annotations

import importlib
import inspect
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ai_core.config import Settings

__all__ = ["STATUS_SECTIONS", "collect_status", "register_status_section"]

STATUS_SECTIONS: dict[str, str] = {
    "providers": "ai_core.scale.status:providers_section",
    "breakers": "ai_core.scale.status:breakers_section",
    "limits": "ai_core.scale.status:limits_section",
    "cache": "ai_core.scale.status:cache_section",
    # The background-work engine's state (in-process, or Dramatiq over Redis: docs/queue.md).
    "queue": "ai_core.queue.status:queue_status",
    "database": "ai_core.scale.status:database_section",
}


def register_status_section(name: str, target: str) -> None:
    """Show ``target`` (``"package.module:function"``) as section ``name`` of ``ai status``."""
    STATUS_SECTIONS[name] = target


async def collect_status(settings: Settings) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, target in STATUS_SECTIONS.items():
        try:
            module, _, attr = target.partition(":")
            value = getattr(importlib.import_module(module), attr)(settings)
            result[name] = await value if inspect.isawaitable(value) else value
        except Exception as exc:  # one unreadable part must not hide the others
            result[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return result


def providers_section(settings: Settings) -> dict[str, Any]:
    from ai_core.plugins import default_registry

    specs = default_registry().providers()
    rows = []
    for name in sorted(specs):
        spec = specs[name]
        try:
            found = settings.provider(name, spec.api_key_env)
            key = found.api_key is not None or not spec.requires_api_key
            base_url = found.base_url or spec.default_base_url
        except Exception as exc:
            rows.append({"provider": name, "error": str(exc)})
            continue
        rows.append({"provider": name, "key": "set" if key else "missing", "base_url": base_url or ""})
    return {"providers": rows}


async def breakers_section(settings: Settings) -> dict[str, Any]:
    if settings.redis_url is None:
        return {"shared": False, "note": "each process keeps its own breakers (set AI_REDIS_URL to share them)"}
    from ai_core.plugins import default_registry
    from ai_core.scale.breaker import SharedCircuitBreaker
    from ai_core.scale.redis import RedisConnection

    redis = RedisConnection(settings.redis_url)
    try:
        breaker = SharedCircuitBreaker(redis)
        states = {name: await breaker.state(name) for name in sorted(default_registry().providers())}
    finally:
        await redis.aclose()
    return {"shared": True, "redis": redis.url, "breakers": states}


async def limits_section(settings: Settings) -> dict[str, Any]:
    from ai_core.scale.rules import as_rules

    rules = as_rules(settings.rate_limits)
    out: dict[str, Any] = {
        "store": "redis" if settings.redis_url is not None else "memory (per process)",
        "wait": settings.rate_limit_wait,
        "rules": [rule.model_dump(exclude_none=True) for rule in rules],
    }
    if rules and settings.redis_url is not None:
        from ai_core.scale.limiter import Limiter
        from ai_core.scale.redis import RedisConnection

        redis = RedisConnection(settings.redis_url)
        try:
            out["now"] = await Limiter(rules, wait=settings.rate_limit_wait, redis=redis).usage()
        finally:
            await redis.aclose()
    return out


def cache_section(settings: Settings) -> dict[str, Any]:
    from ai_core.scale.cache import MODELS_TTL, PRICES_TTL

    store = "redis" if settings.redis_url is not None else f"memory LRU ({settings.response_cache_size} answers)"
    return {
        "store": store,
        "responses": f"every call, {settings.response_cache_ttl:g}s" if settings.response_cache_ttl else "opt-in",
        "fallback": settings.response_cache_fallback,
        "models_ttl": MODELS_TTL,
        "prices_ttl": PRICES_TTL,
    }


def database_section(settings: Settings) -> dict[str, Any]:
    if not settings.persistence:
        return {"persistence": False}
    from ai_core.migrations import HEAD
    from ai_core.storage import migrate
    from ai_core.storage.database import Database

    database = Database.open(settings.database_url, settings=settings, migrate=False)
    try:
        at = migrate.current(database)
        return {
            "url": database.display_url,
            "revision": at,
            "needs": HEAD,
            "state": "up to date" if at == HEAD else "needs `ai db upgrade`",
        }
    finally:
        database.close()
