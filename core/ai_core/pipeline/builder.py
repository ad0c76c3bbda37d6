"""The fluent conversation builder, sync and async.

A builder *is* the conversation: it keeps its history across sends, so

    chat = ai.conversation().model("openai/gpt-4o-mini").system("Be brief.")
    chat.user("Hi").send()
    chat.user("And again?").send()      # the model sees the whole exchange

Setters return ``self`` and stay in force for later sends; messages added with
``.user()`` wait for the next send. Sync methods (``send``, ``stream``) run on
the ``AI`` instance's own event-loop thread, so they also work where a loop is
already running (Jupyter).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from ai_core import errors
from ai_core.mcp.conversation import MCPConversation
from ai_core.pipeline.middleware import Middleware, check_layer
from ai_core.pipeline.providers import split_model
from ai_core.pipeline.store import ConversationRecord, ConversationStore, new_id
from ai_core.pipeline.tools import FunctionTool, ToolBox
from ai_core.types import ChatRequest, ChatResponse, ImagePart, Message, ResponseFormat, StreamEvent, ToolSpec

if TYPE_CHECKING:
    from ai_core.app import AI

__all__ = ["ConversationBuilder"]


class ConversationBuilder(MCPConversation):
    __slots__ = (  # every conversation's attributes (its and MCPConversation's): no per-instance dict to grow
        "_ai", "_approvers", "_before_send", "_cache", "_fallbacks", "_functions", "_history", "_id", "_last_model",
        "_layers", "_loaded", "_max_cost", "_mcp_allow", "_mcp_names", "_metadata", "_model", "_model_parts",
        "_on_error", "_on_success", "_output_model", "_overrides", "_params", "_pending", "_provider_options",
        "_record", "_resume", "_skipped", "_system", "_tags", "_tenant", "_tool_specs", "_user_id",
    )  # fmt: skip

    def __init__(
        self,
        ai: AI,
        *,
        model: str | None = None,
        id: str | None = None,
        user: str | None = None,
        tenant: str | None = None,
        tags: Sequence[str] = (),
    ) -> None:
        self._ai = ai
        self._model = model
        self._model_parts: tuple[str, str] | None = None
        self._id = id
        self._resume = id is not None
        self._loaded = False
        self._record: ConversationRecord | None = None
        self._history: list[Message] = []
        self._pending: list[Message] = []
        self._system: str | None = None
        self._params: dict[str, Any] = {}
        self._provider_options: dict[str, Any] = {}
        self._metadata: dict[str, str] = {}
        self._tool_specs: list[ToolSpec] = []
        self._functions: list[FunctionTool] = []
        self._init_mcp()  # .mcp(), .approver(), .mcp_prompt(), .mcp_resource(), approve()/deny()
        self._output_model: type[BaseModel] | None = None
        self._fallbacks: tuple[str, ...] = ()
        self._overrides: dict[str, dict[str, Any]] = {}
        self._user_id = user
        self._tenant = tenant
        self._tags = tuple(dict.fromkeys(tags)) if tags else ()
        self._max_cost: Decimal | None = None
        self._last_model: tuple[str, str] | None = None
        self._layers: list[Middleware] = []
        self._skipped: set[str] = set()
        self._cache: tuple[float | None, bool | None] | None = None
        self._before_send: list[Callable[..., Any]] = []
        self._on_success: list[Callable[..., Any]] = []
        self._on_error: list[Callable[..., Any]] = []

    # -- identity ----------------------------------------------------------

    @property
    def id(self) -> str:
        if self._id is None:
            self._id = new_id()
        return self._id

    @property
    def messages(self) -> list[Message]:
        """Messages sent and received so far (a copy)."""
        return list(self._history)

    # -- participants (stored at once; they need persistence) ---------------

    def add_participant(self, user: str, role: str | None = "member") -> ConversationBuilder:
        """Add a person to this conversation with a ``role`` (free text: ``reviewer``,
        ``owner``...); adding them again changes the role."""
        self._ai._bridge.call(self.aadd_participant, user, role)
        return self

    async def aadd_participant(self, user: str, role: str | None = "member") -> ConversationBuilder:
        from functools import partial

        from ai_core.storage.participants import add_participant

        database = self._participants_database()
        owner, tenant, tags = self._user_id, self._tenant, self._tags
        job = partial(add_participant, database, self.id, user, role, owner=owner, tenant=tenant, tags=tags)
        await database.run(job)
        return self

    @property
    def participants(self) -> list[Any]:
        """Who takes part: its user, each model that answered, and the people added
        (:class:`ai_core.storage.participants.Participant`: name, kind, role, joined_at)."""
        result: list[Any] = self._ai._bridge.call(self.aparticipants)
        return result

    async def aparticipants(self) -> list[Any]:
        from ai_core.storage.participants import list_participants

        database = self._participants_database()
        return await database.run(list_participants, database, self.id)

    def _participants_database(self) -> Any:
        database = self._ai.services.database
        if database is None:
            raise errors.ConfigurationError("conversation participants are stored: they need persistence (SQL storage)")
        return database

    def __repr__(self) -> str:
        return f"<Conversation id={self._id!r} model={self._model!r} messages={len(self._history)}>"

    # -- fluent setters ----------------------------------------------------

    def model(self, model: str) -> ConversationBuilder:
        """``"provider/model"``, e.g. ``"openai/gpt-4o-mini"``."""
        self._model_parts = split_model(model)
        self._model = model
        return self

    def system(self, text: str) -> ConversationBuilder:
        self._system = text
        return self

    def user(self, text: str, *, images: Sequence[ImagePart | str] | None = None) -> ConversationBuilder:
        """Queue a user message; ``images`` are :class:`ImagePart` or URLs."""
        parts = [img if isinstance(img, ImagePart) else ImagePart(url=img) for img in images or []]
        self._pending.append(Message.user(text, images=parts))
        return self

    def assistant(self, text: str) -> ConversationBuilder:
        self._pending.append(Message.assistant(text))
        return self

    def message(self, message: Message) -> ConversationBuilder:
        self._pending.append(message)
        return self

    def history(self, messages: Sequence[Message]) -> ConversationBuilder:
        """Seed earlier turns (e.g. from another store). System messages set the system prompt."""
        for message in messages:
            if message.role == "system":
                self._system = message.text
            else:
                self._history.append(message)
        return self

    def temperature(self, value: float) -> ConversationBuilder:
        self._params["temperature"] = value
        return self

    def top_p(self, value: float) -> ConversationBuilder:
        self._params["top_p"] = value
        return self

    def max_tokens(self, value: int) -> ConversationBuilder:
        self._params["max_tokens"] = value
        return self

    def stop(self, *sequences: str) -> ConversationBuilder:
        self._params["stop"] = list(sequences)
        return self

    def seed(self, value: int) -> ConversationBuilder:
        self._params["seed"] = value
        return self

    def reasoning_effort(self, value: str) -> ConversationBuilder:
        self._params["reasoning_effort"] = value
        return self

    def tools(self, tools: Sequence[ToolSpec | Callable[..., Any]]) -> ConversationBuilder:
        """Declare tools: a :class:`ToolSpec` is returned to you when called; a
        Python function is run for the model and its result sent back."""
        for tool in tools:
            if isinstance(tool, ToolSpec):
                self._tool_specs.append(tool)
            elif callable(tool):
                self._functions.append(FunctionTool(tool))
            else:
                raise errors.RequestValidationError(f"not a tool: {tool!r}")
        return self

    def tool(self, func: Callable[..., Any]) -> ConversationBuilder:
        return self.tools([func])

    def tool_choice(self, choice: str) -> ConversationBuilder:
        self._params["tool_choice"] = choice
        return self

    def output(self, schema: type[BaseModel]) -> ConversationBuilder:
        """Ask for JSON matching ``schema``; ``response.parsed`` is an instance of it."""
        self._output_model = schema
        return self

    def json(self) -> ConversationBuilder:
        """Ask for any JSON object (no schema)."""
        self._params["response_format"] = ResponseFormat(type="json_object")
        return self

    def fallback(self, *models: str) -> ConversationBuilder:
        """Models to try, in order, when the main one fails after its retries."""
        for model in models:
            split_model(model)
        self._fallbacks = (*self._fallbacks, *models)
        return self

    def cache(self, ttl: float | None = None, *, fallback: bool | None = None) -> ConversationBuilder:
        """Answer from the response cache when the same request (same model, messages and
        options, same tenant) was answered less than ``ttl`` seconds ago (default:
        ``AI_RESPONSE_CACHE_TTL``, else an hour); keep new answers there. A hit costs
        nothing, touches no budget and is on the ledger as ``cache_hit``;
        ``response.cached`` says so. ``fallback=True`` also answers from an expired
        entry when every provider of the call is down. See docs/scale.md."""
        if ttl is not None and not ttl > 0:
            raise errors.RequestValidationError(f"cache ttl must be a positive number of seconds, got {ttl!r}")
        self._cache = (ttl, fallback)  # the runner adds the response-cache layer if the instance has none
        self._skipped.discard("response_cache")
        return self

    def option(self, name: str, value: Any) -> ConversationBuilder:
        """A provider-specific request field, passed to the driver untouched."""
        self._provider_options[name] = value
        return self

    def options(self, **values: Any) -> ConversationBuilder:
        self._provider_options.update(values)
        return self

    def for_user(self, user: str | None, *, tenant: str | None = None) -> ConversationBuilder:
        """Attribute this conversation (costs, budgets, analytics) to a user and tenant."""
        self._user_id = user
        if tenant is not None:
            self._tenant = tenant
        return self

    def tenant(self, tenant: str) -> ConversationBuilder:
        self._tenant = tenant
        return self

    def tag(self, *tags: str) -> ConversationBuilder:
        self._tags = tuple(dict.fromkeys((*self._tags, *tags)))
        return self

    def max_cost(self, amount: Decimal | str | int) -> ConversationBuilder:
        """The most one model call of this conversation may cost (in the
        budget's currency): a call whose worst case exceeds it is capped or
        refused before the provider is called."""
        try:
            value = Decimal(str(amount))
        except ArithmeticError:
            raise errors.RequestValidationError(f"max_cost must be an amount of money, got {amount!r}") from None
        if not value.is_finite() or value <= 0:
            raise errors.RequestValidationError(f"max_cost must be a positive amount, got {amount!r}")
        self._max_cost = value
        return self

    def middleware(self, *layers: Middleware) -> ConversationBuilder:
        """Add middleware layers to this conversation only (ordered with the
        instance's by their ``order``); each is checked as at registration."""
        for layer in layers:
            check_layer(layer)
        self._layers.extend(layers)
        return self

    def without_middleware(self, *names: str) -> ConversationBuilder:
        """Skip the instance's layers with these names in this conversation.
        Budgets are not optional: naming the budget layer is an error."""
        from ai_core.budgets.middleware import BudgetMiddleware

        budget_layers = {layer.name for layer in self._ai.middleware if isinstance(layer, BudgetMiddleware)}
        refused = sorted(set(names) & budget_layers)
        if refused:
            raise errors.ConfigurationError(
                f"a conversation cannot opt out of its budgets ({', '.join(refused)}); "
                "raise or remove the budget instead"
            )
        known = {layer.name for layer in self._ai.middleware}
        unknown = sorted(set(names) - known)
        if unknown:
            raise errors.ConfigurationError(
                f"no middleware named {', '.join(map(repr, unknown))} (installed: {', '.join(sorted(known)) or 'none'})"
            )
        self._skipped.update(names)
        if "response_cache" in names:
            self._cache = None
        return self

    def before_send(self, callback: Callable[..., Any]) -> ConversationBuilder:
        """Call ``callback(request)`` before every model call of this conversation;
        it may return a replacement :class:`ChatRequest` (plain or ``async``)."""
        self._before_send.append(callback)
        return self

    def on_success(self, callback: Callable[..., Any]) -> ConversationBuilder:
        """Call ``callback(response)`` with each send's final response, in line."""
        self._on_success.append(callback)
        return self

    def on_error(self, callback: Callable[..., Any]) -> ConversationBuilder:
        """Call ``callback(error)`` when a send fails, before the error reaches you."""
        self._on_error.append(callback)
        return self

    def metadata(self, **values: str) -> ConversationBuilder:
        self._metadata.update({k: str(v) for k, v in values.items()})
        return self

    def memory(
        self, strategy: str = "summary", *, model: str, max_context_tokens: int | None = None, **options: Any
    ) -> ConversationBuilder:
        """Keep a rolling summary (made by the cheap ``model``) so this conversation
        outgrows the context window instead of failing (docs/memory.md)."""
        from ai_core.memory.summary import memory_layer

        layer = memory_layer(self._ai, strategy, model=model, max_context_tokens=max_context_tokens, **options)
        self._layers = [*(existing for existing in self._layers if existing.name != "memory"), layer]
        return self

    def actions(self, *names: str) -> ConversationBuilder:
        """Offer the actions registered with ``@ai.action`` (all, or these) to the model
        as tools; each runs in the background (docs/actions.md)."""
        from ai_core.actions import action_tools

        self._functions.extend(action_tools(self._ai, self, names))
        return self

    def credentials(
        self, provider: str | None = None, *, api_key: str | None = None, base_url: str | None = None, **settings: Any
    ) -> ConversationBuilder:
        """Run-time credentials for one provider in this conversation only
        (a tenant's own key), overriding the environment."""
        name = provider or self._resolve_model()[0]
        values = {k: v for k, v in {"api_key": api_key, "base_url": base_url, **settings}.items() if v is not None}
        self._overrides[name] = {**self._overrides.get(name, {}), **values}
        return self

    # -- sending -----------------------------------------------------------

    async def asend(self) -> ChatResponse:
        if self._attachments_waiting():
            await self._resolve_mcp()
        return await self._ai._runner.send(self)

    def send(self) -> ChatResponse:
        return self._ai._bridge.call(self.asend)

    def astream(self) -> AsyncIterator[StreamEvent]:
        """Yield deltas, then one ``StreamCompleted`` with the full, priced response."""
        return self._stream_after_resolving(lambda: self._ai._runner.stream(self))

    def stream(self) -> Iterator[StreamEvent]:
        return self._ai._bridge.iterate(self.astream)

    # -- used by the runner ------------------------------------------------

    async def _load(self, store: ConversationStore) -> ConversationRecord:
        if self._resume and not self._loaded:
            record = await store.load(self.id, tenant=self._tenant, user=self._user_id)
            if record is None:  # the same words whether it is missing or someone else's
                raise errors.ConfigurationError(f"no stored conversation with id {self.id!r} for this tenant and user")
            self._loaded = True
            self._history = [*record.messages, *self._history]
            self._user_id = self._user_id or record.user
            self._tags = tuple(dict.fromkeys((*record.tags, *self._tags)))
            self._record = record
        return self._loaded_record()

    def _loaded_record(self) -> ConversationRecord:
        """The record of a conversation that needs no store read: new, or loaded already."""
        if not self._loaded:
            assert not self._resume, "a resumed conversation is loaded with _load()"
            self._loaded = True
            self._record = ConversationRecord(id=self.id, user=self._user_id, tenant=self._tenant, tags=self._tags)
        assert self._record is not None
        return self._record

    def _take_pending(self) -> list[Message]:
        pending, self._pending = self._pending, []
        return pending

    def _resolve_model(self) -> tuple[str, str]:
        """The model set on this builder, else the one a resumed conversation last
        used, else the configured default."""
        if self._model:
            return self._model_parts or split_model(self._model)
        if self._record is not None and self._record.provider and self._record.model:
            return self._record.provider, self._record.model
        return split_model(self._ai.services.settings.default_model)

    def _offers_tools(self) -> bool:
        """Whether :meth:`_toolbox` has anything to do (usually not: the runner then skips it)."""
        return bool(self._tool_specs or self._functions or self._mcp_names or "tool_choice" in self._params)

    async def _toolbox(self) -> ToolBox:
        box = ToolBox()
        for spec in self._tool_specs:
            box.add_spec(spec)
        for function in self._functions:
            box.add_function(function)
        await self._add_mcp_tools(box)
        return box

    def _request(self, provider: str, model: str, messages: list[Message], toolbox: ToolBox) -> ChatRequest:
        # Only what is set: each field given costs its validation, defaults cost nothing.
        fields: dict[str, Any] = {"provider": provider, "model": model, "messages": messages, **self._params}
        if self._output_model is not None:
            schema = self._output_model.model_json_schema()
            fields["response_format"] = ResponseFormat(name=self._output_model.__name__, json_schema=schema)
        if self._system is not None:
            fields["system"] = self._system
        if toolbox.specs:
            fields["tools"] = list(toolbox.specs.values())
        if self._provider_options:
            fields["provider_options"] = self._provider_options
        if self._user_id is not None:
            fields["user"] = self._user_id
        if self._metadata:
            fields["metadata"] = self._metadata
        try:
            return ChatRequest(**fields)
        except ValidationError as exc:
            raise errors.RequestValidationError(
                f"invalid request: {exc.errors(include_url=False)[0]['msg']}", errors=exc.errors(include_url=False)
            ) from exc

    def _parse_output(self, response: ChatResponse) -> Any:
        assert self._output_model is not None
        text = response.text.strip()
        if text.startswith("```"):
            text = text.strip("`").removeprefix("json").strip()
        try:
            return self._output_model.model_validate_json(text)
        except (ValidationError, json.JSONDecodeError) as exc:
            raise errors.MalformedResponseError(
                f"structured output does not match {self._output_model.__name__}: {exc}", provider=response.provider
            ) from exc
