"""Task-queue engines over Redis: enqueue + execute throughput and CPU per task.

    .venv/bin/python benchmarks/bench_queue.py [--tasks 2000] [--engine celery|dramatiq|taskiq|all]

For each engine that is installed (Celery, Dramatiq, Taskiq with taskiq-redis),
a real ``redis-server`` is started on 127.0.0.1 (a free port, no persistence),
one worker process of the engine is started with one execution slot (Celery
``--pool solo``, Dramatiq ``--processes 1 --threads 1`` or ``BENCH_THREADS``
threads, Taskiq ``--workers 1``, whose one process runs tasks concurrently),
every task is acknowledged late (after it ran) where the engine allows it, and
the producer sends ``--tasks`` tasks the way an application would (Celery and
Dramatiq: a sync call; Taskiq: ``await task.kiq()``). Each task increments a
Redis counter, so the run ends when the counter says every task ran.

Printed per engine: enqueue rate (tasks/s as the producer sends), end-to-end
throughput (tasks/s from the first send until the last task ran), the
producer's CPU per task and the worker's CPU per task (all its processes,
read from /proc), in microseconds.

The module is also the worker's task module (``bench_queue``), so it keeps its
engine imports inside functions and defines each engine's app only when
``BENCH_ENGINE`` names it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ENGINE = os.environ.get("BENCH_ENGINE", "")
URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
COUNTER = "bench:done"
QUEUE = "bench"

# -- the worker side: one app per engine, built only in that engine's processes -------------

if ENGINE == "celery":
    import redis as _redis
    from celery import Celery

    celery_app = Celery("bench_queue", broker=URL)
    celery_app.conf.update(task_acks_late=True, task_default_queue=QUEUE, worker_hijack_root_logger=False)
    _celery_redis = _redis.Redis.from_url(URL)

    @celery_app.task(name="bench.count", acks_late=True)
    def celery_count() -> None:
        _celery_redis.incr(COUNTER)

elif ENGINE == "dramatiq":
    import dramatiq
    import redis as _redis
    from dramatiq.brokers.redis import RedisBroker

    dramatiq.set_broker(RedisBroker(url=URL))
    _dramatiq_redis = _redis.Redis.from_url(URL)

    @dramatiq.actor(actor_name="bench_count", queue_name=QUEUE)
    def dramatiq_count() -> None:
        _dramatiq_redis.incr(COUNTER)

elif ENGINE == "taskiq":
    import redis.asyncio as _aredis
    from taskiq_redis import RedisStreamBroker

    taskiq_broker = RedisStreamBroker(url=URL, queue_name=QUEUE)  # acks after the task ran
    _taskiq_redis = _aredis.Redis.from_url(URL)

    @taskiq_broker.task(task_name="bench.count")
    async def taskiq_count() -> None:
        await _taskiq_redis.incr(COUNTER)


# -- the driver side ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_redis(workdir: str) -> tuple[subprocess.Popen[bytes], str]:
    program = shutil.which("redis-server")
    if program is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    port = _free_port()
    args = [program, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", workdir]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("redis-server did not start")


def _tree_cpu(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its live descendants (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    stats: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent = int(fields[1])
        children.setdefault(parent, []).append(int(entry.name))
        stats[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += stats.get(current, 0.0)
        todo.extend(children.get(current, []))
    return total


def _worker_command(engine: str) -> list[str]:
    bindir = Path(sys.executable).parent
    if engine == "celery":
        return [
            str(bindir / "celery"),
            "-A",
            "bench_queue:celery_app",
            "worker",
            "--pool",
            "solo",
            "-Q",
            QUEUE,
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "-l",
            "warning",
        ]
    if engine == "dramatiq":
        return [
            str(bindir / "dramatiq"),
            "bench_queue",
            "--processes",
            "1",
            "--threads",
            os.environ.get("BENCH_THREADS", "1"),
        ]
    return [str(bindir / "taskiq"), "worker", "bench_queue:taskiq_broker", "--workers", "1"]


class _Producer:
    def __init__(self, engine: str) -> None:
        self.engine = engine
        self.loop = asyncio.new_event_loop() if engine == "taskiq" else None
        if engine == "taskiq":
            assert self.loop is not None
            self.loop.run_until_complete(taskiq_broker.startup())

    def send(self, count: int) -> None:
        if self.engine == "celery":
            for _ in range(count):
                celery_count.apply_async(queue=QUEUE)
        elif self.engine == "dramatiq":
            for _ in range(count):
                dramatiq_count.send()
        else:

            async def many() -> None:
                for _ in range(count):
                    await taskiq_count.kiq()

            assert self.loop is not None
            self.loop.run_until_complete(many())

    def close(self) -> None:
        if self.loop is not None:
            self.loop.run_until_complete(taskiq_broker.shutdown())
            self.loop.close()


def _wait_for(client: Any, count: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while int(client.get(COUNTER) or 0) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {client.get(COUNTER)} of {count} tasks ran")
        time.sleep(0.005)


def run_engine(engine: str, url: str, tasks: int) -> dict[str, float]:
    """Run in a child process (``--child``) so each engine's imports stay apart."""
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    env = {**os.environ, "BENCH_ENGINE": engine, "BENCH_REDIS_URL": url, "PYTHONPATH": str(HERE)}
    log = tempfile.TemporaryFile()  # noqa: SIM115 - not a pipe: a worker logging every task would fill it
    worker = subprocess.Popen(
        _worker_command(engine), cwd=HERE, env=env, start_new_session=True, stdout=log, stderr=log
    )
    producer = _Producer(engine)
    try:
        # Warm up until a task runs: a consumer group created after a send (Taskiq) never sees it.
        deadline = time.monotonic() + 120
        while not int(client.get(COUNTER) or 0):
            if time.monotonic() > deadline or worker.poll() is not None:
                log.seek(0)
                raise SystemExit(f"{engine} worker never ran a task: {log.read().decode()[-500:]}")
            producer.send(1)
            for _ in range(100):
                if int(client.get(COUNTER) or 0):
                    break
                time.sleep(0.02)
        time.sleep(1)  # the stragglers of the warm-up
        base = int(client.get(COUNTER) or 0)
        worker_cpu0 = _tree_cpu(worker.pid)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        producer.send(tasks)
        sent_wall, sent_cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        _wait_for(client, base + tasks)
        wall = time.perf_counter() - wall0
        worker_cpu = _tree_cpu(worker.pid) - worker_cpu0
    finally:
        producer.close()
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    return {
        "enqueue_per_s": tasks / sent_wall,
        "throughput_per_s": tasks / wall,
        "producer_us": sent_cpu / tasks * 1e6,
        "worker_us": worker_cpu / tasks * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--engine", choices=["celery", "dramatiq", "taskiq", "all"], default="all")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks: no orphan worker
        result = run_engine(args.child, args.url, args.tasks)
        print(" ".join(f"{key}={value:.1f}" for key, value in result.items()))
        return
    engines = ["celery", "dramatiq", "taskiq"] if args.engine == "all" else [args.engine]
    modules = {"celery": "celery", "dramatiq": "dramatiq", "taskiq": "taskiq_redis"}
    with tempfile.TemporaryDirectory() as workdir:
        server, url = _start_redis(workdir)
        try:
            print(f"{'engine':<10}{'enqueue/s':>11}{'tasks/s':>10}{'producer us':>13}{'worker us':>11}")
            for engine in engines:
                import importlib.util

                if importlib.util.find_spec(modules[engine]) is None:
                    print(f"{engine:<10}not installed (pip install {modules[engine].replace('_', '-')})")
                    continue
                env = {**os.environ, "BENCH_ENGINE": engine, "BENCH_REDIS_URL": url}
                out = subprocess.run(
                    [sys.executable, __file__, "--child", engine, "--url", url, "--tasks", str(args.tasks)],
                    env=env,
                    capture_output=True,
                    text=True,
                )
                if out.returncode != 0:
                    print(f"{engine:<10}failed: {out.stderr.strip().splitlines()[-1:]}")
                    continue
                values = dict(item.split("=") for item in out.stdout.split())
                print(
                    f"{engine:<10}{float(values['enqueue_per_s']):>11.0f}{float(values['throughput_per_s']):>10.0f}"
                    f"{float(values['producer_us']):>13.0f}{float(values['worker_us']):>11.0f}"
                )
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
