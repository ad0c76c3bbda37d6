"""Agent actions on the task queue: the requesting process's side.

With a queue configured (``AI_QUEUE_URL``, the setting that sends plugins'
listeners to ``ai worker``) and a database, the :class:`AgentActionListener`
of the process that stored a request sends one ``ai_core_action(action_id)``
message (:func:`ai_core.queue.broker.send_action`) from the event
dispatcher's background loop; the caller of the conversation never waits for
Redis. ``ai worker`` claims and runs it (:meth:`ActionManager.run`), records the
outcome and appends it to the stored conversation.

While the conversation object that requested the action lives here, an
:class:`OutcomeWatcher` (one daemon thread per ``AI``, only while there is
something to watch) reads the rows of the awaited actions, all in one query,
every 50 ms growing to once a second, and adds each outcome the worker stored
to that object's history, so its next send carries it, as when the action runs
in process. :meth:`ActionManager.wait_for_outcomes` waits for that; nothing
else does (closing the ``AI`` does not wait for workers).

If Redis cannot take the message, the action runs here instead (a warning is
logged): an unreachable queue loses no action.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

from ai_core.actions import rows
from ai_core.actions.manager import outcome_message
from ai_core.logging import get_logger

if TYPE_CHECKING:
    from ai_core.actions.manager import ActionManager

__all__ = ["OutcomeWatcher", "hand_to_worker", "send", "time_limit_ms"]

log = get_logger("ai_core.actions")


def time_limit_ms(timeout: float, lease_seconds: float) -> int:
    """Dramatiq's limit for one action message: beyond the action's own timeout and a
    few leases, so that only a worker stuck past its action's timeout is interrupted."""
    return int((timeout + 3 * lease_seconds + 60) * 1000)


def send(manager: ActionManager, action_id: str, timeout: float, *, delay_ms: int | None = None) -> None:
    """Queue one run of ``action_id`` (blocking: one Redis round trip)."""
    from ai_core.queue.broker import make_broker, send_action

    settings = manager.services.settings
    send_action(
        make_broker(settings),
        action_id,
        retries=settings.queue.retries,
        time_limit_ms=time_limit_ms(timeout, manager.lease_seconds),
        delay_ms=delay_ms,
    )


async def hand_to_worker(manager: ActionManager, action_id: str, name: str, conversation_id: str | None) -> bool:
    """Send the action to the workers and watch for its outcome while its conversation
    object lives here; False when it could not be queued (the caller runs it)."""
    spec = manager.find(name)
    timeout = spec.timeout if spec is not None else 300.0
    try:
        await anyio.to_thread.run_sync(lambda: send(manager, action_id, timeout))
    except Exception as exc:  # Redis down, Dramatiq missing: run it here rather than lose it
        log.warning("action_not_queued", action=name, action_id=action_id, error=f"{type(exc).__name__}: {exc}")
        return False
    if conversation_id is not None and manager.live_builder(conversation_id) is not None:
        manager.watcher.add(action_id, conversation_id, timeout + 3 * manager.lease_seconds + 60)
    return True


class OutcomeWatcher:
    """Brings the outcomes of queued actions to the live conversations that requested them."""

    def __init__(self, manager: ActionManager) -> None:
        self._manager = weakref.ref(manager)
        self._awaiting: dict[str, tuple[str, float]] = {}  # action id -> (conversation id, give up at)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, action_id: str, conversation_id: str, patience: float) -> None:
        with self._lock:
            self._awaiting[action_id] = (conversation_id, time.monotonic() + patience)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ai-core-action-outcomes", daemon=True)
                self._thread.start()
        self._wake.set()

    def pending(self) -> int:
        with self._lock:
            return len(self._awaiting)

    def wait(self, timeout: float | None) -> bool:
        """Block until no outcome is awaited; False on timeout."""
        with self._lock:
            return self._idle.wait_for(lambda: not self._awaiting, timeout=timeout)

    def _run(self) -> None:
        delay = 0.05
        while True:
            if self._wake.wait(delay):
                self._wake.clear()
                delay = 0.05
            else:
                delay = min(delay * 1.5, 1.0)
            with self._lock:
                awaiting = dict(self._awaiting)
                if not awaiting:
                    self._thread = None
                    return
            manager = self._manager()
            if manager is None or not self._check(manager, awaiting):
                with self._lock:  # nobody left to tell, or no database: the worker stored the outcomes
                    self._awaiting.clear()
                    self._idle.notify_all()
                    self._thread = None
                return
            del manager

    def _check(self, manager: ActionManager, awaiting: dict[str, tuple[str, float]]) -> bool:
        """Deliver the outcomes that are in; False when the database is gone."""
        database = manager.services.database
        if database is None or getattr(database, "_closed", False):
            return False
        try:
            found = rows.get_many(database, list(awaiting))
        except Exception as exc:  # tried again on the next tick
            log.warning("action_outcomes_not_read", error=f"{type(exc).__name__}: {exc}")
            return True
        now = time.monotonic()
        finished = []
        for action_id, (conversation_id, give_up_at) in awaiting.items():
            row = found.get(action_id)
            builder = manager.live_builder(conversation_id)
            if row is not None and builder is not None and row.status in ("succeeded", "failed"):
                builder._history.append(outcome_message(row))  # the worker stored it: history, not pending
                finished.append(action_id)
            elif row is None or builder is None or now > give_up_at:
                finished.append(action_id)
            del builder
        if finished:
            with self._lock:
                for action_id in finished:
                    self._awaiting.pop(action_id, None)
                if not self._awaiting:
                    self._idle.notify_all()
        return True
