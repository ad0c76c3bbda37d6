"""The ``AI`` facade: one object that owns settings, plugins, storage and events.

    from ai_core import AI

    ai = AI()                                    # env + config file + plugins
    reply = ai.conversation().model("openai/gpt-4o-mini").user("Hi").send()
    print(reply.text, reply.usage, reply.cost.total)

Several ``AI`` instances can live side by side (one per tenant, or a test next
to the app) and share nothing but the process-wide plugin registry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from ai_core.config import Settings, load_settings
from ai_core.costs import PriceBook
from ai_core.drivers.base import Driver
from ai_core.events.dispatcher import EventDispatcher
from ai_core.events.listener import Listener
from ai_core.integrations.base import bind_listeners, close_bound
from ai_core.mcp.pending import PendingCalls
from ai_core.mcp.pool import MCPPool
from ai_core.mcp.servers import ConnectedServer
from ai_core.pipeline.builder import ConversationBuilder
from ai_core.pipeline.middleware import Middleware, check_layer, order_layers
from ai_core.pipeline.providers import ProviderManager
from ai_core.pipeline.runner import TurnRunner
from ai_core.pipeline.store import ConversationStore, MemoryStore
from ai_core.pipeline.syncbridge import SyncBridge
from ai_core.plugins import PluginRegistry, default_registry
from ai_core.services import Services
from ai_core.shield import wait_shielded
from ai_core.types import ModelInfo

if TYPE_CHECKING:
    from ai_core.batch import BatchResult

__all__ = ["AI"]

SHIELDED_GRACE = 10.0  # seconds aclose waits for ledger writes of cancelled calls to end


class AI:
    """Entry point of the library.

    :param persistence: store conversations (default: ``AI_PERSISTENCE``, on).
    :param database_url: SQLAlchemy URL; default SQLite in the user data dir.
    :param providers: run-time provider settings, e.g. ``{"openai": {"api_key":
        tenant_key, "base_url": ...}}``; they override the environment for this
        instance only.
    :param drivers: ready driver instances by provider name (tests, the fake).
    :param registry: a plugin registry (default: installed entry points).
    :param budgets: budgets enforced for this instance, added to configured ones.
    :param listeners: extra event listeners; :param middleware: extra layers.
    :param store: a custom conversation store (overrides persistence).
    :param rate_limits: rate limits for this instance, added to configured ones
        (:class:`ai_core.scale.rules.RateLimit` or its dict form).
    :param mcp_servers: MCP servers for this instance by name, added to
        ``[mcp.servers]`` and plugins' (see docs/mcp.md): a mapping with
        ``command``/``args``/``env`` or ``url``/``headers``, an mcp SDK server
        object, or an object with the :class:`MCPServer` protocol.
    """

    def __init__(
        self,
        *,
        persistence: bool | None = None,
        database_url: str | None = None,
        providers: Mapping[str, Mapping[str, Any]] | None = None,
        drivers: Mapping[str, Driver] | None = None,
        registry: PluginRegistry | None = None,
        budgets: Sequence[Any] | None = None,
        listeners: Iterable[Listener] = (),
        middleware: Iterable[Middleware] = (),
        store: ConversationStore | None = None,
        settings: Settings | None = None,
        default_model: str | None = None,
        rate_limits: Sequence[Any] | None = None,
        mcp_servers: Mapping[str, Any] | None = None,
    ) -> None:
        settings = settings or load_settings(
            persistence=persistence, database_url=database_url, default_model=default_model
        )
        if budgets:
            settings = settings.model_copy(
                update={
                    "budgets": [
                        *settings.budgets,
                        *(b.model_dump() if hasattr(b, "model_dump") else dict(b) for b in budgets),
                    ]
                }
            )
        if rate_limits:
            from ai_core.scale.rules import as_rules

            added = [rule.model_dump() for rule in as_rules(list(rate_limits))]
            settings = settings.model_copy(update={"rate_limits": [*settings.rate_limits, *added]})
        registry = registry or default_registry()
        # A layer with ``enabled(settings)`` returning False (security layers left unconfigured) is left out: zero cost.
        layers = order_layers(
            [
                layer
                for layer in [*registry.middleware(), *middleware]
                if (enabled := getattr(layer, "enabled", None)) is None or enabled(settings)
            ]
        )
        for layer in layers:  # a broken layer fails here, not on the first call
            check_layer(layer)
        prices = PriceBook(registry.prices())
        database = None
        core_listeners: list[Listener] = []
        if store is None and settings.persistence:
            from ai_core.storage import Database

            database = Database.open(settings.database_url, settings=settings)
            database.load_prices(prices)  # prices stored by `ai models sync` join the plugins' tables
            store = database.conversation_store()
        self.services = Services(
            settings=settings,
            registry=registry,
            prices=prices,
            events=EventDispatcher(),
            store=store or MemoryStore(),
            database=database,
        )
        # Listeners that need this instance's settings and database are bound to it (ai_core.integrations.base).
        bound = bind_listeners([*core_listeners, *registry.listeners()], self.services)
        if settings.queue_url is not None or settings.queue.url is not None:  # plugins' listeners on `ai worker`
            from ai_core.queue.relay import split_queued

            bound = split_queued(self.services, bound)
        for listener in [*bound, *bind_listeners(listeners, self.services)]:
            self.services.events.add_listener(listener)
        self.providers = ProviderManager(self.services, overrides=providers, drivers=drivers)
        if settings.response_cache_ttl is not None:  # every call cached (AI_RESPONSE_CACHE_TTL)
            layers = order_layers([*layers, self.providers.scale.response_layer()])
        self.middleware = layers
        self._runner = TurnRunner(self.services, self.providers, layers)
        self._bridge = SyncBridge()
        self._mcp = MCPPool(self.services, mcp_servers)  # connections per loop, closed with the AI
        self._mcp_pending = PendingCalls(self.services)
        self._closed = False

    # -- public API --------------------------------------------------------

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def events(self) -> EventDispatcher:
        return self.services.events

    def conversation(
        self,
        model: str | None = None,
        *,
        id: str | None = None,
        user: str | None = None,
        tenant: str | None = None,
        tags: Sequence[str] = (),
    ) -> ConversationBuilder:
        """Start a conversation, or resume a stored one with ``id=``."""
        builder = ConversationBuilder(self, id=id, user=user, tenant=tenant, tags=tags)
        if model is not None:
            builder.model(model)
        return builder

    async def abatch(
        self, items: Iterable[Any], *, concurrency: int = 8, job: str | None = None, on_result: Any = None
    ) -> list[BatchResult]:
        """Send many requests through the whole pipeline (budgets, prices, the ledger),
        at most ``concurrency`` at once; one :class:`~ai_core.batch.BatchResult` per
        item, in order, each with its answer or its error. With ``job``, a second run
        takes answers already in the ledger instead of sending again. See docs/batches.md."""
        from ai_core.batch import run_batch

        return await run_batch(self, items, concurrency=concurrency, job=job, on_result=on_result)

    def batch(
        self, items: Iterable[Any], *, concurrency: int = 8, job: str | None = None, on_result: Any = None
    ) -> list[BatchResult]:
        """The sync twin of :meth:`abatch`."""
        return self._bridge.call(lambda: self.abatch(items, concurrency=concurrency, job=job, on_result=on_result))

    def action(self, name: str | None = None, *, description: str = "", timeout: float = 300.0) -> Any:
        """Decorator: ``@ai.action("send_followup_email")`` registers a side-effecting
        action the model may request with ``.actions(...)``; it runs in the background
        (docs/actions.md)."""
        from ai_core.actions import action_decorator

        return action_decorator(self, name, description=description, timeout=timeout)

    def on(self, *event_types: type, timeout: float = 30.0) -> Any:
        """Decorator: ``@ai.on(ResponseGenerated)`` registers a listener."""

        def register(handler: Any) -> Any:
            self.services.events.add_listener(Listener(events=tuple(event_types), handler=handler, timeout=timeout))
            return handler

        return register

    def models(self, provider: str | None = None) -> list[ModelInfo]:
        """Models the installed plugins declare (offline)."""
        return [m for m in self.services.registry.models() if provider is None or m.provider == provider]

    def add_mcp_server(self, name: str, server: Any) -> None:
        """Make an MCP server known to this instance (what ``mcp_servers=`` takes)."""
        self._mcp.add(name, server)

    async def _mcp_server(self, name: str) -> ConnectedServer:
        """One connected server per name and event loop, closed with the AI."""
        return await self._mcp.get(name)

    # -- lifetime ----------------------------------------------------------

    async def aclose(self) -> None:
        """Close HTTP pools and MCP servers, drain events, close the database."""
        if self._closed:
            return
        self._closed = True
        await self._release()
        self._bridge.close()

    def close(self) -> None:
        """The sync twin of :meth:`aclose`; safe inside a running loop (Jupyter)."""
        if self._closed:
            return
        self._closed = True
        self._bridge.call(self._release)  # anyio.run would fail where a loop is already running
        self._bridge.close()

    async def _release(self) -> None:
        with anyio.move_on_after(SHIELDED_GRACE, shield=True):
            await wait_shielded()  # ledger writes of calls cancelled on the way out (Ctrl-C in asyncio.run)
        await self.providers.aclose()
        await self._mcp.aclose()
        await self.services.events.adrain()
        relayed = self.services.events.relay.listeners if self.services.events.relay is not None else []
        # webhook deliveries...
        await anyio.to_thread.run_sync(close_bound, [*self.services.events.listeners, *relayed])
        await self.services.events.adrain()  # ...and the events they emitted
        self.services.events.close()
        await self.services.store.aclose()

    def __enter__(self) -> AI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> AI:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        storage = "sql" if self.services.database is not None else "memory"
        return f"<AI plugins={len(self.services.registry.plugin_names())} storage={storage}>"
