"""``ai worker``: a Dramatiq worker that runs queued listeners, jobs and agent actions.

The worker imports the modules of ``[queue] actions`` / ``AI_QUEUE_ACTIONS``
(where applications register their agent actions), builds an
:class:`ai_core.AI` from the same settings as every other process (so the same
plugins, hence the same listener keys and actions, and the same database),
declares the three actors of :mod:`ai_core.queue.broker` and runs Dramatiq's
own :class:`dramatiq.Worker` with ``threads`` execution threads until it is
told to stop. Run one per core or machine; they share the queue.

Agent actions run on one event loop of the worker's own (``[queue]
async_backend``), through a blocking portal that the actor threads share. An
action another claim still holds (its lease is live) is sent again for when the
lease ends: a worker killed mid-action stops renewing it, so the redelivered
message runs it once the lease has expired. Every ``action_sweep`` seconds one
worker (a Redis ``SET NX`` per slot) sends a message for each action nobody
runs: requested longer ago than that, or running past its lease.
"""

from __future__ import annotations

import importlib
import threading
import time
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ai_core.errors import ConfigurationError
from ai_core.logging import get_logger
from ai_core.queue.broker import ACTION_ACTOR, DELIVER_ACTOR, JOB_ACTOR, make_broker
from ai_core.queue.settings import ACTIONS_QUEUE, EVENTS_QUEUE, JOBS_QUEUE, action_modules

if TYPE_CHECKING:
    from anyio.from_thread import BlockingPortal

    from ai_core.actions import ActionManager
    from ai_core.app import AI
    from ai_core.config import Settings

__all__ = ["WorkerRuntime", "import_action_modules", "job_key", "run_worker"]

log = get_logger("ai_core.queue")


def job_key(namespace: str, name: str) -> str:
    """The Redis hash where workers record a job's runs (``runs``, ``last_run``, ``summary``, ``last_error``)."""
    return f"{namespace}:job:{name}"


def import_action_modules(settings: Settings) -> list[str]:
    """Import the modules that register the application's agent actions; their names.

    :raises ConfigurationError: one of them cannot be imported (one line, naming it).
    """
    names = action_modules(settings)
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:
            raise ConfigurationError(
                f"ai worker cannot import the actions module {name!r} ([queue] actions / AI_QUEUE_ACTIONS): "
                f"{type(exc).__name__}: {exc}"
            ) from None
    return names


class WorkerRuntime:
    """What the actors of one worker process share: the ``AI``, its listeners by key, the broker,
    the agent actions and the event loop they run on."""

    def __init__(self, settings: Settings) -> None:
        from ai_core.actions import ActionManager
        from ai_core.app import AI
        from ai_core.queue.relay import listener_keys

        self.settings = settings
        self.broker = make_broker(settings)
        self.action_modules = import_action_modules(settings)
        self.ai: AI = AI(settings=settings)
        if self.ai.services.database is None:
            self.ai.close()
            raise ConfigurationError(
                "ai worker needs the database (AI_PERSISTENCE is off): its processed-event markers live there"
            )
        relay = self.ai.services.events.relay  # the listeners this worker's AI queues are the ones it runs
        self.listeners = listener_keys(relay.listeners if relay is not None else [])
        self.actions: ActionManager = ActionManager.of(self.ai)
        self._portal_scope: AbstractContextManager[BlockingPortal] | None = None
        self._portal: BlockingPortal | None = None
        self._portal_lock = threading.Lock()
        self._next_sweep = 0.0
        self._declare_actors()

    def _declare_actors(self) -> None:
        import dramatiq

        for name, fn, queue in (
            (DELIVER_ACTOR, self.deliver, EVENTS_QUEUE),
            (JOB_ACTOR, self.job, JOBS_QUEUE),
            (ACTION_ACTOR, self.action, ACTIONS_QUEUE),
        ):
            if name in self.broker.actors:  # a second runtime in one process (tests): rebind
                self.broker.actors.pop(name)
            dramatiq.Actor(fn, broker=self.broker, actor_name=name, queue_name=queue, priority=0, options={})

    def deliver(self, key: str, event_name: str, payload: str) -> None:
        from ai_core.queue.delivery import deliver_once

        listener = self.listeners.get(key)
        if listener is None:  # retried (another worker may have the plugin), then dead-lettered
            raise LookupError(f"no listener {key!r} in this worker's plugins")
        deliver_once(
            self.ai.services.database,
            listener,
            key,
            event_name,
            payload,
            async_backend=self.settings.queue.async_backend,
        )

    def job(self, name: str) -> None:
        from ai_core.queue.jobs import run_job

        key = job_key(self.settings.queue.namespace, name)
        started = datetime.now(UTC).isoformat()
        try:
            summary = run_job(self.ai, name)
        except Exception as exc:
            self.broker.client.hset(
                key, mapping={"last_error": f"{type(exc).__name__}: {exc}"[:500], "last_failed": started}
            )
            raise
        pipe = self.broker.client.pipeline()
        pipe.hincrby(key, "runs", 1)
        pipe.hset(key, mapping={"last_run": started, "summary": summary[:500]})
        pipe.execute()
        log.info("job_done", job=name, summary=summary)

    # -- agent actions ----------------------------------------------------------------------

    def portal(self) -> BlockingPortal:
        """The worker's event loop for actions (started on first use)."""
        with self._portal_lock:
            if self._portal is None:
                from anyio.from_thread import start_blocking_portal

                self._portal_scope = start_blocking_portal(backend=self.settings.queue.async_backend)
                self._portal = self._portal_scope.__enter__()
            return self._portal

    def action(self, action_id: str) -> None:
        """Claim and run one stored action; if another claim holds it, try again when its lease ends."""
        from ai_core.actions.queued import send

        outcome = self.portal().call(self.actions.run, action_id)
        log.info("action_run", action_id=action_id, state=outcome.state)
        if outcome.state == "busy":
            retry_at = outcome.retry_at or datetime.now(UTC)
            delay = max(100, int((retry_at - datetime.now(UTC)).total_seconds() * 1000) + 100)
            send(self.actions, action_id, self._timeout_of(action_id), delay_ms=delay)

    def _timeout_of(self, action_id: str) -> float:
        row = self.portal().call(self.actions.get, action_id)
        spec = self.actions.find(row.name) if row is not None else None
        return spec.timeout if spec is not None else 300.0

    def sweep(self, now: float | None = None) -> int:
        """Send a message for each action nobody runs, when this worker wins the sweep's slot;
        how many were sent."""
        from ai_core.actions.queued import send
        from ai_core.queue.schedule import claim_slots

        now = time.time() if now is None else now
        if now < self._next_sweep:
            return 0
        every = self.settings.queue.action_sweep
        self._next_sweep = now + every
        if not claim_slots(self.broker.client, self.settings.queue.namespace, {"actions-sweep": every}, now):
            return 0
        moment = datetime.now(UTC)
        stale = self.portal().call(self.actions.stale, moment, moment - timedelta(seconds=every))
        for action_id in stale:
            send(self.actions, action_id, self._timeout_of(action_id))
        if stale:
            log.info("actions_resent", count=len(stale))
        return len(stale)

    def close(self) -> None:
        try:
            self.ai.close()
        finally:
            if self._portal_scope is not None:
                scope, self._portal_scope, self._portal = self._portal_scope, None, None
                scope.__exit__(None, None, None)


def run_worker(settings: Settings, stop: threading.Event, *, threads: int = 4, stop_timeout: float = 30) -> None:
    """Process queued listeners and jobs until ``stop`` is set; then let running tasks finish (bounded)."""
    import dramatiq

    runtime = WorkerRuntime(settings)
    worker: Any = dramatiq.Worker(runtime.broker, worker_threads=threads, worker_timeout=500)
    worker.start()
    log.info("worker_started", threads=threads, listeners=len(runtime.listeners), action_modules=runtime.action_modules)
    try:
        while True:
            try:
                runtime.sweep()
            except Exception as exc:  # Redis or the database away for a moment: the next sweep tries again
                log.warning("actions_sweep_failed", error=f"{type(exc).__name__}: {exc}")
            if stop.wait(0.5):
                break
    finally:
        worker.stop(timeout=int(stop_timeout * 1000))
        runtime.close()
