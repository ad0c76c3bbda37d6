"""``ai worker`` and ``ai scheduler``: background work on the task queue (docs/queue.md)."""

from __future__ import annotations

import json

import click


@click.command()
@click.option("--threads", type=click.IntRange(1, 256), default=4, show_default=True, help="Tasks run at once.")
@click.option(
    "--stop-timeout",
    type=click.FloatRange(min=0),
    default=30,
    show_default=True,
    help="Seconds running tasks get to finish on Ctrl-C or SIGTERM.",
)
@click.option("--status", "show_status", is_flag=True, help="Show the queue's state and exit.")
@click.option("--json", "as_json", is_flag=True, help="With --status: as JSON.")
def worker(threads: int, stop_timeout: float, show_status: bool, as_json: bool) -> None:
    """Run queued event listeners and jobs (needs AI_QUEUE_URL=redis://...).

    Tasks are acknowledged only after they ran, so a worker killed mid-task loses
    nothing: its tasks go to another worker (or this one, restarted) once its
    heartbeat is `[queue] requeue_after` seconds old, and processed-event markers
    keep a redelivered event from changing the database twice.
    """
    from ai_core.config import load_settings

    settings = load_settings()
    if show_status or as_json:
        from ai_core.queue.status import format_queue_status, queue_status

        status = queue_status(settings)
        if as_json:
            click.echo(json.dumps(status, indent=2, default=str))
        else:
            click.echo("\n".join(format_queue_status(status)))
        return
    import threading

    from ai_core.queue.broker import make_broker
    from ai_core.queue.worker import run_worker

    make_broker(settings)  # a clear error before anything starts when no queue is configured
    click.echo(f"ai worker: {threads} thread(s); Ctrl-C stops", err=True)
    stop = threading.Event()
    try:
        run_worker(settings, stop, threads=threads, stop_timeout=stop_timeout)
    except KeyboardInterrupt:
        stop.set()
        raise


@click.command()
def scheduler() -> None:
    """Run the design's schedule: sync models hourly, costs every 15 minutes, analytics and cleanup daily.

    With AI_QUEUE_URL each job is sent to the workers (several schedulers send
    each run once); without it the jobs run here. `[queue] schedule` changes
    the intervals (seconds; 0 turns a job off).
    """
    import threading

    from ai_core.config import load_settings
    from ai_core.queue.schedule import run_scheduler
    from ai_core.queue.settings import queue_url, schedule_of

    settings = load_settings()
    every = ", ".join(f"{name} every {seconds:g} s" for name, seconds in schedule_of(settings).items())
    where = "sent to the queue" if queue_url(settings) is not None else "run in this process"
    click.echo(f"ai scheduler: {every or 'nothing scheduled'} ({where}); Ctrl-C stops", err=True)
    stop = threading.Event()
    if queue_url(settings) is not None:
        run_scheduler(settings, stop)
        return
    from ai_core.app import AI
    from ai_core.queue.jobs import run_job

    ai = AI(settings=settings)
    try:
        run_scheduler(settings, stop, run_here=lambda name: run_job(ai, name))
    finally:
        ai.close()
