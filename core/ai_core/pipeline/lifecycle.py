"""Model lifecycle: a shut-down model is refused before sending, a deprecated one warned about once.

The dates travel with the model data (``deprecated_on``, ``shutdown_on`` and
``replacement`` in a catalogue's ``[[models]]``). A call to a model on or after
its ``shutdown_on`` day raises :class:`~ai_core.errors.ModelShutDownError`
(a ``RequestValidationError``) before anything is stored or sent, naming the
replacement when the provider names one; a call to a deprecated model logs
``model_deprecated`` once per model and plugin registry (one per process, unless
a program builds several). Aliases and dated snapshot
ids share their model's lifecycle.
"""

from __future__ import annotations

import threading
import weakref
from datetime import date
from typing import TYPE_CHECKING, Any

from ai_core import errors
from ai_core.clock import local_today
from ai_core.logging import get_logger

if TYPE_CHECKING:
    from ai_core.plugins import PluginRegistry
    from ai_core.types import ModelInfo

__all__ = ["check_lifecycle", "find_model"]

log = get_logger("ai_core.models")
_indexes: weakref.WeakKeyDictionary[PluginRegistry, tuple[int, dict[tuple[str, str], ModelInfo]]] = (
    weakref.WeakKeyDictionary()
)
_warned: weakref.WeakKeyDictionary[PluginRegistry, set[tuple[str, str]]] = weakref.WeakKeyDictionary()
_usable: weakref.WeakKeyDictionary[PluginRegistry, tuple[int, date, set[tuple[str, str]]]] = weakref.WeakKeyDictionary()
"""Models found usable (not shut down) today, per registry and its generation."""
_last: tuple[Any, Any] = (None, None)
"""The registry last checked and its entry of :data:`_usable`."""
_lock = threading.Lock()


def find_model(registry: PluginRegistry, provider: str, model: str) -> ModelInfo | None:
    """The registered model ``provider/model`` is, by id or alias (a dated snapshot: its base model's)."""
    from ai_core.costs.pricing import _SNAPSHOT

    registry._collect()  # a no-op once collected; a plugin registered since makes a new generation
    cached = _indexes.get(registry)
    if cached is None or cached[0] != registry.generation:  # the index is built once per generation
        index: dict[tuple[str, str], ModelInfo] = {}
        for info in registry.models():
            for name in (*info.aliases, info.id):
                index[(info.provider, name)] = info
        cached = (registry.generation, index)
        _indexes[registry] = cached
    found = cached[1].get((provider, model))
    if found is None and (snapshot := _SNAPSHOT.match(model)):
        found = cached[1].get((provider, snapshot["base"]))
    return found


def check_lifecycle(registry: PluginRegistry, provider: str, model: str, today: date | None = None) -> None:
    """Refuse a shut-down model; warn (once) about a deprecated one."""
    global _last
    day = today or local_today()
    last_registry, last_seen = _last  # one registry in most programs: no weak-dictionary lookup
    if today is None and last_registry is registry:
        seen: tuple[int, date, set[tuple[str, str]]] | None = last_seen
    else:
        seen = _usable.get(registry) if today is None else None
    if seen is not None and (provider, model) in seen[2] and seen[1] == day and seen[0] == registry.generation:
        return  # checked today, in this generation of the registry: every call after the first costs this
    info = find_model(registry, provider, model)
    status = info.status(day) if info is not None else None
    if status != "shut down" and today is None:
        if seen is None or seen[1] != day or seen[0] != registry.generation or len(seen[2]) > 4096:
            seen = _usable[registry] = (registry.generation, day, set())
        seen[2].add((provider, model))
        _last = (registry, seen)
    if info is None:
        return
    if status == "shut down":
        assert info.shutdown_on is not None
        replacement = f"{provider}/{info.replacement}" if info.replacement else None
        raise errors.ModelShutDownError(f"{provider}/{model}", info.shutdown_on, replacement)
    if status != "deprecated":
        return
    key = (provider, model)
    with _lock:
        warned = _warned.setdefault(registry, set())
        if key in warned:
            return
        warned.add(key)
    log.warning(
        "model_deprecated",
        model=f"{provider}/{model}",
        shutdown_on=info.shutdown_on.isoformat() if info.shutdown_on else None,
        replacement=f"{provider}/{info.replacement}" if info.replacement else None,
    )
