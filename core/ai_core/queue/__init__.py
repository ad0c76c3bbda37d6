"""Background work beyond one process: event listeners and jobs on a task queue.

By default everything runs in process (the event dispatcher's threads, ``ai jobs
run``, ``ai scheduler``). With ``AI_QUEUE_URL=redis://...`` (or ``[queue] url``)
the listeners that plugins register and the design's scheduled jobs become
Dramatiq messages over Redis, run by ``ai worker`` processes on any machine:

* :mod:`ai_core.queue.settings`: the ``[queue]`` settings and the schedule;
* :mod:`ai_core.queue.broker`: the Dramatiq broker and the messages sent;
* :mod:`ai_core.queue.relay`: what the event dispatcher hands events to;
* :mod:`ai_core.queue.delivery`: one event to one listener, once in effect;
* :mod:`ai_core.queue.processed`: the processed-event markers (``ai_processed_events``);
* :mod:`ai_core.queue.jobs`, :mod:`ai_core.queue.schedule`: jobs by name, on a schedule;
* :mod:`ai_core.queue.worker`: ``ai worker``; :mod:`ai_core.queue.status`: what ``ai status`` shows.

A listener that writes to the database through :func:`delivery_connection`
changes it exactly once per event, even when a worker is killed mid-task and
the message is delivered again (docs/queue.md).
"""

from __future__ import annotations

from typing import Any

__all__ = ["delivery_connection", "queue_status"]


def __getattr__(name: str) -> Any:
    if name == "delivery_connection":
        from ai_core.queue.delivery import delivery_connection

        return delivery_connection
    if name == "queue_status":
        from ai_core.queue.status import queue_status

        return queue_status
    raise AttributeError(name)
