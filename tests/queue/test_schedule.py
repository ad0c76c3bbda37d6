"""The design's jobs on a schedule: sent by `ai scheduler` to real workers, each slot once."""

from __future__ import annotations

import shutil
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from queue_harness import Stack, make_stack, wait_until

from ai_core.config import Settings
from ai_core.jobs import JOBS
from ai_core.queue.schedule import claim_slots, run_scheduler
from ai_core.queue.settings import DEFAULT_SCHEDULE, schedule_of


@pytest.fixture
def fast_stack(tmp_path: Path, redis_url: str, sqlite_template: Path) -> Iterator[Stack]:
    shutil.copyfile(sqlite_template, tmp_path / "ai.db")
    schedule = {"sync-models": 1.0, "calculate-costs": 0, "generate-analytics": 0.5, "cleanup-conversations": 0}
    yield from make_stack(tmp_path, redis_url, schedule=schedule, async_backend="trio")


def test_scheduler_sends_the_jobs_and_workers_run_them(fast_stack: Stack) -> None:
    stack = fast_stack
    worker = stack.start("worker", "--threads", "2")
    scheduler = stack.start("scheduler")
    second_scheduler = stack.start("scheduler")  # for availability: still one run per slot

    def jobs() -> dict:
        found = stack.status()["jobs"]
        ran = found.get("generate-analytics", {}).get("runs", 0) >= 3 and {"sync-models", "expire-holds"} <= set(found)
        return found if ran else {}

    found = wait_until(jobs, "the scheduled jobs to run")
    assert "usage_analytics" in found["generate-analytics"]["summary"] or found["generate-analytics"]["summary"]
    assert "fake" in found["sync-models"]["summary"]
    assert found["expire-holds"]["summary"] == "closed 0 budget hold(s) whose lease ran out"
    assert set(found) == {"generate-analytics", "sync-models", "expire-holds"}  # the others are off in this schedule
    # sync-models emitted ModelSynced in the worker; the async listener ran there, on trio as configured.
    synced = wait_until(lambda: [row for row in stack.effects() if row[2].startswith("synced")], "ModelSynced")
    assert {kind for _, _, kind in synced} == {"synced:trio"}
    assert {pid for _, pid, _ in synced} == {worker.pid}
    for process in (scheduler, second_scheduler, worker):
        assert stack.kill(process, signal.SIGTERM) in (0, 143), stack.logs()
    text = stack.ai("worker", "--status").stdout
    assert "generate-analytics" in text and "dramatiq" in text


def test_each_slot_is_claimed_once(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    schedule = {"calculate-costs": 900.0, "sync-models": 3600.0}
    assert claim_slots(client, "t", schedule, 1_080_000.0) == ["calculate-costs", "sync-models"]
    assert claim_slots(client, "t", schedule, 1_080_001.0) == []  # another scheduler, the same slots
    assert claim_slots(client, "t", schedule, 1_080_000.0 + 900) == ["calculate-costs"]  # a new 15-minute slot
    client.close()


def test_the_design_schedule_and_overrides() -> None:
    assert schedule_of(Settings()) == {
        "sync-models": 3600.0,
        "calculate-costs": 900.0,
        "generate-analytics": 86400.0,
        "cleanup-conversations": 86400.0,
        "expire-holds": 600.0,
    }
    assert schedule_of(Settings(queue={"schedule": {"sync-models": 0, "calculate-costs": 60}})) == {
        "calculate-costs": 60.0,
        "generate-analytics": 86400.0,
        "cleanup-conversations": 86400.0,
        "expire-holds": 600.0,
    }
    assert set(DEFAULT_SCHEDULE) == set(JOBS)  # every job is on the schedule


def test_in_process_scheduler_runs_the_jobs_itself() -> None:
    """Without a queue, `ai scheduler` runs each job in its own process, once per slot."""
    now = [1_000_000.0]
    ran: list[str] = []
    stop = threading.Event()

    def run_here(name: str) -> str:
        ran.append(name)
        if len(ran) >= 6:
            stop.set()
        return "done"

    def clock() -> float:  # every look at the clock finds it 0.2 s later
        now[0] += 0.2
        return now[0]

    settings = Settings(
        queue={
            "schedule": {"sync-models": 0, "cleanup-conversations": 0, "generate-analytics": 1, "calculate-costs": 0.5}
        }
    )
    run_scheduler(settings, stop, run_here=run_here, clock=clock)
    assert ran[:2] == ["calculate-costs", "generate-analytics"]  # both due in the first slot
    assert ran.count("calculate-costs") > ran.count("generate-analytics")


def test_bad_schedule_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ai_core.config import load_settings
    from ai_core.errors import ConfigurationError

    config = tmp_path / "config.toml"
    config.write_text('[queue]\nschedule = { "sync-modles" = 60 }\n')
    monkeypatch.setenv("AI_CONFIG_FILE", str(config))
    with pytest.raises(ConfigurationError, match=r"unknown job.*sync-modles") as caught:
        load_settings()
    assert "\n" not in str(caught.value)


def test_scheduler_without_a_queue_runs_jobs_in_its_own_process(tmp_path: Path, sqlite_template: Path) -> None:
    """`ai scheduler` with no AI_QUEUE_URL: today's in-process behaviour, on the configured schedule."""
    import os
    import subprocess
    import sys

    shutil.copyfile(sqlite_template, tmp_path / "ai.db")
    config = tmp_path / "config.toml"
    config.write_text(
        '[queue]\nschedule = { "sync-models" = 0, "calculate-costs" = 0, "cleanup-conversations" = 0, '
        '"generate-analytics" = 0.3 }\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AI_")}
    env.update(AI_CONFIG_FILE=str(config), AI_DATABASE_URL=f"sqlite:///{tmp_path / 'ai.db'}",
               AI_DATA_DIR=str(tmp_path), AI_CORE_PLUGINS="fake")  # fmt: skip
    log = tmp_path / "scheduler.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", "from ai_core.cli import main; main()", "--log-level", "info", "scheduler"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        wait_until(lambda: log.read_text().count("job_done") >= 2, "two in-process runs of generate-analytics")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 143
    text = log.read_text()
    assert "run in this process" in text and "generate-analytics" in text
