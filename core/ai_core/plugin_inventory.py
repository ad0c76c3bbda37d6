"""Turning loaded plugins into the report behind ``ai plugins``.

:meth:`ai_core.plugins.PluginRegistry.inventory` runs the registration hooks,
then hands its plugins here to be described as
:class:`~ai_core.plugin_models.PluginInfo` models. Kept apart from the registry
because it is the only part that needs the pydantic report models, and
:mod:`ai_core.plugins` imports this module only when an inventory is asked for,
so ``ai --help`` never pays for pydantic.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ai_core.plugin_models import (
    ListenerEntry,
    MCPServerEntry,
    MiddlewareEntry,
    PluginInfo,
    ProviderEntry,
)

if TYPE_CHECKING:
    import pluggy

    from ai_core.drivers.base import ProviderSpec
    from ai_core.events.listener import Listener
    from ai_core.plugins import _Plugin

__all__ = ["build_inventory"]


def build_inventory(plugins: Iterable[_Plugin], pm: pluggy.PluginManager) -> list[PluginInfo]:
    """Describe each plugin: its hooks and everything it registered.

    ``plugins`` must already have run their registration hooks (their ``items``
    and ``commands`` filled in); ``pm`` is the registry's plugin manager, asked
    which hooks and cost calculators each plugin implements.
    """
    infos: list[PluginInfo] = []
    for plugin in plugins:
        dist, version = plugin.distribution()
        items = plugin.items
        infos.append(
            PluginInfo(
                name=plugin.name,
                distribution=dist,
                version=version,
                module=plugin.module,
                hooks=sorted(c.name for c in pm.get_hookcallers(plugin.obj) or []),
                providers=[_provider_entry(spec) for spec in items.get("providers", ())],
                models=[m.qualified_id for m in items.get("models", ())],
                priced_models=sorted({f"{p.provider}/{p.model}" for p in items.get("prices", ())}),
                mcp_servers=[
                    MCPServerEntry(name=s.name, transport=s.transport, description=s.description, tools=list(s.tools))
                    for s in items.get("mcp_servers", ())
                ],
                middleware=[
                    MiddlewareEntry(name=m.name, order=m.order, type=type(m).__qualname__)
                    for m in items.get("middleware", ())
                ],
                listeners=[_listener_entry(listener) for listener in items.get("listeners", ())],
                cost_calculators=[
                    _qualname(impl.function)
                    for impl in pm.hook.calculate_cost.get_hookimpls()
                    if impl.plugin is plugin.obj
                ],
                cli_commands=plugin.commands or [],
            )
        )
    return infos


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', repr(obj))}"


def _provider_entry(spec: ProviderSpec) -> ProviderEntry:
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
    from ai_core.integrations.base import BindableHandler

    events = listener.events if isinstance(listener.events, tuple) else (listener.events,)
    return ListenerEntry(
        name=listener.name,
        events=[e.__name__ for e in events],
        is_async=listener.is_async,
        per_instance=isinstance(listener.handler, BindableHandler),
    )
