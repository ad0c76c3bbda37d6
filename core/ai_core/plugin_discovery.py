"""Which plugins are enabled, and importing their entry points without crashing.

Discovery is lazy and fault-isolated. stevedore lists the ``ai_core`` entry
points from its on-disk cache without importing anything, drops the ones not
enabled (``AI_CORE_PLUGINS``, the ``plugins`` setting) *before* importing them,
and reports an import failure through a callback, which records a
:class:`~ai_core.plugin_models.LoadError`'s fields instead of raising.

Kept apart from :mod:`ai_core.plugins` (the registry) because this is the only
part that touches packaging metadata and stevedore; both load on first use, so
importing this module costs only the standard library.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
from collections.abc import Iterable, Sequence
from typing import Any

from ai_core.errors import ConfigurationError

__all__ = [
    "CORE_PLUGIN",
    "ENTRY_POINT_GROUP",
    "ENV_VAR",
    "enabled_plugins_from_environment",
    "parse_plugin_names",
]

ENTRY_POINT_GROUP = "ai_core"
CORE_PLUGIN = "core"
"""Core's own entry point (``ai_core.builtin``): always loaded, whatever is enabled."""

ENV_VAR = "AI_CORE_PLUGINS"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


# ---------------------------------------------------------------------------
# Which plugins are enabled
# ---------------------------------------------------------------------------


def parse_plugin_names(value: str | Sequence[str] | None) -> list[str] | None:
    """Turn ``"openai,fake"``, a list, ``""``/``"none"`` or ``"all"`` into names.

    ``None`` (and ``"all"``/``"*"``) means every installed plugin; an empty list
    means none but core's own. Names are entry-point names.
    """
    if value is None:
        return None
    raw = value.replace(",", " ").split() if isinstance(value, str) else [str(v).strip() for v in value]
    names = list(dict.fromkeys(n for n in raw if n))
    if names in ([], ["none"]):
        return []
    if names in (["all"], ["*"]):
        return None
    bad = [n for n in names if not _NAME.match(n)]
    if bad:
        raise ConfigurationError(f"invalid plugin name(s) in {ENV_VAR}/plugins setting: {', '.join(map(repr, bad))}")
    return names


def enabled_plugins_from_environment() -> list[str] | None:
    """``AI_CORE_PLUGINS`` if set, else the ``plugins`` setting (``AI_PLUGINS`` or the config file)."""
    if ENV_VAR in os.environ:
        return parse_plugin_names(os.environ[ENV_VAR])
    return parse_plugin_names(_plugins_setting())


def _plugins_setting() -> str | list[str] | None:
    """:attr:`ai_core.config.Settings.plugins`, read without building Settings.

    Every ``ai`` command resolves the enabled set, and importing pydantic-settings
    would double the time of ``ai --help``; so read the one value the way
    :func:`ai_core.config.load_settings` does (environment over file).
    tests/plugins/test_discovery.py checks that both agree.
    """
    if "AI_PLUGINS" in os.environ:
        return os.environ["AI_PLUGINS"]
    path = os.environ.get("AI_CONFIG_FILE")
    if not path:
        from platformdirs import user_config_dir

        path = os.path.join(user_config_dir("ai-core", appauthor=False), "config.toml")
    if not os.path.isfile(path):
        return None
    import tomllib

    try:
        with open(path, "rb") as file:
            value = tomllib.load(file).get("plugins")
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read config file {path}: {exc}") from exc
    if value is not None and not isinstance(value, str | list):
        raise ConfigurationError(f"'plugins' in {path} must be a string or a list of names")
    return value  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------
# Loading entry points
# ---------------------------------------------------------------------------


def _load_entry_points(
    names: list[str] | None, errors: list[dict[str, Any]]
) -> list[tuple[str, object, importlib.metadata.EntryPoint | None]]:
    """Import the enabled entry points (core's first, then by name) through stevedore.

    A plugin that fails to import is left out and its :class:`LoadError` fields
    are appended to ``errors``, as is an enabled name no distribution declares.
    """
    from stevedore import NamedExtensionManager

    class _Manager(NamedExtensionManager):  # type: ignore[type-arg]
        def _load_one_plugin(self, ep: Any, *args: Any) -> Any:
            try:
                return super()._load_one_plugin(ep, *args)
            except (AssertionError, SystemExit) as exc:  # stevedore re-raises these; we never crash on a plugin
                raise RuntimeError(_describe(exc)) from exc

    def on_load_failure(_manager: Any, entry_point: importlib.metadata.EntryPoint, exc: BaseException) -> None:
        dist, version = _distribution_of(entry_point)
        errors.append(
            dict(
                name=entry_point.name,
                distribution=dist,
                version=version,
                module=entry_point.value,
                error=_describe(exc),
            )
        )

    def on_missing(missing: Iterable[str]) -> None:
        failed = {error["name"] for error in errors}  # stevedore also reports a failed import as missing
        for name in sorted(missing):
            if name != CORE_PLUGIN and name not in failed:
                errors.append(
                    dict(name=name, phase="not installed", error=f"no {ENTRY_POINT_GROUP!r} entry point named {name!r}")
                )

    if names is None:
        available = _Manager.make_test_instance([], namespace=ENTRY_POINT_GROUP)
        wanted = [CORE_PLUGIN, *available.entry_points_names()]
    else:
        wanted = [CORE_PLUGIN, *names]
    manager = _Manager(
        ENTRY_POINT_GROUP,
        names=list(dict.fromkeys(wanted)),
        on_load_failure_callback=on_load_failure,
        on_missing_entrypoints_callback=on_missing,
    )
    loaded: list[tuple[str, object, importlib.metadata.EntryPoint | None]] = [
        (ext.name, ext.plugin, ext.entry_point) for ext in manager.extensions
    ]
    if not any(name == CORE_PLUGIN for name, _, _ in loaded) and not any(e["name"] == CORE_PLUGIN for e in errors):
        # ai_core imported from a source tree without its metadata: core's defaults still apply.
        from ai_core import builtin

        loaded.append((CORE_PLUGIN, builtin, None))
    loaded.sort(key=lambda entry: (entry[0] != CORE_PLUGIN, entry[0]))
    return loaded


def _distribution_of(entry_point: importlib.metadata.EntryPoint) -> tuple[str | None, str | None]:
    """The distribution that declares ``entry_point``, found without importing it.

    stevedore's cached entry points do not carry their distribution, so try the
    distribution named like the module's top-level package first (cheap), and
    scan the group only if that guess is wrong.
    """

    def declares(dist: importlib.metadata.Distribution) -> bool:
        return any(
            ep.group == ENTRY_POINT_GROUP and ep.name == entry_point.name and ep.value == entry_point.value
            for ep in dist.entry_points
        )

    top = entry_point.value.partition(":")[0].split(".")[0]
    try:
        guess = importlib.metadata.distribution(top)
        if declares(guess):
            return guess.metadata["Name"], guess.version
    except importlib.metadata.PackageNotFoundError:
        pass
    for candidate in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP, name=entry_point.name):
        if candidate.value == entry_point.value and candidate.dist is not None:
            return candidate.dist.metadata["Name"], candidate.dist.version
    return None, None


def _describe(exc: BaseException) -> str:
    """An exception as one line for a load error: its type, then its message if it has one."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
