"""One ``AI``'s actions, their stored requests, and the run that claims, runs and completes one.

:meth:`ActionManager.run` is the whole life of one attempt, the same in the
process that stored the request and on ``ai worker``: claim the row (a lease,
renewed while the action runs), run the function, complete the row on the
condition that the claim still holds, then the follow-up: emit
:class:`AgentActionCompleted` (its id derived from the action's, so a queued
listener sees it once however often it is re-emitted), append the outcome to
the conversation, and mark the follow-up done.
"""

from __future__ import annotations

import inspect
import json
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from ai_core import errors
from ai_core.actions import rows
from ai_core.actions.rows import ActionRow
from ai_core.events.listener import Listener
from ai_core.events.types import AgentActionCompleted, AgentActionRequested
from ai_core.logging import get_logger
from ai_core.pipeline.store import ConversationRecord, TurnContext, new_id
from ai_core.shield import shielded
from ai_core.types import Message

if TYPE_CHECKING:
    from ai_core.app import AI
    from ai_core.pipeline.builder import ConversationBuilder

__all__ = ["ActionManager", "ActionRow", "ActionSpec", "AgentActionListener", "RunResult", "declare", "outcome_message"]

log = get_logger("ai_core.actions")

_NAMESPACE = uuid.UUID("5f1c1f0e-9a57-4b55-8a4e-0c1d2b9e7a31")

_DECLARED: dict[str, ActionSpec] = {}
"""Every action registered in this process with ``@ai.action``, by name: where a
worker looks last, so that a module it imports may register on an ``AI`` of its own."""
_SHARED: dict[str, ActionSpec] = {}
"""Actions registered with the module-level ``@action``: offered by every ``AI`` of the process."""
_declared_lock = threading.Lock()


@dataclass(frozen=True)
class ActionSpec:
    """A side-effecting function the model may request. ``timeout`` bounds one run (seconds)."""

    name: str
    func: Callable[..., Any]
    description: str = ""
    timeout: float = 300.0


@dataclass(frozen=True)
class RunResult:
    """What one :meth:`ActionManager.run` did.

    ``state``: ``completed`` (this call ran it and recorded the outcome), ``done``
    (completed before; its follow-up finished if it had been cut short), ``busy``
    (another claim holds it until ``retry_at``), ``lost`` (this call's lease
    expired and another run's outcome counts) or ``missing`` (no such request).
    """

    state: str
    retry_at: datetime | None = None


def check_spec(spec: ActionSpec) -> ActionSpec:
    if not spec.name.replace("_", "").replace("-", "").isalnum() or len(spec.name) > 64:
        raise errors.ConfigurationError(f"an action name must be letters, digits, _ or - (64 at most): {spec.name!r}")
    if not callable(spec.func):
        raise errors.ConfigurationError(f"action {spec.name!r} is not callable")
    return spec


def declare(spec: ActionSpec) -> None:
    """Register ``spec`` for every ``AI`` of this process (the module-level ``@action``)."""
    with _declared_lock:
        _SHARED[check_spec(spec).name] = spec


def completed_event_id(action_id: str) -> str:
    """The id of an action's :class:`AgentActionCompleted`: the same each time it is emitted."""
    return uuid.uuid5(_NAMESPACE, action_id).hex


def outcome_message(row: ActionRow) -> Message:
    """The message an action's outcome adds to its conversation."""
    detail = row.result if row.status == "succeeded" else row.error
    return Message.user(f"{outcome_prefix(row)} {row.status}] {detail or ''}".rstrip())


def outcome_prefix(row: ActionRow) -> str:
    return f"[action {row.name} (id {row.id})"


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

    def __init__(self, ai: AI, *, lease_seconds: float | None = None) -> None:
        from ai_core.queue.settings import queue_url

        self.services = ai.services
        settings = ai.services.settings
        self.queued = queue_url(settings) is not None and ai.services.database is not None
        """With a queue (and the database the workers share), requests go to ``ai worker``."""
        self.lease_seconds = lease_seconds or (settings.queue.action_lease if self.queued else 300.0)
        self._actions: dict[str, ActionSpec] = {}
        self._plugins: dict[str, ActionSpec] | None = None
        self._rows: dict[str, ActionRow] = {}  # without a database
        self._builders: weakref.WeakValueDictionary[str, ConversationBuilder] = weakref.WeakValueDictionary()
        self._lock = threading.Lock()
        self._watcher: Any = None
        self.listener = AgentActionListener(self)
        ai.services.events.add_listener(
            Listener(events=AgentActionRequested, handler=self.listener, name="AgentActionListener", timeout=3600)
        )

    # -- registration ------------------------------------------------------------------

    def register(self, spec: ActionSpec) -> None:
        check_spec(spec)
        with self._lock:
            self._actions[spec.name] = spec
        with _declared_lock:
            _DECLARED[spec.name] = spec

    def actions(self) -> dict[str, ActionSpec]:
        """The actions this ``AI`` offers: its own (``@ai.action``) over the module-level
        ``@action`` ones over the plugins' (``register_actions``)."""
        if self._plugins is None:
            found: dict[str, ActionSpec] = {}
            hook = getattr(self.services.registry.hook, "register_actions", None)
            if hook is not None:
                hook(register=lambda spec: found.setdefault(spec.name, spec))
            self._plugins = found
        with _declared_lock:
            shared = dict(_SHARED)
        with self._lock:
            return {**self._plugins, **shared, **self._actions}

    def find(self, name: str) -> ActionSpec | None:
        """The function to run for a stored request: :meth:`actions`, else any ``AI``'s of this process."""
        spec = self.actions().get(name)
        if spec is None:
            with _declared_lock:
                spec = _DECLARED.get(name)
        return spec

    # -- outcomes -----------------------------------------------------------------------

    @property
    def watcher(self) -> Any:
        """The :class:`~ai_core.actions.queued.OutcomeWatcher` of this ``AI`` (made on first use)."""
        with self._lock:
            if self._watcher is None:
                from ai_core.actions.queued import OutcomeWatcher

                self._watcher = OutcomeWatcher(self)
            return self._watcher

    def wait_for_outcomes(self, timeout: float | None = 30) -> bool:
        """Block until the actions requested so far have their outcomes in their live
        conversations: run here (in process), or stored by a worker and brought back
        (with a queue). False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self.services.events.drain(timeout):
            return False
        if self._watcher is None:
            return True
        return bool(self._watcher.wait(None if deadline is None else max(0.0, deadline - time.monotonic())))

    async def await_outcomes(self, timeout: float | None = 30) -> bool:  # noqa: ASYNC109 - waits on a thread
        """The async twin of :meth:`wait_for_outcomes`."""
        return await anyio.to_thread.run_sync(self.wait_for_outcomes, timeout)

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
            requested_at=datetime.now(UTC),
        )
        if conversation is not None:
            with self._lock:
                self._builders[conversation.id] = conversation
        database = self.services.database
        if database is not None:
            await database.run(rows.insert, database, row)
        else:
            with self._lock:
                self._rows[row.id] = row
        self.services.events.emit(
            AgentActionRequested(conversation_id=row.conversation_id, call_id=row.id, tool=spec.name, action_id=row.id)
        )
        return row

    async def execute(self, action_id: str) -> bool:
        """Claim, run and complete one action; False when another worker has it or it is done."""
        return (await self.run(action_id)).state == "completed"

    async def run(self, action_id: str) -> RunResult:
        """One attempt at ``action_id`` (see the module docstring and :class:`RunResult`)."""
        now = datetime.now(UTC)
        claimed = await self._claim(action_id, now, now + timedelta(seconds=self.lease_seconds))
        if claimed is None:
            return await self._not_claimed(action_id, now)
        spec = self.find(claimed.name)
        started = time.perf_counter()
        result: str | None = None
        error: str | None = None
        if spec is None:
            error = (
                f"no action named {claimed.name!r} is registered in this process (a worker finds actions "
                "registered by the register_actions hook or in the modules of [queue] actions / AI_QUEUE_ACTIONS)"
            )
        else:
            async with anyio.create_task_group() as group:
                group.start_soon(self._renew, claimed)
                result, error = await _invoke(spec, claimed)
                group.cancel_scope.cancel()
        status = "failed" if error is not None else "succeeded"
        if not await self._complete(claimed, status, result, error):
            return RunResult("lost")  # our lease expired and another worker took it: its outcome counts
        done = replace(claimed, status=status, result=result, error=error, completed_at=datetime.now(UTC))
        await self._follow_up(done, (time.perf_counter() - started) * 1000)
        return RunResult("completed")

    async def aresume(self) -> int:
        """Run every action left ``requested``, or ``running`` past its lease (a dead worker's); how many ran."""
        now = datetime.now(UTC)
        done = 0
        for action_id in await self.stale(now):
            done += await self.execute(action_id)
        return done

    async def stale(self, now: datetime, requested_before: datetime | None = None) -> list[str]:
        """Ids of requests nobody is running: ``requested`` (before ``requested_before``, if
        given), or ``running`` past their lease."""
        database = self.services.database
        if database is not None:
            return await database.run(rows.resumable, database, now, requested_before)
        with self._lock:
            return [
                r.id
                for r in self._rows.values()
                if _resumable_row(r, now)
                and (requested_before is None or r.status != "requested" or _before(r.requested_at, requested_before))
            ]

    async def get(self, action_id: str) -> ActionRow | None:
        database = self.services.database
        if database is not None:
            return await database.run(rows.get, database, action_id)
        with self._lock:
            row = self._rows.get(action_id)
            return None if row is None else replace(row)

    # -- state changes ------------------------------------------------------------------

    async def _claim(self, action_id: str, now: datetime, lease: datetime) -> ActionRow | None:
        database = self.services.database
        if database is not None:
            return await database.run(rows.claim, database, action_id, now, lease)
        with self._lock:
            row = self._rows.get(action_id)
            if row is None or not _resumable_row(row, now):
                return None
            row.status, row.attempts, row.lease_until = "running", row.attempts + 1, lease
            return replace(row)

    async def _renew(self, claimed: ActionRow) -> None:
        """Push the lease on while the action runs, so only a dead worker's lease expires."""
        database = self.services.database
        while True:
            await anyio.sleep(self.lease_seconds / 3)
            lease = datetime.now(UTC) + timedelta(seconds=self.lease_seconds)
            try:
                if database is not None:
                    held = await database.run(rows.renew, database, claimed, lease)
                else:
                    with self._lock:
                        row = self._rows.get(claimed.id)
                        held = row is not None and row.status == "running" and row.attempts == claimed.attempts
                        if held and row is not None:
                            row.lease_until = lease
            except Exception as exc:  # the next renewal tries again; completing checks the claim anyway
                log.warning("action_lease_not_renewed", action_id=claimed.id, error=f"{type(exc).__name__}: {exc}")
                continue
            if not held:
                return

    async def _complete(self, claimed: ActionRow, status: str, result: str | None, error: str | None) -> bool:
        database = self.services.database
        now = datetime.now(UTC)
        if database is not None:
            return bool(await shielded(database.run, rows.complete, database, claimed, status, result, error, now))
        with self._lock:
            row = self._rows.get(claimed.id)
            if row is None or row.status != "running" or row.attempts != claimed.attempts:
                return False
            row.status, row.result, row.error, row.completed_at = status, result, error, now
            return True

    async def _not_claimed(self, action_id: str, now: datetime) -> RunResult:
        row = await self.get(action_id)
        if row is None:
            return RunResult("missing")
        if row.status in ("requested", "running"):  # another claim holds it (or just took it)
            return RunResult("busy", row.lease_until or now)
        if row.status not in ("succeeded", "failed") or self.services.database is None:
            return RunResult("done")
        database = self.services.database
        if await database.run(rows.followed_up, database, action_id):
            return RunResult("done")
        # Completed, follow-up not marked: its run may still be finishing it; after a lease, it died.
        settled = (row.completed_at or now) + timedelta(seconds=self.lease_seconds)
        if settled > now:
            return RunResult("busy", settled)
        log.info("action_follow_up_resumed", action=row.name, action_id=row.id)
        await self._follow_up(row, None, recovering=True)
        return RunResult("done")

    async def _follow_up(self, row: ActionRow, duration_ms: float | None, *, recovering: bool = False) -> None:
        self.services.events.emit(
            AgentActionCompleted(
                id=completed_event_id(row.id),
                conversation_id=row.conversation_id,
                call_id=row.id,
                tool=row.name,
                outcome=row.status,
                is_error=row.status != "succeeded",
                duration_ms=duration_ms,
                action_id=row.id,
            )
        )
        await self._append_outcome(row, recovering=recovering)
        database = self.services.database
        if database is not None:
            await shielded(database.run, rows.mark_followed_up, database, row.id)

    def live_builder(self, conversation_id: str | None) -> ConversationBuilder | None:
        """The conversation object that requested an action, while it lives in this process."""
        if conversation_id is None:
            return None
        with self._lock:
            return self._builders.get(conversation_id)

    async def _append_outcome(self, row: ActionRow, *, recovering: bool = False) -> None:
        if row.conversation_id is None:
            return
        message = outcome_message(row)
        builder = self.live_builder(row.conversation_id)
        if builder is not None:
            builder._pending.append(message)  # sent, and stored, with the conversation's next turn
            return
        record = ConversationRecord(id=row.conversation_id, user=row.user, tenant=row.tenant)
        turn = TurnContext(
            conversation=record, new_messages=[], provider="", model="", user=row.user, tenant=row.tenant
        )
        try:
            if recovering and await self._outcome_stored(row):
                return
            await self.services.store.save_messages(turn, [message])
        except Exception as exc:  # the outcome is in ai_agent_actions either way
            log.error(
                "action_outcome_not_appended", action=row.name, action_id=row.id, error=f"{type(exc).__name__}: {exc}"
            )

    async def _outcome_stored(self, row: ActionRow) -> bool:
        assert row.conversation_id is not None
        record = await self.services.store.load(row.conversation_id, tenant=row.tenant, user=row.user)
        prefix = outcome_prefix(row)
        return record is not None and any(m.text.startswith(prefix) for m in record.messages)


class AgentActionListener:
    """Runs a stored action when its :class:`AgentActionRequested` arrives (in the dispatcher's
    background loop), or, with a queue, sends it to ``ai worker`` (:mod:`ai_core.actions.queued`)."""

    def __init__(self, manager: ActionManager) -> None:
        self._manager = weakref.ref(manager)

    async def __call__(self, event: AgentActionRequested) -> None:
        manager = self._manager()
        if manager is None or event.action_id is None:
            return
        if manager.queued:
            from ai_core.actions.queued import hand_to_worker

            if await hand_to_worker(manager, event.action_id, event.tool, event.conversation_id):
                return
        await manager.execute(event.action_id)


async def _invoke(spec: ActionSpec, row: ActionRow) -> tuple[str | None, str | None]:
    """Run the action: (result, None) or (None, error); never raises but for cancellation."""
    try:
        with anyio.fail_after(spec.timeout):
            value = await _call(spec, row)
    except TimeoutError:
        return None, f"timed out after {spec.timeout} seconds"
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"
    return (value if isinstance(value, str) else json.dumps(value, default=str)), None


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


def _before(value: datetime | None, limit: datetime) -> bool:
    return value is not None and value < limit
