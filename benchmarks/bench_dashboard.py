"""Server time of every dashboard page on a generated ledger, SQLite and PostgreSQL.

    .venv/bin/python benchmarks/bench_dashboard.py [--messages 1000000] [--backend sqlite|postgresql|all]
        [--sqlite-file PATH] [--rounds 5]

The ledger is generated straight into the tables (bulk inserts, not the
pipeline, which would take hours for a million messages): conversations of
ten messages (five user turns, five priced answers) spread over 180 days, 500
users in 20 tenants, six models, tags, tool calls, about 2% failed attempts,
budget counters, and ``ai_cost_tracking`` / ``ai_model_performance`` built from
the generated rows exactly as the store and ``ai usage rebuild`` build them.
An existing ``--sqlite-file`` with a ledger is reused (generate once, measure
often).

Each page is then served by the real app (uvicorn on 127.0.0.1, port 0) and
fetched ``--rounds`` times after one warm-up; the table shows the median and
the worst ``Server-Timing`` (the app's own time, without the network). Last,
the spend page's all-time total is checked against ``usage_report`` (what
``ai usage --json`` prints), which reads the ledger itself.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

MODELS = [
    ("openai", "gpt-4o-mini", Decimal("0.15"), Decimal("0.60")),
    ("openai", "gpt-4o", Decimal("2.50"), Decimal("10")),
    ("xai", "grok-3", Decimal("3"), Decimal("15")),
    ("gemini", "gemini-2.0-flash", Decimal("0.10"), Decimal("0.40")),
    ("ollama", "llama3", Decimal("0"), Decimal("0")),
    ("fake", "echo", Decimal("0.5"), Decimal("1.5")),
]
TAGS = ["support", "sales", "internal", "batch", "eval", "beta"]
ERRORS = [
    ("RateLimitError", 429),
    ("ProviderUnavailableError", 503),
    ("ProviderTimeoutError", None),
    ("InvalidRequestError", 400),
]
WORDS = [
    "invoice",
    "refund",
    "shipping",
    "order",
    "account",
    "password",
    "reset",
    "upgrade",
    "plan",
    "billing",
    "weather",
    "route",
    "summary",
    "translate",
    "email",
    "draft",
    "meeting",
    "notes",
    "schedule",
    "report",
    "quarterly",
    "forecast",
    "budget",
    "contract",
    "review",
]
RARE_WORD = "zyzzyva"
DAYS = 180


def generate(url: str, messages: int, *, seed: int = 7, progress: bool = True) -> dict[str, Any]:
    """Fill the (migrated, empty) database at ``url`` with ``messages`` ledger messages."""
    from ai_core.budgets.tables import BudgetCounter
    from ai_core.dashboard.budgets import period_bounds
    from ai_core.storage.analytics import _percentile
    from ai_core.storage.analytics_tables import CostTracking, ModelPerformance
    from ai_core.storage.base import table_of
    from ai_core.storage.conversation_tables import Conversation, ConversationTag, FailedAttempt, StoredMessage
    from ai_core.storage.cost_tracker import tags_key
    from ai_core.storage.database import Database
    from ai_core.storage.money import quantize_money

    rng = random.Random(seed)
    database = Database.open(url, migrate=True)
    today = datetime.now(UTC).date()
    start_day = today - timedelta(days=DAYS - 1)
    tables = {
        name: table_of(model)
        for name, model in (
            ("c", Conversation),
            ("m", StoredMessage),
            ("tags", ConversationTag),
            ("f", FailedAttempt),
            ("t", CostTracking),
            ("p", ModelPerformance),
            ("b", BudgetCounter),
        )
    }
    per_conversation = 10
    conversations = max(1, messages // per_conversation)
    tracking: dict[tuple[Any, ...], dict[str, Any]] = {}
    latencies: dict[tuple[Any, ...], list[float]] = defaultdict(list)
    failures_by: dict[tuple[Any, ...], int] = defaultdict(int)
    sample_ids: list[str] = []
    buffers: dict[str, list[dict[str, Any]]] = defaultdict(list)
    started = time.perf_counter()
    written = 0

    def flush(force: bool = False) -> None:
        nonlocal written
        if not force and len(buffers["m"]) < 20_000:
            return
        with database.write() as conn:
            for name in ("c", "tags", "m", "f"):
                if buffers[name]:
                    conn.execute(tables[name].insert(), buffers[name])
        written += len(buffers["m"])
        for name in ("c", "tags", "m", "f"):
            buffers[name].clear()
        if progress:
            rate = written / (time.perf_counter() - started)
            print(f"  {written:,} messages ({rate:,.0f}/s)", flush=True)

    for index in range(conversations):
        conversation_id = f"{index:032x}"
        user_number = rng.randrange(500)
        user, tenant = f"user{user_number:03d}", f"tenant{user_number % 20:02d}"
        provider, model, price_in, price_out = MODELS[rng.randrange(len(MODELS))]
        tags = sorted(rng.sample(TAGS, rng.choice((0, 1, 1, 2))))
        day = start_day + timedelta(days=int(DAYS * (index / conversations)))
        moment = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(seconds=rng.randrange(86_000))
        total = Decimal(0)
        tokens_in = tokens_out = 0
        key = tags_key(tags)
        for position in range(1, per_conversation + 1):
            created = moment + timedelta(seconds=position * 3)
            row: dict[str, Any] = {
                "id": f"{index:024x}{position:08x}",
                "conversation_id": conversation_id,
                "position": position,
                "turn_id": None,
                "name": None,
                "format_version": 1,
                "user_id": user,
                "tenant": tenant,
                "provider": None,
                "model": None,
                "billable": False,
                "input_tokens": 0,
                "output_tokens": 0,
                "cached_input_tokens": 0,
                "cache_write_tokens": 0,
                "reasoning_tokens": 0,
                "cost": None,
                "cost_known": False,
                "currency": None,
                "latency_ms": None,
                "streamed": False,
                "outcome": None,
                "usage_estimated": False,
                "call_id": None,
                "tags": tags,
                "created_at": created,
                "created_on": day,
            }
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(6, 30)))
            if rng.random() < 0.0005:
                words += f" {RARE_WORD}"
            if position % 2:
                row.update(role="user", parts=[{"type": "text", "text": words}])
            else:
                n_in, n_out = rng.randrange(50, 4000), rng.randrange(20, 1200)
                cost = quantize_money((n_in * price_in + n_out * price_out) / Decimal(1_000_000))
                latency = round(rng.lognormvariate(6.5, 0.5), 1)
                parts: list[dict[str, Any]] = [{"type": "text", "text": words}]
                if position == 4 and rng.random() < 0.1:
                    parts.append(
                        {
                            "type": "tool_call",
                            "id": f"call{index}",
                            "name": "lookup_order",
                            "arguments": {"order": index},
                        }
                    )
                row.update(
                    role="assistant",
                    parts=parts,
                    provider=provider,
                    model=model,
                    billable=True,
                    finish_reason="stop",
                    input_tokens=n_in,
                    output_tokens=n_out,
                    cost=cost,
                    cost_known=True,
                    currency="USD",
                    latency_ms=latency,
                    outcome="answered",
                    call_id=f"{index:024x}{position:08x}",
                )
                total += cost
                tokens_in += n_in
                tokens_out += n_out
                group = (day, user, tenant, key, provider, model, "USD")
                entry = tracking.get(group)
                if entry is None:
                    entry = tracking[group] = {
                        "day": day,
                        "user_key": user,
                        "tenant_key": tenant,
                        "tags_key": key,
                        "provider": provider,
                        "model": model,
                        "currency": "USD",
                        "requests": 0,
                        "unknown_cost_requests": 0,
                        "input_tokens": 0,
                        "output_tokens": 0,
                        "cost": Decimal(0),
                        "updated_at": created,
                    }
                entry["requests"] += 1
                entry["input_tokens"] += n_in
                entry["output_tokens"] += n_out
                entry["cost"] += cost
                latencies[(day, provider, model)].append(latency)
                if rng.random() < 0.02:
                    error, status = ERRORS[rng.randrange(len(ERRORS))]
                    buffers["f"].append(
                        {
                            "conversation_id": conversation_id,
                            "turn_id": None,
                            "provider": provider,
                            "model": model,
                            "error_type": error,
                            "message": f"{error}: the provider said no",
                            "status_code": status,
                            "user_id": user,
                            "tenant": tenant,
                            "created_at": created,
                            "created_on": day,
                        }
                    )
                    failures_by[(day, provider, model)] += 1
            buffers["m"].append(row)
        buffers["c"].append(
            {
                "id": conversation_id,
                "user_id": user,
                "tenant": tenant,
                "tags": tags,
                "title": f"About {words[:40]}",
                "metadata": {},
                "status": "active",
                "provider": provider,
                "model": model,
                "message_count": per_conversation,
                "total_cost": total,
                "unknown_cost_count": 0,
                "total_input_tokens": tokens_in,
                "total_output_tokens": tokens_out,
                "created_at": moment,
                "updated_at": moment + timedelta(seconds=per_conversation * 3),
            }
        )
        buffers["tags"].extend({"conversation_id": conversation_id, "tag": tag} for tag in tags)
        if index % 997 == 0:
            sample_ids.append(conversation_id)
        flush()
    flush(force=True)
    now = datetime.now(UTC)
    performance = []
    for key3 in sorted(set(latencies) | set(failures_by)):
        values = sorted(latencies.get(key3, []))
        ok, failed = len(values), failures_by.get(key3, 0)
        performance.append(
            {
                "day": key3[0],
                "provider": key3[1],
                "model": key3[2],
                "requests": ok + failed,
                "successes": ok,
                "failures": failed,
                "success_rate": ok / (ok + failed),
                "error_rate": failed / (ok + failed),
                "avg_latency_ms": statistics.fmean(values) if values else None,
                "p50_latency_ms": _percentile(values, 0.5),
                "p95_latency_ms": _percentile(values, 0.95),
                "max_latency_ms": values[-1] if values else None,
                "built_at": now,
            }
        )
    counters = []
    for period in ("daily", "monthly"):
        first, _ = period_bounds(period, now)
        for number in range(20):
            counters.append(
                {
                    "budget_key": f"tenant:*/{period}|tenant=tenant{number:02d}|{period}|USD",
                    "period_start": first,
                    "currency": "USD",
                    "spent": Decimal(rng.randrange(1, 5000)) / 100,
                    "reserved": Decimal("0.25"),
                    "updated_at": now,
                }
            )
    with database.write() as conn:
        rows = list(tracking.values())
        for chunk in range(0, len(rows), 20_000):
            conn.execute(tables["t"].insert(), rows[chunk : chunk + 20_000])
        conn.execute(tables["p"].insert(), performance)
        conn.execute(tables["b"].insert(), counters)
    if database.dialect == "sqlite":
        with database.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    else:
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    database.close()
    return {
        "conversations": conversations,
        "messages": conversations * per_conversation,
        "tracking_rows": len(rows),
        "sample_ids": sample_ids,
        "seconds": time.perf_counter() - started,
    }


def _serve(app: Any) -> tuple[str, Any]:
    import socket

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", (server, thread)


def _timed(url: str, headers: dict[str, str]) -> tuple[float, float]:
    """The page's server time and the CPU time of its request thread, both from Server-Timing (ms)."""
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=120) as response:
        response.read()
        timings = ", ".join(response.headers.get_all("server-timing") or [])
    found = dict(part.strip().split(";dur=") for part in timings.split(","))
    return float(found["app"]), float(found.get("cpu", "nan"))


def measure(url: str, *, rounds: int, sample_id: str) -> list[tuple[str, float, float, float]]:
    from ai_core.budgets.model import Budget
    from ai_core.dashboard.access import tenant_token
    from ai_core.dashboard.app import create_app
    from ai_core.storage.database import Database

    database = Database.open(url, migrate=True)
    secret = "bench-secret-token"
    budgets = [Budget(limit=Decimal(100), scope="tenant", period="monthly", name="tenant:*/monthly")]
    base, (server, thread) = _serve(create_app(database, token=secret, budgets=budgets))
    admin = {"Authorization": f"Bearer {secret}"}
    scoped = {"Authorization": f"Bearer {tenant_token(secret, 'tenant07')}"}
    long_ago = (datetime.now(UTC).date() - timedelta(days=DAYS)).isoformat()
    year_ago = (datetime.now(UTC).date() - timedelta(days=365)).isoformat()
    mid_range = f"since={(datetime.now(UTC).date() - timedelta(days=100)).isoformat()}"
    mid_range += f"&until={(datetime.now(UTC).date() - timedelta(days=20)).isoformat()}"
    pages = [
        ("spend, 30 days by provider", "/spend", admin),
        ("spend, 180 days by provider per day", f"/spend?since={long_ago}&by=provider", admin),
        ("spend, 180 days by model per week", f"/spend?since={long_ago}&by=model&grain=week", admin),
        ("spend, 180 days by user", f"/spend?since={long_ago}&by=user", admin),
        ("spend, 180 days by user per month", f"/spend?since={long_ago}&by=user&grain=month", admin),
        ("spend, 180 days by tenant per week", f"/spend?since={long_ago}&by=tenant&grain=week", admin),
        ("spend, 180 days by tag per month", f"/spend?since={long_ago}&by=tag&grain=month", admin),
        ("spend, 365 days by model per month", f"/spend?since={year_ago}&by=model&grain=month", admin),
        ("spend, days 100 to 20 ago by user", f"/spend?{mid_range}&by=user", admin),
        ("spend, 180 days, one tenant's token", f"/spend?since={long_ago}&by=user", scoped),
        ("spend, 180 days, one tenant's token by tag", f"/spend?since={long_ago}&by=tag", scoped),
        ("spend CSV export, 180 days by user", f"/spend?since={long_ago}&by=user&format=csv", admin),
        ("spend, 180 days by model, one provider", f"/spend?since={long_ago}&by=model&provider=openai", admin),
        ("spend, 180 days by user, one model (tracking rows)", f"/spend?since={long_ago}&by=user&model=grok-3", admin),
        ("spend, 180 days by provider, one user (tracking rows)", f"/spend?since={long_ago}&user=user007", admin),
        ("spend, 180 days by user, one tag (tracking rows)", f"/spend?since={long_ago}&by=user&tag=sales", admin),
        ("budgets", "/budgets", admin),
        ("conversations, 30 days", "/conversations", admin),
        ("conversations, page 20", "/conversations?page=20", admin),
        ("conversations by tag and model", "/conversations?tag=sales&model=openai/gpt-4o", admin),
        ("conversations, one tenant's token", "/conversations", scoped),
        (f"conversations, search '{RARE_WORD}'", f"/conversations?q={RARE_WORD}", admin),
        ("conversations, search 'refund'", "/conversations?q=refund", admin),
        ("one conversation", f"/conversations/{sample_id}", admin),
        ("models, 30 days", "/models", admin),
        ("models, 180 days", f"/models?since={long_ago}", admin),
        ("failures, 30 days", "/failures", admin),
        ("failures, 180 days per week", f"/failures?since={long_ago}&grain=week", admin),
        ("status", "/status", admin),
    ]
    results = []
    try:
        if _clear_rollup(database):
            # The first long page after an upgrade rolls up every closed day and month of its range.
            first = _timed(base + f"/spend?since={long_ago}&by=provider", admin)
            results.append(("first page: rolls up 180 days, 6 months", first[0], first[0], first[1]))
        for label, path, headers in pages:
            _timed(base + path, headers)
            times = [_timed(base + path, headers) for _ in range(rounds)]
            wall = [w for w, _ in times]
            cpu = [c for _, c in times]
            results.append((label, statistics.median(wall), max(wall), statistics.median(cpu)))
    finally:
        server.should_exit = True
        thread.join(10)
    _check_total(database, long_ago)
    database.close()
    return results


def _clear_rollup(database: Any) -> bool:
    """Empty the spend rollup (False: this ai-core has none, as before migration 0009)."""
    from sqlalchemy import delete

    try:
        from ai_core.dashboard.rollup_tables import SpendRollup, SpendRollupStamp
    except ImportError:
        return False
    with database.write() as conn:
        conn.execute(delete(SpendRollup))
        conn.execute(delete(SpendRollupStamp))
    return True


def _has_ledger(url: str) -> bool:
    from sqlalchemy import func, select

    from ai_core.storage.conversation_tables import StoredMessage
    from ai_core.storage.database import Database

    with Database.open(url, migrate=True) as database, database.read() as conn:
        return bool(conn.execute(select(func.count()).select_from(StoredMessage)).scalar())


def _check_total(database: Any, since: str) -> None:
    from ai_core.dashboard.queries import Filters, spend_report
    from ai_core.storage.analytics import usage_report

    started = time.perf_counter()
    ledger = usage_report(database, by="provider", since=date.fromisoformat(since))
    seconds = time.perf_counter() - started
    shown = spend_report(database, Filters(since=date.fromisoformat(since)), by="provider")
    expected = sum((r["cost"] for r in ledger), Decimal(0))
    same = shown["total"]["cost"] == expected and shown["total"]["requests"] == sum(r["requests"] for r in ledger)
    print(
        f"  all-time total: dashboard {shown['total']['cost']} vs ledger (ai usage) {expected}: "
        f"{'equal' if same else 'DIFFERENT'} (the ledger scan took {seconds * 1000:.0f} ms)"
    )
    if not same:
        raise SystemExit("the dashboard's total differs from the ledger's")


def _report(backend: str, results: list[tuple[str, float, float, float]]) -> None:
    print(f"\n{backend}: server time per page, ms (median and worst wall time of the rounds; median CPU time")
    print("of the request's thread, which includes SQLite's work but not PostgreSQL's)")
    for label, median, worst, cpu in results:
        flag = "" if worst < 300 else "  <- over 300 ms"
        print(f"  {label:<54} {median:8.1f} {worst:8.1f} {cpu:8.1f}{flag}")
    print(f"  load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "all"], default="all")
    parser.add_argument("--sqlite-file", type=Path, default=Path("/tmp/ai-dashboard-bench/ledger.db"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--postgres-url", help="an existing database: its ledger is reused (generated first if it has none)"
    )
    args = parser.parse_args()
    if args.backend in ("sqlite", "all"):
        path: Path = args.sqlite_file
        url = f"sqlite:///{path}"
        if not path.exists() or path.stat().st_size < 1024 * 1024:
            path.parent.mkdir(parents=True, exist_ok=True)
            print(f"sqlite: generating {args.messages:,} messages into {path} ...", flush=True)
            info = generate(url, args.messages)
            print(f"  done in {info['seconds']:.0f} s: {info}"[:300], flush=True)
        _report("sqlite", measure(url, rounds=args.rounds, sample_id=f"{(args.messages // 20):032x}"))
    if args.backend in ("postgresql", "all"):
        from support.postgres import start_postgres

        external = args.postgres_url or os.environ.get("AI_TEST_POSTGRES_URL")
        server, stop = (None, None) if external else start_postgres()
        try:
            if external:
                url = external
            else:
                assert server is not None
                url = server.url(server.create_database())
            if not (args.postgres_url and _has_ledger(url)):
                print(f"postgresql: generating {args.messages:,} messages ...", flush=True)
                info = generate(url, args.messages)
                print(f"  done in {info['seconds']:.0f} s", flush=True)
            _report("postgresql", measure(url, rounds=args.rounds, sample_id=f"{(args.messages // 20):032x}"))
        finally:
            if stop is not None:
                stop()  # type: ignore[operator]


if __name__ == "__main__":
    main()
