"""The plugin registry: registration, the hook relay and the process-wide default.

Discovery (which plugins are enabled, importing their entry points through
stevedore) lives in :mod:`ai_core.plugin_discovery`, providers made from the
config file in :mod:`ai_core.dialects.config_providers`, describing loaded
plugins for ``ai plugins`` in :mod:`ai_core.plugin_inventory` and checking them
(``ai plugins --check``) in :mod:`ai_core.plugin_check`. Their public
names, and (as ``X as X`` imports) the helpers that used to live here, are
re-exported here. pluggy registers each imported module and calls its hooks.

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
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from ai_core import hookspecs
from ai_core.plugin_discovery import _NAME as _NAME
from ai_core.plugin_discovery import (
    CORE_PLUGIN,
    ENTRY_POINT_GROUP,
    _describe,
    _distribution_of,
    _load_entry_points,
    enabled_plugins_from_environment,
    parse_plugin_names,
)
from ai_core.plugin_discovery import ENV_VAR as ENV_VAR
from ai_core.plugin_discovery import _plugins_setting as _plugins_setting

if TYPE_CHECKING:
    import click

    from ai_core.drivers.base import ProviderSpec
    from ai_core.events.listener import Listener
    from ai_core.mcp.approval import ToolApprover
    from ai_core.mcp.spec import MCPServerSpec
    from ai_core.pipeline.middleware import Middleware
    from ai_core.plugin_models import LoadError, PluginInfo, PluginProblem
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

# hook name -> (kind, import path of the type each registered item must be)
_REGISTRATION_HOOKS: dict[str, tuple[str, str]] = {
    "register_providers": ("providers", "ai_core.drivers.base:ProviderSpec"),
    "register_models": ("models", "ai_core.types:ModelInfo"),
    "register_prices": ("prices", "ai_core.types:ModelPrice"),
    "register_middleware": ("middleware", "ai_core.pipeline.middleware:Middleware"),
    "register_listeners": ("listeners", "ai_core.events.listener:Listener"),
    "register_mcp_servers": ("mcp_servers", "ai_core.mcp.spec:MCPServerSpec"),
    "register_tool_approvers": ("tool_approvers", "ai_core.mcp.approval:ToolApprover"),
}


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
    origin: str | None = None
    _dist: tuple[str | None, str | None] | None = None

    @property
    def module(self) -> str | None:
        if self.origin is not None:
            return self.origin
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
        self.generation = 0
        """Counts collections: what was read from the registry is current while this is unchanged."""
        self._lock = threading.RLock()
        for name, obj in plugins:
            self.register(name, obj)

    # -- building -----------------------------------------------------------

    @classmethod
    def from_entry_points(
        cls, enabled: Sequence[str] | None = None, *, config_providers: bool = True
    ) -> PluginRegistry:
        """Load the ``ai_core`` entry points that are enabled.

        :param enabled: entry-point names to load; ``None`` reads
            ``AI_CORE_PLUGINS`` and the ``plugins`` setting, where unset means
            every installed plugin. Core's own ``core`` plugin always loads.
        :param config_providers: also register each config-file section
            ``[providers.NAME]`` that names a ``dialect``, as plugin
            ``config:NAME`` (:mod:`ai_core.dialects.config_providers`). They
            are configuration, not installed code: ``enabled`` does not limit them.
        """
        names = enabled_plugins_from_environment() if enabled is None else parse_plugin_names(list(enabled))
        registry = cls()
        for name, obj, entry_point in _load_entry_points(names, registry._errors):
            registry._register(name, obj, entry_point)
        if config_providers:
            registry._register_config_providers()
        return registry

    def _register_config_providers(self) -> None:
        from ai_core.dialects.config_providers import config_file_path
        from ai_core.dialects.config_providers import config_providers as sections
        from ai_core.errors import ConfigurationError

        try:
            found = sections()
        except ConfigurationError as exc:
            plugin = _Plugin("config", None, origin=config_file_path())
            self._record(plugin, "import", str(exc))
            return
        for provider in found:
            self._register(provider.plugin_name, provider, None, origin=provider.where)

    def register(self, name: str, obj: object) -> bool:
        """Add one plugin object (a module, class instance or class).

        Returns False, and records a :class:`LoadError`, if pluggy rejects it
        (a hook with the wrong arguments, an unknown hook name, a name in use).
        """
        return self._register(name, obj, None)

    def _register(
        self, name: str, obj: object, entry_point: importlib.metadata.EntryPoint | None, origin: str | None = None
    ) -> bool:
        plugin = _Plugin(name, obj, entry_point, origin=origin)
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

    def tool_approvers(self) -> list[ToolApprover]:
        """Every registered tool approver, by ``(order, name)``."""
        return sorted(self._items("tool_approvers"), key=lambda a: (a.order, a.name))

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
                    self._disable(plugin, _phase_of(exc, phase), _describe(exc))
                    continue
                plugin.items = items
                for kind, owners in taken.items():
                    owners.update((item.name, plugin.name) for item in items[kind])
            self.generation += 1
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
        from ai_core.plugin_inventory import build_inventory

        self._collect()
        if any(p.commands is None for p in self._plugins.values()):
            import click

            self.add_cli_commands(click.Group("ai"))
        return build_inventory(self._plugins.values(), self._pm)

    def check(self, names: Sequence[str] | None = None) -> list[PluginProblem]:
        """Every problem ``ai plugins --check`` reports, without calling any provider.

        Load errors (a catalogue that does not validate is one), then for each
        plugin: its drivers import and declare what the provider advertises,
        its models and prices agree with its providers, its middleware has the
        call forms core uses. ``names`` limits the check to those plugins.
        """
        from ai_core.plugin_check import check_plugins

        self._collect()
        return check_plugins(self, names)

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


def _phase_of(exc: Exception, hook_name: str) -> str:
    """Where a registration failed: ``catalog`` for a catalogue that does not validate, else the hook."""
    from ai_core.dialects.catalog import CatalogError

    return "catalog" if isinstance(exc, CatalogError) else hook_name


def _call_impl(impl: Any, **available: Any) -> Any:
    """Call one hookimpl with just the arguments it names, as pluggy would."""
    return impl.function(*(available[name] for name in impl.argnames))


def _import_type(path: str) -> type:
    module_name, _, attr = path.partition(":")
    return getattr(importlib.import_module(module_name), attr)  # type: ignore[no-any-return]


def __getattr__(name: str) -> Any:
    # The report models live in ai_core.plugin_models and the inventory helpers in
    # ai_core.plugin_inventory (both pydantic, loaded on use).
    if name in ("LoadError", "PluginInfo", "PluginProblem"):
        from ai_core import plugin_models

        return getattr(plugin_models, name)
    if name in ("_provider_entry", "_listener_entry", "_qualname"):
        from ai_core import plugin_inventory

        return getattr(plugin_inventory, name)
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
