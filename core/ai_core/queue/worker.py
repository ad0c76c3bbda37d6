"""``ai worker``: a Dramatiq worker that runs queued listeners and jobs.

The worker builds an :class:`ai_core.AI` from the same settings as every other
process (so the same plugins, hence the same listener keys, and the same
database), declares the two actors of :mod:`ai_core.queue.broker` and runs
Dramatiq's own :class:`dramatiq.Worker` with ``threads`` execution threads
until it is told to stop. Run one per core or machine; they share the queue.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ai_core.errors import ConfigurationError
from ai_core.logging import get_logger
from ai_core.queue.broker import DELIVER_ACTOR, JOB_ACTOR, make_broker
from ai_core.queue.settings import EVENTS_QUEUE, JOBS_QUEUE

if TYPE_CHECKING:
    from ai_core.app import AI
    from ai_core.config import Settings

__all__ = ["WorkerRuntime", "job_key", "run_worker"]

log = get_logger("ai_core.queue")


def job_key(namespace: str, name: str) -> str:
    """The Redis hash where workers record a job's runs (``runs``, ``last_run``, ``summary``, ``last_error``)."""
    return f"{namespace}:job:{name}"


class WorkerRuntime:
    """What the actors of one worker process share: the ``AI``, its listeners by key, the broker."""

    def __init__(self, settings: Settings) -> None:
        from ai_core.app import AI
        from ai_core.queue.relay import listener_keys

        self.settings = settings
        self.broker = make_broker(settings)
        self.ai: AI = AI(settings=settings)
        if self.ai.services.database is None:
            self.ai.close()
            raise ConfigurationError(
                "ai worker needs the database (AI_PERSISTENCE is off): its processed-event markers live there"
            )
        relay = self.ai.services.events.relay  # the listeners this worker's AI queues are the ones it runs
        self.listeners = listener_keys(relay.listeners if relay is not None else [])
        self._declare_actors()

    def _declare_actors(self) -> None:
        import dramatiq

        for name, fn, queue in ((DELIVER_ACTOR, self.deliver, EVENTS_QUEUE), (JOB_ACTOR, self.job, JOBS_QUEUE)):
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

    def close(self) -> None:
        self.ai.close()


def run_worker(settings: Settings, stop: threading.Event, *, threads: int = 4, stop_timeout: float = 30) -> None:
    """Process queued listeners and jobs until ``stop`` is set; then let running tasks finish (bounded)."""
    import dramatiq

    runtime = WorkerRuntime(settings)
    worker: Any = dramatiq.Worker(runtime.broker, worker_threads=threads, worker_timeout=500)
    worker.start()
    log.info("worker_started", threads=threads, listeners=len(runtime.listeners))
    try:
        while not stop.wait(0.5):
            pass
    finally:
        worker.stop(timeout=int(stop_timeout * 1000))
        runtime.close()
