"""Real receivers on 127.0.0.1: an HTTP server that verifies Standard Webhooks
signatures with the scheme's own library and fails on demand, an SMTP server
(aiosmtpd), and OpenTelemetry's in-memory exporters."""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from support.db_fixtures import database, database_url, db_backend, postgres_server, sqlite_template  # noqa: F401

from tests.integrations.helpers import SECRET


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: Any  # the payload the library verified, or the error it raised

    @property
    def payload(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTP endpoint: answers 2xx to a good signature, 401 to a bad one, or fails on demand."""

    secret: str = SECRET
    received: list[Received] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    """Statuses to answer with next, one per request, before answering normally again."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def fail_next(self, times: int, status: int = 503) -> None:
        with self.lock:
            self.failures.extend([status] * times)

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> int:
        from standardwebhooks.webhooks import Webhook, WebhookVerificationError

        verified: Any
        try:
            verified = Webhook(self.secret).verify(body, headers) if "webhook-signature" in headers else None
        except WebhookVerificationError as exc:
            verified = exc
        with self.lock:
            self.received.append(Received(path, headers, body, verified))
            if isinstance(verified, Exception):
                return 401
            if self.failures:
                return self.failures.pop(0)
        return 200

    def good(self) -> list[Received]:
        return [r for r in self.received if r.verified is not None and not isinstance(r.verified, Exception)]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            status = state.handle(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Mailbox:
    messages: list[Any] = field(default_factory=list)
    port: int = 0


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        pytest.skip("aiosmtpd is not installed (python3 dev.py setup installs it)")
    from email import message_from_bytes

    box = Mailbox()

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            box.messages.append(message_from_bytes(envelope.content))
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        box.port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@dataclass
class Telemetry:
    spans: Any
    metrics: Any

    def finished(self) -> list[Any]:
        return list(self.spans.get_finished_spans())

    def points(self, name: str) -> list[Any]:
        data = self.metrics.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    try:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    except ImportError:
        pytest.skip("opentelemetry-sdk is not installed (python3 dev.py setup installs it)")
    from ai_core.integrations import otel

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    otel.use_providers(tracer_provider, meter_provider)
    try:
        yield Telemetry(exporter, reader)
    finally:
        otel.use_providers(None, None)
        tracer_provider.shutdown()
        meter_provider.shutdown()


@pytest.fixture(autouse=True)
def _no_config_file(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's own config file and AI_* variables never leak into these tests."""
    monkeypatch.setenv("AI_CONFIG_FILE", str(tmp_path_factory.mktemp("cfg") / "none.toml"))
    for name in list(os.environ):
        if name in ("AI_WEBHOOKS", "AI_NOTIFICATIONS", "AI_LISTENERS_DISABLED", "AI_DATABASE_URL"):
            monkeypatch.delenv(name)


@pytest.fixture
def sqlite_db(tmp_path: Any, sqlite_template: Any) -> str:  # noqa: F811 - the fixture, by name
    """A migrated SQLite database (a copy of the session's template: no migration per test)."""
    import shutil

    target = tmp_path / "ai.db"
    shutil.copyfile(sqlite_template, target)
    return f"sqlite:///{target}"
