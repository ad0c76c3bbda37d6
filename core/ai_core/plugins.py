"""Plugin discovery, registration and the inventory behind ``ai plugins``.

Discovery is lazy and fault-isolated. stevedore lists the ``ai_core`` entry
points from its on-disk cache without importing anything, drops the ones not
enabled (``AI_CORE_PLUGINS``, the ``plugins`` setting) *before* importing them,
and reports an import failure through a callback. pluggy then registers each
module and calls its hooks.

Registration hooks are called one implementation at a time, each with its own
``register`` callback, so core knows which plugin gave which provider, model or
layer, can validate every item, and can skip a plugin whose hook raises without
losing the others (pluggy itself stops a hook call at the first exception).

Nothing here runs at import time: the first :func:`default_registry` call does
the work, and only once per process.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from ai_core import hookspecs
from ai_core.errors import ConfigurationError

if TYPE_CHECKING:
    import click

    from ai_core.drivers.base import ProviderSpec
    from ai_core.events.listener import Listener
    from ai_core.mcp.spec import MCPServerSpec
    from ai_core.pipeline.middleware import Middleware
    from ai_core.plugin_models import (
        ListenerEntry,
        LoadError,
        PluginInfo,
        ProviderEntry,
    )
    from ai_core.types import ModelInfo, ModelPrice

__all__ = [
    "CORE_PLUGIN",
    "ENTRY_POINT_GROUP",
    "LoadError",
    "PluginInfo",
    "PluginRegistry",
    "default_registry",
    "enabled_plugins_from_environment",
    "parse_plugin_names",
    "reset_default_registry",
]

ENTRY_POINT_GROUP = "ai_core"
CORE_PLUGIN = "core"
"""Core's own entry point (``ai_core.builtin``): always loaded, whatever is enabled."""

ENV_VAR = "AI_CORE_PLUGINS"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")

# hook name -> (kind, import path of the type each registered item must be)
_REGISTRATION_HOOKS: dict[str, tuple[str, str]] = {
    "register_providers": ("providers", "ai_core.drivers.base:ProviderSpec"),
    "register_models": ("models", "ai_core.types:ModelInfo"),
    "register_prices": ("prices", "ai_core.types:ModelPrice"),
    "register_middleware": ("middleware", "ai_core.pipeline.middleware:Middleware"),
    "register_listeners": ("listeners", "ai_core.events.listener:Listener"),
    "register_mcp_servers": ("mcp_servers", "ai_core.mcp.spec:MCPServerSpec"),
}


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
# The registry
# ---------------------------------------------------------------------------


@dataclass
class _Plugin:
    name: str
    obj: object
    entry_point: importlib.metadata.EntryPoint | None = None
    items: dict[str, list[Any]] = field(default_factory=dict)
    commands: list[str] | None = None
    _dist: tuple[str | None, str | None] | None = None

    @property
    def module(self) -> str | None:
        if self.entry_point is not None:
            return self.entry_point.value
        if isinstance(self.obj, ModuleType):
            return self.obj.__name__
        return type(self.obj).__module__ + ":" + type(self.obj).__qualname__

    def distribution(self) -> tuple[str | None, str | None]:
        if self._dist is None:
            self._dist = _distribution_of(self.entry_point) if self.entry_point else (None, None)
        return self._dist


class PluginRegistry:
    """The loaded plugins, their registrations, and the pluggy hook relay.

    Build one from entry points with :meth:`from_entry_points`, or from explicit
    objects in tests: ``PluginRegistry(plugins=[("mine", module_or_object)])``
    (no globals, no entry points, nothing else loaded).
    """

    def __init__(self, plugins: Iterable[tuple[str, object]] = ()) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self._plugins: dict[str, _Plugin] = {}
        self._errors: list[dict[str, Any]] = []  # LoadError fields; the pydantic model is built on read
        self._collected = False
        self._lock = threading.RLock()
        for name, obj in plugins:
            self.register(name, obj)

    # -- building -----------------------------------------------------------

    @classmethod
    def from_entry_points(cls, enabled: Sequence[str] | None = None) -> PluginRegistry:
        """Load the ``ai_core`` entry points that are enabled.

        :param enabled: entry-point names to load; ``None`` reads
            ``AI_CORE_PLUGINS`` and the ``plugins`` setting, where unset means
            every installed plugin. Core's own ``core`` plugin always loads.
        """
        names = enabled_plugins_from_environment() if enabled is None else parse_plugin_names(list(enabled))
        registry = cls()
        for name, obj, entry_point in _load_entry_points(names, registry._errors):
            registry._register(name, obj, entry_point)
        return registry

    def register(self, name: str, obj: object) -> bool:
        """Add one plugin object (a module, class instance or class).

        Returns False, and records a :class:`LoadError`, if pluggy rejects it
        (a hook with the wrong arguments, an unknown hook name, a name in use).
        """
        return self._register(name, obj, None)

    def _register(self, name: str, obj: object, entry_point: importlib.metadata.EntryPoint | None) -> bool:
        plugin = _Plugin(name, obj, entry_point)
        with self._lock:
            if name in self._plugins:
                self._record(plugin, "register", f"a plugin named {name!r} is already loaded")
                return False
            try:
                self._pm.register(obj, name=name)
            except Exception as exc:
                self._record(plugin, "register", _describe(exc))
                return False
            unknown = [c.name for c in self._pm.get_hookcallers(obj) or [] if c.spec is None]
            if unknown:
                self._pm.unregister(obj)
                self._record(plugin, "register", f"implements unknown hook(s): {', '.join(sorted(unknown))}")
                return False
            self._plugins[name] = plugin
            self._collected = False
            return True

    # -- the hook relay -----------------------------------------------------

    @property
    def hook(self) -> Any:
        """pluggy's hook relay, for decision hooks: ``registry.hook.calculate_cost(...)``."""
        return self._pm.hook

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        return self._pm

    @property
    def load_errors(self) -> list[LoadError]:
        """Plugins that failed to import or register (running the registration hooks first)."""
        from ai_core.plugin_models import LoadError

        self._collect()
        return [LoadError(**fields) for fields in self._errors]

    def plugin_names(self) -> list[str]:
        """Plugins loaded and not skipped (running the registration hooks first)."""
        self._collect()
        return list(self._plugins)

    def get_plugin(self, name: str) -> object | None:
        plugin = self._plugins.get(name)
        return plugin.obj if plugin else None

    # -- registrations ------------------------------------------------------

    def providers(self) -> dict[str, ProviderSpec]:
        return {spec.name: spec for spec in self._items("providers")}

    def models(self) -> list[ModelInfo]:
        return self._items("models")

    def prices(self) -> list[ModelPrice]:
        return self._items("prices")

    def middleware(self) -> list[Middleware]:
        """Every registered layer, sorted by ``(order, name)``, outermost first."""
        return sorted(self._items("middleware"), key=lambda layer: (layer.order, layer.name))

    def listeners(self) -> list[Listener]:
        return self._items("listeners")

    def mcp_servers(self) -> dict[str, MCPServerSpec]:
        return {spec.name: spec for spec in self._items("mcp_servers")}

    def provider_owner(self, provider: str) -> str | None:
        """The name of the plugin that registered ``provider``."""
        self._collect()
        for plugin in self._plugins.values():
            if any(spec.name == provider for spec in plugin.items.get("providers", ())):
                return plugin.name
        return None

    def _items(self, kind: str) -> list[Any]:
        self._collect()
        return [item for plugin in self._plugins.values() for item in plugin.items.get(kind, ())]

    def _collect(self) -> None:
        """Call every registration hook, one plugin at a time, validating each item."""
        if self._collected:
            return
        with self._lock:
            if self._collected:
                return
            expected = {hook: (kind, _import_type(path)) for hook, (kind, path) in _REGISTRATION_HOOKS.items()}
            taken: dict[str, dict[str, str]] = {"providers": {}, "mcp_servers": {}}
            for plugin in list(self._plugins.values()):
                items: dict[str, list[Any]] = {kind: [] for kind, _ in expected.values()}
                phase = "register"
                try:
                    for hook_name, (kind, item_type) in expected.items():
                        phase = hook_name
                        impl = self._impl(plugin, hook_name)
                        if impl is not None:
                            _call_impl(impl, register=_validator(hook_name, item_type, items[kind]))
                    phase = "register"
                    for kind, owners in taken.items():
                        _check_unique(kind, items[kind], owners)
                except Exception as exc:
                    self._disable(plugin, phase, _describe(exc))
                    continue
                plugin.items = items
                for kind, owners in taken.items():
                    owners.update((item.name, plugin.name) for item in items[kind])
            self._collected = True

    def _impl(self, plugin: _Plugin, hook_name: str) -> Any:
        caller = getattr(self._pm.hook, hook_name)
        for impl in caller.get_hookimpls():
            if impl.plugin is plugin.obj and not (impl.hookwrapper or impl.wrapper):
                return impl
        return None

    def _disable(self, plugin: _Plugin, phase: str, error: str) -> None:
        """Skip a plugin whose hook raised: unregister it so no hook reaches it again."""
        self._plugins.pop(plugin.name, None)
        if self._pm.is_registered(plugin.obj):
            self._pm.unregister(plugin.obj)
        self._record(plugin, phase, error)

    def _record(self, plugin: _Plugin, phase: str, error: str) -> None:
        dist, version = plugin.distribution()
        self._errors.append(
            dict(name=plugin.name, distribution=dist, version=version, module=plugin.module, phase=phase, error=error)
        )

    # -- the command line ---------------------------------------------------

    def add_cli_commands(self, group: click.Group) -> None:
        """Let every plugin add commands to ``group``; a plugin that raises is skipped."""
        for plugin in list(self._plugins.values()):
            impl = self._impl(plugin, "register_commands")
            if impl is None:
                plugin.commands = plugin.commands or []
                continue
            before = dict(group.commands)
            try:
                _call_impl(impl, cli=group)
            except Exception as exc:
                for name in set(group.commands) - set(before):
                    del group.commands[name]
                self._disable(plugin, "register_commands", _describe(exc))
                continue
            plugin.commands = sorted(n for n in group.commands if group.commands[n] is not before.get(n))

    # -- the inventory ------------------------------------------------------

    def inventory(self) -> list[PluginInfo]:
        """What each loaded plugin provides (the data behind ``ai plugins``)."""
        from ai_core.plugin_models import MCPServerEntry, MiddlewareEntry, PluginInfo

        self._collect()
        if any(p.commands is None for p in self._plugins.values()):
            import click

            self.add_cli_commands(click.Group("ai"))
        infos: list[PluginInfo] = []
        for plugin in self._plugins.values():
            dist, version = plugin.distribution()
            items = plugin.items
            infos.append(
                PluginInfo(
                    name=plugin.name,
                    distribution=dist,
                    version=version,
                    module=plugin.module,
                    hooks=sorted(c.name for c in self._pm.get_hookcallers(plugin.obj) or []),
                    providers=[_provider_entry(spec) for spec in items.get("providers", ())],
                    models=[m.qualified_id for m in items.get("models", ())],
                    priced_models=sorted({f"{p.provider}/{p.model}" for p in items.get("prices", ())}),
                    mcp_servers=[
                        MCPServerEntry(
                            name=s.name, transport=s.transport, description=s.description, tools=list(s.tools)
                        )
                        for s in items.get("mcp_servers", ())
                    ],
                    middleware=[
                        MiddlewareEntry(name=m.name, order=m.order, type=type(m).__qualname__)
                        for m in items.get("middleware", ())
                    ],
                    listeners=[_listener_entry(listener) for listener in items.get("listeners", ())],
                    cost_calculators=[
                        _qualname(impl.function)
                        for impl in self._pm.hook.calculate_cost.get_hookimpls()
                        if impl.plugin is plugin.obj
                    ],
                    cli_commands=plugin.commands or [],
                )
            )
        return infos

    def __repr__(self) -> str:
        return f"<PluginRegistry plugins={list(self._plugins)!r} load_errors={len(self._errors)}>"


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _validator(hook_name: str, item_type: type, sink: list[Any]) -> Callable[[Any], None]:
    """The ``register`` callback one plugin's hook receives."""

    def register(item: Any) -> None:
        if not isinstance(item, item_type):
            raise TypeError(f"{hook_name}: register() takes a {item_type.__name__}, got {type(item).__name__}")
        name = getattr(item, "name", None) if hook_name in ("register_providers", "register_mcp_servers") else None
        if name is not None and (not name or "/" in name):
            raise ValueError(f"{hook_name}: name {name!r} must be non-empty and contain no '/'")
        sink.append(item)

    return register


def _check_unique(kind: str, items: list[Any], owners: dict[str, str]) -> None:
    """Provider and MCP server names address things, so only one plugin may use each."""
    what = "provider" if kind == "providers" else "MCP server"
    seen: set[str] = set()
    for item in items:
        if item.name in owners:
            raise ValueError(f"{what} {item.name!r} is already registered by plugin {owners[item.name]!r}")
        if item.name in seen:
            raise ValueError(f"{what} {item.name!r} is registered twice")
        seen.add(item.name)


def _call_impl(impl: Any, **available: Any) -> Any:
    """Call one hookimpl with just the arguments it names, as pluggy would."""
    return impl.function(*(available[name] for name in impl.argnames))


def _import_type(path: str) -> type:
    module_name, _, attr = path.partition(":")
    return getattr(importlib.import_module(module_name), attr)  # type: ignore[no-any-return]


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', repr(obj))}"


def _provider_entry(spec: ProviderSpec) -> ProviderEntry:
    from ai_core.plugin_models import ProviderEntry

    driver = spec.driver if isinstance(spec.driver, str) else _qualname(spec.driver)
    return ProviderEntry(
        name=spec.name,
        driver=driver,
        description=spec.description,
        capabilities=spec.capabilities.names(),
        default_model=spec.default_model,
        default_base_url=spec.default_base_url,
        api_key_env=list(spec.api_key_env),
    )


def _listener_entry(listener: Listener) -> ListenerEntry:
    from ai_core.plugin_models import ListenerEntry

    events = listener.events if isinstance(listener.events, tuple) else (listener.events,)
    return ListenerEntry(name=listener.name, events=[e.__name__ for e in events], is_async=listener.is_async)


def _load_entry_points(
    names: list[str] | None, errors: list[dict[str, Any]]
) -> list[tuple[str, object, importlib.metadata.EntryPoint | None]]:
    """Import the enabled entry points (core's first, then by name) through stevedore."""
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


def __getattr__(name: str) -> Any:
    # The report models live in ai_core.plugin_models (pydantic, loaded on use).
    if name in ("LoadError", "PluginInfo"):
        from ai_core import plugin_models

        return getattr(plugin_models, name)
    raise AttributeError(f"module 'ai_core.plugins' has no attribute {name!r}")


_default: PluginRegistry | None = None
_default_lock = threading.Lock()


def default_registry() -> PluginRegistry:
    """The process-wide registry from entry points, built on first use."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = PluginRegistry.from_entry_points()
    return _default


def reset_default_registry() -> None:
    """Forget the process-wide registry (tests, or after installing a plugin)."""
    global _default
    with _default_lock:
        _default = None
