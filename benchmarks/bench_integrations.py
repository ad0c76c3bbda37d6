"""CPU per call each integration adds, enabled and disabled, next to the same pipeline without it.

    .venv/bin/python benchmarks/bench_integrations.py              # a few seconds per configuration
    .venv/bin/python benchmarks/bench_integrations.py --calls 500

Each call is a fresh conversation through the whole pipeline with the fake
provider, unstreamed (``--stream`` streams). CPU is the process's time (each configuration in a fresh process; every
thread: the event worker, the webhook sender and the receiver in this process
included), from before the first measured call until every event is handled
and every delivery answered. Reported: microseconds of CPU per call and the
ratio to the baseline of the same storage (memory, or SQLite for analytics).
The least of three rounds per configuration, in one run: expect a few percent of noise.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ALL = "webhooks,notifications,analytics,cost_anomaly,otel"
SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


RECEIVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def receiver() -> tuple[str, subprocess.Popen[str]]:
    """A receiver in its own process: its CPU is not ai-core's."""
    process = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    port = int(process.stdout.readline())
    return f"http://127.0.0.1:{port}/", process


def make_ai(database_url: str | None, **values: Any) -> Any:
    from ai_core import AI
    from ai_core.config import Settings
    from ai_core.testing import fake_registry

    values.setdefault("listeners_disabled", ALL)
    if database_url is None:
        settings = Settings(persistence=False, default_model="fake/echo", **values)
    else:
        settings = Settings(persistence=True, database_url=database_url, default_model="fake/echo", **values)
    return AI(settings=settings, registry=fake_registry())


def settle(ai: Any) -> None:
    for _ in range(3):
        ai.events.drain(60)
        for listener in ai.events.listeners:
            drain = getattr(listener.handler, "drain", None)
            if drain is not None:
                drain(60)


async def per_call(ai: Any, calls: int, stream: bool) -> float:
    async def one(index: int) -> None:
        chat = ai.conversation(user=f"user-{index % 7}").user(f"question {index}")
        if stream:
            async for _ in chat.astream():
                pass
        else:
            await chat.asend()

    for index in range(20):  # warm-up: imports, pools, the first event worker wake-up
        await one(index)
    await asyncio.to_thread(settle, ai)
    best = float("inf")
    for _ in range(3):  # the least of three rounds: other processes only ever add
        started = time.process_time()
        for index in range(calls):
            await one(index + 100)
        await asyncio.to_thread(settle, ai)
        best = min(best, (time.process_time() - started) / calls * 1e6)
    return best


def configurations(url: str) -> list[tuple[str, dict[str, Any], str]]:
    hook = {"name": "bench", "url": url, "secret": SECRET, "events": ["response.generated"]}
    every = {**hook, "events": ["*"]}
    slack = {"channels": [{"type": "slack", "url": url}], "on": ["budget", "circuit", "error_rate"]}
    few = "webhooks,notifications,analytics,cost_anomaly"
    return [
        ("memory, every listener off", {}, "memory"),
        ("otel extra, no provider configured", {"listeners_disabled": few}, "memory"),
        ("otel with SDK provider (in-memory)", {"listeners_disabled": few, "_otel": True}, "memory"),
        ("webhooks configured, listener off", {"webhooks": [hook]}, "memory"),
        ("webhooks: response.generated", {"webhooks": [hook], "listeners_disabled": "otel"}, "memory"),
        ("webhooks: every event", {"webhooks": [every], "listeners_disabled": "otel"}, "memory"),
        ("notifications (slack; error-rate watch)", {"notifications": slack, "listeners_disabled": "otel"}, "memory"),
        ("cost anomaly detection", {"cost_anomaly_detection": True, "listeners_disabled": "otel"}, "memory"),
        ("SQLite, every listener off", {}, "sqlite"),
        ("SQLite + analytics listener", {"listeners_disabled": "webhooks,notifications,cost_anomaly,otel"}, "sqlite"),
    ]  # fmt: skip


def measure(index: int, url: str, calls: int, stream: bool) -> float:
    """One configuration, in this (fresh) process."""
    _label, values, storage = configurations(url)[index]
    with tempfile.TemporaryDirectory() as folder:
        database_url = f"sqlite:///{Path(folder) / 'bench.db'}" if storage == "sqlite" else None
        if values.pop("_otel", False):
            from opentelemetry.sdk.metrics import MeterProvider
            from opentelemetry.sdk.metrics.export import InMemoryMetricReader
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import SimpleSpanProcessor
            from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

            from ai_core import use_otel_providers

            tracer_provider = TracerProvider()
            tracer_provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
            use_otel_providers(tracer_provider, MeterProvider(metric_readers=[InMemoryMetricReader()]))
        ai = make_ai(database_url, **values)
        try:
            return asyncio.run(per_call(ai, calls, stream))
        finally:
            ai.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--url", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--only", default=None, help="only configurations whose label contains this")
    args = parser.parse_args()
    if args.one is not None:
        print(measure(args.one, args.url, args.calls, args.stream))
        return

    url, server = receiver()
    baselines: dict[str, float] = {}
    print(f"{'configuration':44} {'CPU us/call':>12} {'vs baseline':>12}")
    try:
        for index, (label, _values, storage) in enumerate(configurations(url)):
            if args.only and args.only not in label and index not in (0, 8):  # baselines always run
                continue
            extra = ["--stream"] if args.stream else []
            command = [sys.executable, __file__, "--one", str(index), "--url", url, "--calls", str(args.calls), *extra]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            cpu = float(done.stdout.strip().splitlines()[-1])
            baselines.setdefault(storage, cpu)
            print(f"{label:44} {cpu:12.0f} {cpu / baselines[storage]:11.2f}x", flush=True)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
