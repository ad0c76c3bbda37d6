"""``ai plugins --check``: what is wrong with the installed plugins, found without calling anything.

A check imports a plugin's driver and MCP server factories (import strings are
otherwise loaded on first use) but never builds a driver, opens a connection or
calls a provider. Each problem is one :class:`~ai_core.plugin_models.PluginProblem`:

- the plugin failed to load (import, a hook that raised, a catalogue that does
  not validate, a config-file provider with a bad key);
- a provider's driver does not import, or its class says it cannot carry a
  capability the provider advertises (the ``ProviderSpec`` is the declaration
  core enforces; a driver class that sets ``capabilities`` itself, as a dialect
  driver does, bounds it); its default model is not among its models; its base URL is not an
  http(s) URL, or is an OpenAI Chat Completions URL without a path (``/v1``);
- a model of a provider nobody registers, one that lists a capability its
  provider does not advertise, one served by a model nobody lists, or one
  without any price row (its calls would cost "unknown");
- a price row for a model nobody lists;
- a middleware layer without a name or an integer order, whose ``__call__`` is
  not ``async def``, whose ``stream`` is a coroutine (``async def`` without
  ``yield``: it fails only when called), whose methods do not take
  ``(call, call_next)``, or that overrides ``__call__`` but not ``stream`` (so
  streamed calls, as ``ai chat`` makes, pass it by);
- an MCP server whose factory does not import.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ai_core.plugin_models import PluginProblem

if TYPE_CHECKING:
    from ai_core.drivers.base import ProviderSpec
    from ai_core.plugins import PluginRegistry, _Plugin

__all__ = ["check_plugins"]


def check_plugins(registry: PluginRegistry, names: Sequence[str] | None = None) -> list[PluginProblem]:
    """Every problem of the registry's plugins (only ``names`` if given), load errors first."""
    wanted = set(names) if names else None
    problems = [
        PluginProblem(plugin=error.name, problem=f"failed to load ({error.phase}): {error.error}")
        for error in registry.load_errors
        if wanted is None or error.name in wanted
    ]
    plugins: list[_Plugin] = list(registry._plugins.values())
    everywhere = _Everything(plugins)
    for plugin in plugins:
        if wanted is not None and plugin.name not in wanted:
            continue
        found = [
            *(p for spec in plugin.items.get("providers", ()) for p in _provider(spec, everywhere)),
            *(p for model in plugin.items.get("models", ()) for p in _model(model, everywhere)),
            *(p for price in plugin.items.get("prices", ()) for p in _price(price, everywhere)),
            *(p for layer in plugin.items.get("middleware", ()) for p in _middleware(layer)),
            *(p for spec in plugin.items.get("mcp_servers", ()) for p in _mcp_server(spec)),
        ]
        problems += [PluginProblem(plugin=plugin.name, problem=text) for text in found]
    return problems


class _Everything:
    """What all plugins registered together: a model may be priced by another plugin."""

    def __init__(self, plugins: Iterable[_Plugin]) -> None:
        self.providers: dict[str, ProviderSpec] = {}
        self.models: dict[tuple[str, str], Any] = {}
        self.priced: set[tuple[str, str]] = set()
        for plugin in plugins:
            self.providers.update((spec.name, spec) for spec in plugin.items.get("providers", ()))
            self.models.update(((m.provider, m.id), m) for m in plugin.items.get("models", ()))
            self.priced.update((p.provider, p.model) for p in plugin.items.get("prices", ()))

    def models_of(self, provider: str) -> list[str]:
        return [model for owner, model in self.models if owner == provider]


def _provider(spec: ProviderSpec, everything: _Everything) -> Iterable[str]:
    from ai_core.drivers.base import Driver
    from ai_core.errors import PluginLoadError

    what = f"provider {spec.name!r}"
    try:
        factory = spec.load_factory()
    except PluginLoadError as exc:
        yield f"{what}: {exc.error}"
        factory = None
    if isinstance(factory, type) and issubclass(factory, Driver) and factory.capabilities is not Driver.capabilities:
        declared = factory.capabilities  # set on the class: what the driver's wire format can carry at most
        missing = [name for name in spec.capabilities.names() if not getattr(declared, name, False)]
        if missing:
            yield (
                f"{what} advertises {', '.join(missing)}, which {factory.__qualname__}.capabilities says the driver "
                f"cannot carry (stop advertising it, or correct the driver's)"
            )
    if spec.default_model is not None:
        listed = everything.models_of(spec.name)
        if listed and spec.default_model not in listed:
            yield f"{what}: default model {spec.default_model!r} is not among its models ({', '.join(listed)})"
    if spec.default_base_url:
        url = urlsplit(spec.default_base_url)
        if url.scheme not in ("http", "https") or not url.netloc:
            yield f"{what}: base URL {spec.default_base_url!r} is not an http:// or https:// URL"
        elif url.path.strip("/") == "" and _speaks_openai_chat(factory):
            yield (
                f"{what}: base URL {spec.default_base_url!r} has no path; an OpenAI-compatible API is served "
                f"under a prefix such as /v1 (the driver appends /chat/completions)"
            )


def _speaks_openai_chat(factory: Any) -> bool:
    from ai_core.dialects.openai_chat.driver import OpenAIChatDriver

    return isinstance(factory, type) and issubclass(factory, OpenAIChatDriver)


def _model(model: Any, everything: _Everything) -> Iterable[str]:
    what = f"model {model.qualified_id!r}"
    spec = everything.providers.get(model.provider)
    if spec is None:
        yield f"{what}: no plugin registers a provider named {model.provider!r}"
    elif model.capabilities is not None:
        extra = [name for name in model.capabilities.names() if not getattr(spec.capabilities, name, False)]
        if extra:
            yield f"{what} lists {', '.join(extra)}, which provider {spec.name!r} does not advertise"
    if model.served_by is not None and (model.provider, model.served_by) not in everything.models:
        yield f"{what} is served by {model.served_by!r}, which no plugin lists"
    if (model.provider, model.id) not in everything.priced:
        yield f'{what} has no price row, so its calls cost "unknown" (add a [[prices]] row; "0" if it is free)'


def _price(price: Any, everything: _Everything) -> Iterable[str]:
    if (price.provider, price.model) not in everything.models and price.billed_as is None:  # aliases bill as a model
        yield f"price for {price.provider}/{price.model} from {price.effective_from}: no plugin lists that model"


def middleware_problems(layer: Any) -> list[str]:
    """What is wrong with a middleware layer (empty when nothing is)."""
    return list(_middleware(layer))


def _middleware(layer: Any) -> Iterable[str]:
    from ai_core.pipeline.middleware import Middleware

    kind = type(layer)
    name = getattr(layer, "name", None)
    what = f"middleware {name!r} ({kind.__qualname__})"
    if not isinstance(name, str) or not name:
        yield f"{what}: name must be a non-empty string"
    order = getattr(layer, "order", None)
    if isinstance(order, bool) or not isinstance(order, int):
        yield f"{what}: order must be an integer, got {order!r}"
    call = getattr(kind, "__call__", None)  # noqa: B004 - the class's method, not callable(layer)
    stream = getattr(kind, "stream", None)
    if call is None or not inspect.iscoroutinefunction(call):
        yield f"{what}: __call__ must be 'async def __call__(self, call, call_next)'"
    if stream is None:
        yield f"{what}: has no stream(self, call, call_next) method; subclass ai_core.Middleware"
    elif inspect.iscoroutinefunction(stream):
        yield (
            f"{what}: stream is 'async def' without 'yield', so it returns a coroutine, not a stream; "
            "write an async generator, or a plain def returning call_next(call)"
        )
    for method_name, method in (("__call__", call), ("stream", stream)):
        if method is not None and not _takes_call_and_next(method):
            yield f"{what}: {method_name} must take (call, call_next)"
    overrides_call = call is not None and call is not getattr(Middleware, "__call__", None)  # noqa: B004
    overrides_stream = stream is not None and stream is not Middleware.stream
    if overrides_call and not overrides_stream and not getattr(layer, "unary_only", False):
        yield (
            f"{what} overrides __call__ but not stream, so streamed calls (ai chat streams) pass it by; "
            "override stream too (or put the change in rewrite(), or set unary_only = True)"
        )


def _takes_call_and_next(method: Any) -> bool:
    try:
        inspect.signature(method).bind(object(), object(), object())  # self, call, call_next
    except TypeError:
        return False
    except ValueError:  # no signature to read (a builtin): do not guess
        return True
    return True


def _mcp_server(spec: Any) -> Iterable[str]:
    try:
        spec.load_factory()
    except Exception as exc:
        yield f"MCP server {spec.name!r}: cannot import its factory {spec.factory!r}: {exc}"
