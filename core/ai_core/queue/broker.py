"""The Dramatiq broker over Redis, and the two kinds of message ai-core sends.

* ``ai_core_deliver(listener, event_name, event_json)`` on ``ai-core-events``:
  one event for one listener a plugin registered;
* ``ai_core_job(name)`` on ``ai-core-jobs``: one run of a maintenance job;
* ``ai_core_action(action_id)`` on ``ai-core-actions``: one stored agent action
  to claim and run (docs/actions.md).

Senders need no actor objects: a message names its actor, and only the worker
(:mod:`ai_core.queue.worker`) declares the actors that run them. Dramatiq acks a
message only after its actor returned, so a killed worker's message is handed
to another worker once the dead one's heartbeat is ``requeue_after`` seconds old.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ai_core.errors import ConfigurationError
from ai_core.queue.settings import ACTIONS_QUEUE, EVENTS_QUEUE, JOBS_QUEUE, queue_url

if TYPE_CHECKING:
    from dramatiq.brokers.redis import RedisBroker

    from ai_core.config import Settings

__all__ = ["ACTION_ACTOR", "DELIVER_ACTOR", "JOB_ACTOR", "make_broker", "send_action", "send_event", "send_job"]

DELIVER_ACTOR = "ai_core_deliver"
JOB_ACTOR = "ai_core_job"
ACTION_ACTOR = "ai_core_action"

_brokers: dict[tuple[str, str, float, int], RedisBroker] = {}
_lock = threading.Lock()


def make_broker(settings: Settings) -> RedisBroker:
    """The process's broker for the configured queue (one per URL and settings).

    :raises ConfigurationError: no queue is configured, or ``ai-core[queue]`` is not installed.
    """
    url = queue_url(settings)
    if url is None:
        raise ConfigurationError(
            "no task queue is configured: set AI_QUEUE_URL=redis://host:port/db or [queue] url in the config file"
        )
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigurationError("AI_QUEUE_URL must be a redis://, rediss:// or unix:// URL")
    queue = settings.queue
    key = (url, queue.namespace, queue.requeue_after, queue.maintenance_chance)
    with _lock:
        broker = _brokers.get(key)
        if broker is None:
            try:
                import dramatiq
                from dramatiq.brokers.redis import RedisBroker
            except ImportError:
                raise ConfigurationError("the task queue needs Dramatiq: pip install 'ai-core[queue]'") from None
            broker = RedisBroker(
                url=url,
                namespace=queue.namespace,
                heartbeat_timeout=int(queue.requeue_after * 1000),
                maintenance_chance=queue.maintenance_chance,
            )
            broker.declare_queue(EVENTS_QUEUE)
            broker.declare_queue(JOBS_QUEUE)
            broker.declare_queue(ACTIONS_QUEUE)
            dramatiq.set_broker(broker)
            _brokers[key] = broker
        return broker


def _message(queue_name: str, actor_name: str, args: tuple[Any, ...], retries: int, **options: Any) -> Any:
    import dramatiq

    return dramatiq.Message(
        queue_name=queue_name,
        actor_name=actor_name,
        args=args,
        kwargs={},
        options={"max_retries": retries, "min_backoff": 1000, "max_backoff": 300_000, **options},
    )


def send_event(broker: RedisBroker, listener_key: str, event_name: str, event_json: str, *, retries: int) -> None:
    """Queue one event for one listener (the broker's Redis round trip happens here)."""
    broker.enqueue(_message(EVENTS_QUEUE, DELIVER_ACTOR, (listener_key, event_name, event_json), retries))


def send_job(broker: RedisBroker, name: str) -> None:
    """Queue one run of job ``name`` (jobs are safe to run twice, so a retry is harmless)."""
    broker.enqueue(_message(JOBS_QUEUE, JOB_ACTOR, (name,), 3))


def send_action(
    broker: RedisBroker, action_id: str, *, retries: int, time_limit_ms: int, delay_ms: int | None = None
) -> None:
    """Queue one attempt at stored action ``action_id`` (after ``delay_ms``, if given).

    A second message for the same action is harmless: the worker claims the
    stored row before running it (:meth:`ai_core.actions.ActionManager.run`).
    """
    message = _message(ACTIONS_QUEUE, ACTION_ACTOR, (action_id,), retries, time_limit=time_limit_ms)
    broker.enqueue(message, delay=delay_ms)
