"""Agent actions on the task queue: the requesting process's side.

With a queue configured (``AI_QUEUE_URL``, the setting that sends plugins'
listeners to ``ai worker``) and a database, the :class:`AgentActionListener`
of the process that stored a request sends one ``ai_core_action(action_id)``
message (:func:`ai_core.queue.broker.send_action`) from the event
dispatcher's background loop; the caller of the conversation never waits for
Redis. ``ai worker`` claims and runs it (:meth:`ActionManager.run`), records the
outcome and appends it to the stored conversation.

While the conversation object that requested the action lives here, the
listener then waits for the outcome (polling the row, at most once a second)
and adds the message the worker stored to that object's history, so its next
send carries it, as when the action runs in process; ``ai.events.drain()``
therefore still means "the outcomes are in".

If Redis cannot take the message, the action runs here instead (a warning is
logged): an unreachable queue loses no action.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

from ai_core.actions.manager import outcome_message
from ai_core.logging import get_logger

if TYPE_CHECKING:
    from ai_core.actions.manager import ActionManager

__all__ = ["hand_to_worker", "send", "time_limit_ms"]

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


async def hand_to_worker(manager: ActionManager, action_id: str, name: str) -> bool:
    """Send the action to the workers and wait for its outcome while its conversation
    object lives here; False when it could not be queued (the caller runs it)."""
    spec = manager.find(name)
    timeout = spec.timeout if spec is not None else 300.0
    try:
        await anyio.to_thread.run_sync(lambda: send(manager, action_id, timeout))
    except Exception as exc:  # Redis down, Dramatiq missing: run it here rather than lose it
        log.warning("action_not_queued", action=name, action_id=action_id, error=f"{type(exc).__name__}: {exc}")
        return False
    await _await_outcome(manager, action_id, timeout)
    return True


async def _await_outcome(manager: ActionManager, action_id: str, action_timeout: float) -> None:
    row = await manager.get(action_id)
    if row is None or manager.live_builder(row.conversation_id) is None:
        return
    conversation_id = row.conversation_id
    deadline = anyio.current_time() + min(3000.0, action_timeout + 3 * manager.lease_seconds + 60)
    delay = 0.05
    while anyio.current_time() < deadline:
        await anyio.sleep(delay)
        delay = min(delay * 1.5, 1.0)
        if manager.live_builder(conversation_id) is None:
            return  # nobody here to tell: the worker stored the outcome
        row = await manager.get(action_id)
        if row is None:
            return
        if row.status in ("succeeded", "failed"):
            builder = manager.live_builder(conversation_id)
            if builder is not None:  # the worker stored it: history, not pending (stored again)
                builder._history.append(outcome_message(row))
            return
    log.info("action_outcome_not_awaited", action=row.name if row else "?", action_id=action_id)
