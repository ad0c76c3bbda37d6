"""The plugin contract: every hook a plugin can implement.

pluggy calls hooks synchronously, newest registration first, and stops at the
first exception. So hooks here either *register* objects through a callback
(core validates each, records which plugin gave it, and awaits, orders and
isolates them later), or *decide* something with ``firstresult``. Nothing may
depend on the order in which plugins' hooks are called.

Plugins import only :data:`hookimpl` from here::

    from ai_core import hookimpl

    @hookimpl
    def register_providers(register):
        register(ProviderSpec(name="acme", driver="acme_ai.driver:AcmeDriver", ...))

Each hook below reads: signature; when core calls it; its arguments; what to
return; the calling rule; who calls it. docs/plugins.md has a runnable example
of each.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from ai_core.types import Cost, ModelPrice, TokenUsage

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]

PROJECT_NAME = "ai_core"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# ---------------------------------------------------------------------------
# Providers and their data
# ---------------------------------------------------------------------------


@hookspec
def register_providers(register: Callable[[Any], None]) -> None:
    """Register the providers (drivers) this plugin adds.

    Core calls it once, when the plugin registry is first used.

    :param register: call it with one :class:`ai_core.ProviderSpec` per provider.
        Give the driver as an import string (``"pkg.driver:Driver"``) so the
        plugin's HTTP code is imported only when the provider is used.

    Return nothing. Every implementation is called. Two plugins registering the
    same provider name is a load error of the later one.

    Called by: :class:`ai_core.PluginRegistry` at load.
    """


@hookspec
def register_models(register: Callable[[Any], None]) -> None:
    """Register the models this plugin knows of, offline.

    Core calls it when models are listed (``ai models``) or resolved.

    :param register: call it with one :class:`ai_core.ModelInfo` per model.

    Return nothing. Every implementation is called. Never contact a server
    here; ``ai models sync`` asks the provider's API explicitly.

    Called by: :class:`ai_core.PluginRegistry`.
    """


@hookspec
def register_prices(register: Callable[[Any], None]) -> None:
    """Register price rows shipped with this plugin.

    Core calls it when the price table is first needed.

    :param register: call it with one :class:`ai_core.ModelPrice` per price
        row; several rows for one model with different ``effective_from``
        dates form its price history.

    Return nothing. Every implementation is called.

    Called by: :class:`ai_core.costs.PriceBook`.
    """


@hookspec(firstresult=True)
def calculate_cost(
    provider: str,
    model: str,
    usage: TokenUsage,
    priced_at: datetime,
    price: ModelPrice | None,
) -> Cost | None:
    """Price one call.

    Core calls it after every response, once per response (a stream is priced
    once, at its end).

    :param provider: the provider name, e.g. ``"openai"``.
    :param model: the provider's model id.
    :param usage: the call's token usage.
    :param priced_at: when the call was made; prices in force then apply.
    :param price: the price row core found for that moment, or ``None``.

    Return a :class:`ai_core.Cost`, or ``None`` to let the next implementation
    decide. First non-``None`` result wins; core's price table answers last
    (``trylast``), with an unknown cost when it has no price.

    Called by: response processing (:mod:`ai_core.pipeline.processing`).
    """


# ---------------------------------------------------------------------------
# The request pipeline
# ---------------------------------------------------------------------------


@hookspec
def register_middleware(register: Callable[[Any], None]) -> None:
    """Register middleware layers around every provider call.

    Core calls it once, when the first pipeline is built.

    :param register: call it with :class:`ai_core.Middleware` instances. Each
        declares an ``order``: lower runs outer (sees the request first and the
        response last).

    Return nothing. Every implementation is called.

    Called by: :class:`ai_core.AI` when it builds its pipeline.
    """


@hookspec
def register_listeners(register: Callable[[Any], None]) -> None:
    """Register event listeners.

    Core calls it once, when the event dispatcher starts.

    :param register: call it with :class:`ai_core.Listener` objects (an event
        type or tuple of types, and a sync or async callable). A handler that
        needs the settings or database of the ``AI`` it serves is a
        :class:`ai_core.integrations.base.BindableHandler`: each ``AI`` calls
        its ``bind(services)`` and runs the listener that returns (``None``:
        not configured, nothing runs).

    Return nothing. Every implementation is called. Listeners run in the
    background; a failing one is logged and isolated. ``AI_LISTENERS_DISABLED``
    (comma-separated listener names) turns listeners off.
    With ``AI_QUEUE_URL`` set they run on ``ai worker`` processes instead,
    found there by module and name, acknowledged late: an event may arrive
    twice, so write through :func:`ai_core.queue.delivery_connection` (see
    docs/queue.md).

    Called by: :class:`ai_core.events.EventDispatcher`.
    """


@hookspec
def register_mcp_servers(register: Callable[[Any], None]) -> None:
    """Register MCP servers whose tools conversations can use by name.

    Core calls it when a conversation asks for ``.mcp(name)`` or when
    ``ai plugins`` lists capabilities.

    :param register: call it with :class:`ai_core.MCPServerSpec` objects.

    Return nothing. Every implementation is called.

    Called by: :class:`ai_core.PluginRegistry`.
    """


@hookspec
def register_tool_approvers(register: Callable[[Any], None]) -> None:
    """Register checks that approve, deny or defer tool calls before they run.

    Core calls it when a conversation first runs a tool the model asked for.

    :param register: call it with :class:`ai_core.ToolApprover` objects: a
        ``name``, an ``order`` (lower runs first) and ``check(request)``, plain
        or ``async``, taking a :class:`ai_core.ToolCallRequest` and returning
        :class:`ai_core.Approval` (``approve()``, ``deny(reason)``: the model
        reads the reason, ``defer()``: the turn ends with the call pending until
        ``conversation.approve(call_id)``/``deny(call_id)``), or None for no
        opinion. The first denial wins; a check that raises denies.

    Return nothing. Every implementation is called.

    Called by: the tool loop (:mod:`ai_core.pipeline.tools`).
    """


# ---------------------------------------------------------------------------
# Request security and agent actions
# ---------------------------------------------------------------------------


@hookspec
def register_pii_detectors(register: Callable[[Any], None]) -> None:
    """Register detectors the PII filter can use beside the built-in ones.

    Core calls it when the PII layer first filters a call (only when the PII
    filter is configured).

    :param register: call it with :class:`ai_core.security.pii.Detector`
        objects: a name, a compiled pattern, the longest text a match can span
        (a stream holds back that much) and an optional validator.

    Return nothing. Every implementation is called. A detector is used when the
    configuration names it, or when it names none (all detectors).

    Called by: :class:`ai_core.security.pii_layer.PIIMiddleware`.
    """


@hookspec
def register_actions(register: Callable[[Any], None]) -> None:
    """Register side-effecting actions a model may request as tools.

    Core calls it when an ``AI`` first lists its actions (``.actions(...)``).

    :param register: call it with :class:`ai_core.actions.ActionSpec` objects
        (a name, a plain or ``async`` function, a description, a timeout).

    Return nothing. Every implementation is called. An action registered with
    ``@ai.action`` under the same name wins.

    Called by: :class:`ai_core.actions.ActionManager`.
    """


# ---------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add commands to the ``ai`` command line.

    Core calls it when ``ai`` starts.

    :param cli: the root :class:`click.Group`; add commands or groups to it.
        Import anything heavy inside the command function, not here.

    Return nothing. Every implementation is called.

    Called by: :mod:`ai_core.cli`.
    """
