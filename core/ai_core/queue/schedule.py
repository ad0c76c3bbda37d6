"""``ai scheduler``: the design's schedule (sync models hourly, costs every 15
minutes, analytics and cleanup daily), sent to the queue or run in process.

Time is cut into slots of each job's interval (``floor(now / seconds)``). With a
queue, a slot is claimed with one Redis ``SET NX`` before its message is sent,
so several schedulers (one per machine, for availability) still send each slot
once; a scheduler started mid-slot runs that slot's job at once unless another
already did. Without a queue, the scheduler runs each job itself, in process.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ai_core.logging import get_logger

if TYPE_CHECKING:
    from ai_core.config import Settings

__all__ = ["claim_slots", "run_scheduler"]

log = get_logger("ai_core.queue")


def claim_slots(client: Any, namespace: str, schedule: dict[str, float], now: float) -> list[str]:
    """The jobs whose current slot this caller claimed (one Redis SET NX each; no other caller gets it)."""
    claimed = []
    for name, seconds in schedule.items():
        slot = math.floor(now / seconds)
        key = f"{namespace}:schedule:{name}:{slot}"
        if client.set(key, repr(now), nx=True, px=max(1000, int(seconds * 2000))):
            claimed.append(name)
    return claimed


def _next_due(schedule: dict[str, float], now: float) -> float:
    return min((math.floor(now / seconds) + 1) * seconds for seconds in schedule.values())


def run_scheduler(
    settings: Settings,
    stop: threading.Event,
    *,
    run_here: Callable[[str], str] | None = None,
    clock: Callable[[], float] = time.time,
) -> None:
    """Send (or, without a queue, run with ``run_here``) each job when its slot comes, until ``stop`` is set."""
    from ai_core.queue.settings import queue_url, schedule_of

    schedule = schedule_of(settings)
    if not schedule:
        log.warning("schedule_empty")
        stop.wait()
        return
    broker = None
    if queue_url(settings) is not None:
        from ai_core.queue.broker import make_broker

        broker = make_broker(settings)
    last_slot: dict[str, int] = {}
    while not stop.is_set():
        now = clock()
        if broker is not None:
            from ai_core.queue.broker import send_job

            for name in claim_slots(broker.client, settings.queue.namespace, schedule, now):
                send_job(broker, name)
                log.info("job_scheduled", job=name)
        else:
            for name, seconds in schedule.items():
                slot = math.floor(now / seconds)
                if last_slot.get(name) != slot:
                    last_slot[name] = slot
                    _run_logged(run_here, name)
        stop.wait(max(0.01, _next_due(schedule, now) - clock()))


def _run_logged(run_here: Callable[[str], str] | None, name: str) -> None:
    if run_here is None:
        return
    try:
        log.info("job_done", job=name, summary=run_here(name))
    except Exception as exc:  # a failing job must not stop the schedule
        log.warning("job_failed", job=name, error=f"{type(exc).__name__}: {exc}")
