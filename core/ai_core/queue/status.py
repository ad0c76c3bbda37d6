"""What ``ai status`` (and ``ai worker --status``) shows of the task queue.

One dict, JSON-ready: the engine (``in-process`` when no queue is configured),
the queue's masked URL, per queue the messages waiting, waiting for a retry and
dead-lettered, the messages workers hold (running or prefetched), the workers
alive (a heartbeat within ``requeue_after``), the schedule and each job's last
run as workers recorded it. An unreachable Redis is an ``error`` entry (present
only then), not an exception: a status screen must show the rest.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ai_core.queue.settings import ACTIONS_QUEUE, DEFAULT_SCHEDULE, EVENTS_QUEUE, JOBS_QUEUE, queue_url, schedule_of

if TYPE_CHECKING:
    from ai_core.config import Settings

__all__ = ["format_queue_status", "queue_status"]


def queue_status(settings: Settings | None = None) -> dict[str, Any]:
    """The queue's state; reads Redis only when a queue is configured."""
    if settings is None:
        from ai_core.config import load_settings

        settings = load_settings()
    url = queue_url(settings)
    status: dict[str, Any] = {"engine": "in-process", "configured": url is not None, "schedule": schedule_of(settings)}
    if url is None:
        return status
    from ai_core.queue.worker import job_key
    from ai_core.storage.urls import masked_url

    namespace = settings.queue.namespace
    status.update(
        engine="dramatiq",
        url=masked_url(url),
        namespace=namespace,
        queues={},
        in_progress=0,
        workers=0,
        jobs={},
    )
    try:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3, decode_responses=True)
        try:
            for queue in (EVENTS_QUEUE, JOBS_QUEUE, ACTIONS_QUEUE):
                base = f"{namespace}:{queue}"
                status["queues"][queue] = {
                    "waiting": int(client.llen(base)),
                    "retrying": int(client.llen(f"{base}.DQ")),
                    "dead": int(client.zcard(f"{base}.XQ")),
                }
            status["in_progress"] = sum(int(client.scard(key)) for key in client.scan_iter(f"{namespace}:__acks__.*"))
            alive_since = int(time.time() * 1000 - settings.queue.requeue_after * 1000)
            status["workers"] = int(client.zcount(f"{namespace}:__heartbeats__", alive_since, "+inf"))
            for name in DEFAULT_SCHEDULE:
                record = client.hgetall(job_key(namespace, name))
                if record:
                    status["jobs"][name] = {k: int(v) if k == "runs" else v for k, v in record.items()}
        finally:
            client.close()
    except ImportError:
        status["error"] = "redis is not installed: pip install 'ai-core[queue]'"
    except Exception as exc:
        status["error"] = f"{type(exc).__name__}: {exc}"
    return status


def format_queue_status(status: dict[str, Any]) -> list[str]:
    """The status as lines a person reads (``ai worker --status``; ``ai status`` shows them under ``queue``)."""
    if not status["configured"]:
        lines = ["queue: in process (set AI_QUEUE_URL to run listeners and jobs on `ai worker`)"]
    else:
        lines = [f"queue: dramatiq at {status['url']} (namespace {status['namespace']})"]
        if "error" in status:
            return [*lines, f"  unreachable: {status['error']}"]
        lines.append(f"  workers alive: {status['workers']}, messages held by workers: {status['in_progress']}")
        for queue, counts in status["queues"].items():
            lines.append(
                f"  {queue}: {counts['waiting']} waiting, {counts['retrying']} retrying, {counts['dead']} dead"
            )
    schedule = ", ".join(f"{name} every {_every(seconds)}" for name, seconds in status["schedule"].items())
    lines.append(f"  schedule: {schedule or 'off'}")
    for name, record in status.get("jobs", {}).items():
        last = record.get("last_run", "never")
        lines.append(f"  {name}: {record.get('runs', 0)} run(s), last {last}: {record.get('summary', '')}")
        if record.get("last_error"):
            lines.append(f"    last error ({record.get('last_failed', '?')}): {record['last_error']}")
    return lines


def _every(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"
