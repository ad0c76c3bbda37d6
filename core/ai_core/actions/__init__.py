"""Agent actions: side effects the model can ask for, run in the background.

    @ai.action("send_followup_email")
    def send_followup_email(to: str, subject: str, action_id: str) -> str:
        mailer.send(to, subject, idempotency_key=action_id)
        return "sent"

    chat = ai.conversation("openai/gpt-4o-mini").actions("send_followup_email")

The model sees each action as a tool. When it calls one, the request is
stored (``ai_agent_actions``, status ``requested``), :class:`AgentActionRequested`
is emitted with its ``action_id``, and the model is told at once that the
action was queued. The :class:`AgentActionListener` runs it in the background
(claiming it with a lease: status ``running``, ``attempts`` + 1), records
``succeeded`` or ``failed`` with the result or error, emits
:class:`AgentActionCompleted`, and appends the outcome to the conversation (to
the live conversation's next send, or straight to the store when the
conversation object is gone).

Guarantee: the outcome is recorded exactly once (the completing UPDATE is
conditional on the claim it made), and the action runs at least once: a
process killed mid-action leaves it ``running``; :func:`resume_actions` (or
``ActionManager.aresume``) runs it again once its lease (``lease_seconds``,
default 300) has expired. An action that declares an ``action_id`` parameter
receives the request's id, to make its side effect idempotent (an e-mail
provider's idempotency key), which turns at-least-once into effectively once.

Plugins register actions with the ``register_actions`` hook
(``register(ActionSpec(name, func))``). A conversation's tool approvers (the
MCP approval hook) see an action call like any function tool call, before it
is stored.
"""

from __future__ import annotations

import inspect
import json
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
from pydantic import ValidationError, create_model

from ai_core import errors
from ai_core.events.listener import Listener
from ai_core.events.types import AgentActionCompleted, AgentActionRequested
from ai_core.logging import get_logger
from ai_core.mcp.spec import ToolResult
from ai_core.pipeline.store import ConversationRecord, TurnContext, new_id
from ai_core.pipeline.tools import FunctionTool
from ai_core.types import Message, ToolSpec

if TYPE_CHECKING:
    from ai_core.app import AI
    from ai_core.pipeline.builder import ConversationBuilder

__all__ = ["ActionManager", "ActionSpec", "ActionTool", "AgentActionListener", "action_tools", "resume_actions"]

log = get_logger("ai_core.actions")

_RESERVED = ("action_id",)


@dataclass(frozen=True)
class ActionSpec:
    """A side-effecting function the model may request. ``timeout`` bounds one run (seconds)."""

    name: str
    func: Callable[..., Any]
    description: str = ""
    timeout: float = 300.0


@dataclass
class ActionRow:
    id: str
    name: str
    arguments: dict[str, Any]
    conversation_id: str | None
    user: str | None
    tenant: str | None
    status: str = "requested"
    attempts: int = 0
    lease_until: datetime | None = None
    result: str | None = None
    error: str | None = None
    completed_at: datetime | None = None


class ActionManager:
    """One per ``AI``: its actions, their stored requests, and the listener that runs them."""

    _by_ai: weakref.WeakKeyDictionary[Any, ActionManager] = weakref.WeakKeyDictionary()
    _guard = threading.Lock()

    @classmethod
    def of(cls, ai: AI) -> ActionManager:
        with cls._guard:
            manager = cls._by_ai.get(ai)
            if manager is None:
                manager = cls._by_ai[ai] = cls(ai)
            return manager

    def __init__(self, ai: AI, *, lease_seconds: float = 300.0) -> None:
        self.services = ai.services
        self.lease_seconds = lease_seconds
        self._actions: dict[str, ActionSpec] = {}
        self._plugins_loaded = False
        self._rows: dict[str, ActionRow] = {}  # without a database
        self._builders: dict[str, weakref.ref[ConversationBuilder]] = {}
        self._lock = threading.Lock()
        self.listener = AgentActionListener(self)
        ai.services.events.add_listener(
            Listener(events=AgentActionRequested, handler=self.listener, name="AgentActionListener", timeout=3600)
        )

    # -- registration ------------------------------------------------------------------

    def register(self, spec: ActionSpec) -> None:
        if not spec.name.replace("_", "").replace("-", "").isalnum() or len(spec.name) > 64:
            raise errors.ConfigurationError(
                f"an action name must be letters, digits, _ or - (64 at most): {spec.name!r}"
            )
        if not callable(spec.func):
            raise errors.ConfigurationError(f"action {spec.name!r} is not callable")
        with self._lock:
            self._actions[spec.name] = spec

    def actions(self) -> dict[str, ActionSpec]:
        if not self._plugins_loaded:
            self._plugins_loaded = True
            hook = getattr(self.services.registry.hook, "register_actions", None)
            if hook is not None:
                hook(register=lambda spec: self._actions.setdefault(spec.name, spec))
        return dict(self._actions)

    # -- requests -----------------------------------------------------------------------

    async def request(
        self, spec: ActionSpec, arguments: dict[str, Any], conversation: ConversationBuilder | None
    ) -> ActionRow:
        row = ActionRow(
            id=new_id(),
            name=spec.name,
            arguments=arguments,
            conversation_id=conversation.id if conversation is not None else None,
            user=conversation._user_id if conversation is not None else None,
            tenant=conversation._tenant if conversation is not None else None,
        )
        if conversation is not None:
            with self._lock:
                self._builders[conversation.id] = weakref.ref(conversation)
        database = self.services.database
        if database is not None:
            await database.run(_insert, database, row)
        else:
            with self._lock:
                self._rows[row.id] = row
        self.services.events.emit(
            AgentActionRequested(conversation_id=row.conversation_id, call_id=row.id, tool=spec.name, action_id=row.id)
        )
        return row

    async def execute(self, action_id: str) -> bool:
        """Claim, run and complete one action; False when another worker has it or it is done."""
        now = datetime.now(UTC)
        claimed = await self._claim(action_id, now, now + timedelta(seconds=self.lease_seconds))
        if claimed is None:
            return False
        spec = self.actions().get(claimed.name)
        started = time.perf_counter()
        result: str | None = None
        error: str | None = None
        if spec is None:
            error = f"no action named {claimed.name!r} is registered in this process"
        else:
            try:
                with anyio.fail_after(spec.timeout):
                    value = await _call(spec, claimed)
                result = value if isinstance(value, str) else json.dumps(value, default=str)
            except TimeoutError:
                error = f"timed out after {spec.timeout} seconds"
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
        status = "failed" if error is not None else "succeeded"
        if not await self._complete(claimed, status, result, error):
            return False  # our lease expired and another worker took it: its outcome counts
        self.services.events.emit(
            AgentActionCompleted(
                conversation_id=claimed.conversation_id,
                call_id=claimed.id,
                tool=claimed.name,
                outcome=status,
                is_error=error is not None,
                duration_ms=(time.perf_counter() - started) * 1000,
                action_id=claimed.id,
            )
        )
        await self._append_outcome(claimed, status, result, error)
        return True

    async def aresume(self) -> int:
        """Run every action left ``requested``, or ``running`` past its lease (a dead worker's); how many ran."""
        now = datetime.now(UTC)
        database = self.services.database
        if database is not None:
            ids = await database.run(_resumable, database, now)
        else:
            with self._lock:
                ids = [r.id for r in self._rows.values() if _resumable_row(r, now)]
        done = 0
        for action_id in ids:
            done += await self.execute(action_id)
        return done

    async def get(self, action_id: str) -> ActionRow | None:
        database = self.services.database
        if database is not None:
            return await database.run(_get, database, action_id)
        with self._lock:
            row = self._rows.get(action_id)
            return None if row is None else ActionRow(**vars(row))

    # -- state changes ------------------------------------------------------------------

    async def _claim(self, action_id: str, now: datetime, lease: datetime) -> ActionRow | None:
        database = self.services.database
        if database is not None:
            return await database.run(_claim, database, action_id, now, lease)
        with self._lock:
            row = self._rows.get(action_id)
            if row is None or not _resumable_row(row, now):
                return None
            row.status, row.attempts, row.lease_until = "running", row.attempts + 1, lease
            return ActionRow(**vars(row))

    async def _complete(self, claimed: ActionRow, status: str, result: str | None, error: str | None) -> bool:
        database = self.services.database
        now = datetime.now(UTC)
        if database is not None:
            with anyio.CancelScope(shield=True):
                return bool(await database.run(_complete, database, claimed, status, result, error, now))
        with self._lock:
            row = self._rows.get(claimed.id)
            if row is None or row.status != "running" or row.attempts != claimed.attempts:
                return False
            row.status, row.result, row.error, row.completed_at = status, result, error, now
            return True

    async def _append_outcome(self, row: ActionRow, status: str, result: str | None, error: str | None) -> None:
        if row.conversation_id is None:
            return
        detail = result if status == "succeeded" else error
        message = Message.user(f"[action {row.name} (id {row.id}) {status}] {detail or ''}".rstrip())
        with self._lock:
            ref = self._builders.get(row.conversation_id)
        builder = ref() if ref is not None else None
        if builder is not None:
            builder._pending.append(message)  # sent, and stored, with the conversation's next turn
            return
        record = ConversationRecord(id=row.conversation_id, user=row.user, tenant=row.tenant)
        turn = TurnContext(
            conversation=record, new_messages=[], provider="", model="", user=row.user, tenant=row.tenant
        )
        try:
            await self.services.store.save_messages(turn, [message])
        except Exception as exc:  # the outcome is in ai_agent_actions either way
            log.error(
                "action_outcome_not_appended", action=row.name, action_id=row.id, error=f"{type(exc).__name__}: {exc}"
            )


class AgentActionListener:
    """Runs a stored action when its :class:`AgentActionRequested` arrives (in the dispatcher's background loop)."""

    def __init__(self, manager: ActionManager) -> None:
        self._manager = weakref.ref(manager)

    async def __call__(self, event: AgentActionRequested) -> None:
        manager = self._manager()
        if manager is not None and event.action_id is not None:
            await manager.execute(event.action_id)


class ActionTool(FunctionTool):
    """An action as the model sees it: calling it stores the request and returns at once."""

    def __init__(self, manager: ActionManager, spec: ActionSpec, conversation: ConversationBuilder | None) -> None:
        self.func = spec.func
        self.manager = manager
        self.action = spec
        self.conversation = conversation
        fields: dict[str, Any] = {}
        for param in inspect.signature(spec.func).parameters.values():
            if param.name in _RESERVED:
                continue
            annotation = param.annotation if param.annotation is not inspect.Parameter.empty else Any
            default = param.default if param.default is not inspect.Parameter.empty else ...
            fields[param.name] = (annotation, default)
        self._model = create_model(f"{spec.name}_arguments", **fields)
        schema = self._model.model_json_schema()
        schema.pop("title", None)
        self.spec = ToolSpec(
            name=spec.name, description=spec.description or inspect.getdoc(spec.func) or "", parameters=schema
        )

    async def run(self, arguments: dict[str, Any]) -> ToolResult:
        try:
            values = self._model.model_validate(arguments)
        except ValidationError as exc:
            return ToolResult(content=f"invalid arguments: {exc.errors(include_url=False)}", is_error=True)
        clean = values.model_dump(mode="json")
        row = await self.manager.request(self.action, clean, self.conversation)
        return ToolResult(
            content=f"action {self.action.name} requested (id {row.id}); it runs in the background and its "
            "outcome will be added to this conversation"
        )


def action_tools(ai: AI, conversation: ConversationBuilder | None, names: Sequence[str] = ()) -> list[FunctionTool]:
    manager = ActionManager.of(ai)
    known = manager.actions()
    wanted = list(names) or sorted(known)
    missing = [n for n in wanted if n not in known]
    if missing:
        raise errors.ConfigurationError(
            f"no action named {', '.join(map(repr, missing))} (registered: {', '.join(sorted(known)) or 'none'})"
        )
    return [ActionTool(manager, known[name], conversation) for name in wanted]


def action_decorator(
    ai: AI, name: str | None = None, *, description: str = "", timeout: float = 300.0
) -> Callable[[Any], Any]:
    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        ActionManager.of(ai).register(ActionSpec(name or func.__name__, func, description, timeout))
        return func

    return register


async def resume_actions(ai: AI) -> int:
    """Run the actions a dead process left behind (see the module docstring)."""
    return await ActionManager.of(ai).aresume()


async def _call(spec: ActionSpec, row: ActionRow) -> Any:
    kwargs = dict(row.arguments)
    if "action_id" in inspect.signature(spec.func).parameters:
        kwargs["action_id"] = row.id
    if inspect.iscoroutinefunction(spec.func):
        return await spec.func(**kwargs)
    return await anyio.to_thread.run_sync(lambda: spec.func(**kwargs), abandon_on_cancel=True)


def _resumable_row(row: ActionRow, now: datetime) -> bool:
    return row.status == "requested" or (
        row.status == "running" and row.lease_until is not None and row.lease_until < now
    )


# -- SQL (run in worker threads) ---------------------------------------------------------------


def _table() -> Any:
    from ai_core.security.tables import AgentAction
    from ai_core.storage.base import table_of

    return table_of(AgentAction)


def _insert(database: Any, row: ActionRow) -> None:
    with database.write() as conn:
        conn.execute(
            _table()
            .insert()
            .values(
                id=row.id,
                name=row.name,
                conversation_id=row.conversation_id,
                user_id=row.user,
                tenant=row.tenant,
                arguments=row.arguments,
                status="requested",
                attempts=0,
                requested_at=datetime.now(UTC),
            )
        )


def _row(mapping: Any) -> ActionRow:
    from ai_core.storage.columns import as_utc

    return ActionRow(
        id=mapping["id"],
        name=mapping["name"],
        arguments=dict(mapping["arguments"]),
        conversation_id=mapping["conversation_id"],
        user=mapping["user_id"],
        tenant=mapping["tenant"],
        status=mapping["status"],
        attempts=mapping["attempts"],
        lease_until=as_utc(mapping["lease_until"]),
        result=mapping["result"],
        error=mapping["error"],
        completed_at=as_utc(mapping["completed_at"]),
    )


def _get(database: Any, action_id: str) -> ActionRow | None:
    from sqlalchemy import select

    table = _table()
    with database.read() as conn:
        found = conn.execute(select(table).where(table.c.id == action_id)).mappings().first()
    return None if found is None else _row(found)


def _claim(database: Any, action_id: str, now: datetime, lease: datetime) -> ActionRow | None:
    from sqlalchemy import and_, or_, select

    table = _table()
    with database.write() as conn:
        claimable = or_(table.c.status == "requested", and_(table.c.status == "running", table.c.lease_until < now))
        result = conn.execute(
            table.update()
            .where(table.c.id == action_id, claimable)
            .values(status="running", attempts=table.c.attempts + 1, lease_until=lease)
        )
        if result.rowcount != 1:
            return None
        return _row(conn.execute(select(table).where(table.c.id == action_id)).mappings().one())


def _complete(
    database: Any, claimed: ActionRow, status: str, result: str | None, error: str | None, now: datetime
) -> bool:
    table = _table()
    with database.write() as conn:
        done = conn.execute(
            table.update()
            .where(table.c.id == claimed.id, table.c.status == "running", table.c.attempts == claimed.attempts)
            .values(status=status, result=result, error=error, completed_at=now, lease_until=None)
        )
        return done.rowcount == 1


def _resumable(database: Any, now: datetime) -> list[str]:
    from sqlalchemy import and_, or_, select

    table = _table()
    with database.read() as conn:
        rows = conn.execute(
            select(table.c.id)
            .where(or_(table.c.status == "requested", and_(table.c.status == "running", table.c.lease_until < now)))
            .order_by(table.c.requested_at)
        )
        return [row.id for row in rows]
