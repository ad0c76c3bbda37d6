"""Each page as data: its tables (shown and exported alike), charts and notes.

Nothing here knows about HTTP; :mod:`ai_core.dashboard.app` turns a page into
HTML or an export. Every function takes the viewer's already-scoped filters.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ai_core.dashboard import charts
from ai_core.dashboard.budgets import budgets_report
from ai_core.dashboard.conversations import conversation_detail, list_conversations
from ai_core.dashboard.queries import Filters, failures_report, latency_refreshed_at, models_report, spend_report
from ai_core.dashboard.tables import Column, TableView
from ai_core.redaction import redact

if TYPE_CHECKING:
    from ai_core.budgets.model import Budget
    from ai_core.storage.database import Database

__all__ = [
    "STATUS_MODULES",
    "Page",
    "budgets_page",
    "conversation_page",
    "conversations_page",
    "failures_page",
    "models_page",
    "spend_page",
    "status_page",
]

STATUS_MODULES = ("ai_core.scale", "ai_core.queue")
"""Modules the status page names, installed or not. When ``ai_core.scale`` is
installed the page shows what ``ai status`` shows: the sections of
``ai_core.scale.status.collect_status`` (providers, breakers, limits, caches,
the queue slot that ``ai_core.queue`` fills, the database)."""


@dataclass
class Page:
    name: str
    title: str
    tables: list[TableView] = field(default_factory=list)
    charts: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)

    def table(self, name: str | None) -> TableView | None:
        if name is None:
            return self.tables[0] if self.tables else None
        return next((t for t in self.tables if t.name == name), None)


_USAGE_COLUMNS = [
    Column("requests", "requests", "int"),
    Column("input_tokens", "input tokens", "int"),
    Column("output_tokens", "output tokens", "int"),
    Column("cost", "cost", "money"),
    Column("currency", "currency"),
    Column("unknown_cost_requests", "unpriced", "int"),
]


_FAILED_ATTEMPT_COLUMNS = [
    Column("created_at", "time", "time"),
    Column("provider", "provider"),
    Column("model", "model"),
    Column("error_type", "error type"),
    Column("status_code", "status", "int"),
    Column("message", "message"),
]
"""A failed provider attempt, on a conversation's page and on the failures page alike."""


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _money(value: Any) -> str:
    return charts.money_value(value)


def spend_page(database: Database, filters: Filters, *, by: str, grain: str) -> Page:
    report = spend_report(database, filters, by=by, grain=grain)
    page = Page("spend", "Spend")
    keys = report["keys"]
    page.charts.append(
        {
            "title": f"Cost per {grain} by {by}",
            "svg": charts.stacked_bars(
                report["series"],
                keys,
                label=lambda k: "(none)" if k is None else str(k),
                value_text=_money,
                title=f"Cost per {grain} by {by}",
            ),
            "legend": [("(none)" if k is None else str(k), charts.color_of(i)) for i, k in enumerate(keys)],
        }
    )
    page.tables.append(
        TableView(
            "by_key",
            f"Spend by {by}",
            [Column(by, by), *_USAGE_COLUMNS],
            report["rows"],
            total={**report["total"], by: "total"},
        )
    )
    page.tables.append(
        TableView(
            "over_time",
            f"Cost per {grain}",
            [Column("start", grain, "date"), Column("total", "cost", "money")],
            [{"start": s["start"], "total": s["total"]} for s in report["series"]],
            total={"start": "total", "total": sum((s["total"] for s in report["series"]), start=Decimal(0))},
        )
    )
    if len(report["currencies"]) > 1:
        page.notes.append(
            f"Several currencies ({', '.join(report['currencies'])}): rows are per currency; the total, "
            "like `ai usage`'s, adds their amounts."
        )
    if report["total"]["unknown_cost_requests"]:
        page.notes.append(
            f"{report['total']['unknown_cost_requests']} call(s) had no known price: their cost is unknown, not zero."
        )
    if by == "tag":
        page.notes.append("By tag, a call with several tags counts under each, so the total counts it more than once.")
    page.context["report"] = report
    return page


def budgets_page(database: Database, budgets: Sequence[Budget], *, tenant: str | None) -> Page:
    rows = budgets_report(database, budgets, tenant=tenant)
    page = Page("budgets", "Budgets")
    page.tables.append(
        TableView(
            "budgets",
            "Budgets, current periods",
            [
                Column("budget", "budget"),
                Column("scope", "scope"),
                Column("target", "for"),
                Column("period", "period"),
                Column("period_start", "from", "date"),
                Column("period_end", "to", "date"),
                Column("limit", "limit", "money"),
                Column("spent", "spent", "money"),
                Column("held", "held", "money"),
                Column("remaining", "left", "money"),
                Column("used", "used", "percent"),
                Column("thresholds_crossed", "thresholds crossed"),
                Column("forecast", "forecast at period end", "money"),
                Column("currency", "currency"),
            ],
            rows,
            note="Held: reserved by calls in flight. Forecast: the spend so far carried linearly to the period's end.",
        )
    )
    if not budgets:
        page.notes.append("No budgets are configured (`budgets` in the config file, or AI_BUDGETS).")
    page.context["rows"] = rows
    return page


def conversations_page(database: Database, filters: Filters, *, search: str | None, page_number: int) -> Page:
    listing = list_conversations(database, filters, search=search, page=page_number)
    page = Page("conversations", "Conversations")
    page.tables.append(
        TableView(
            "conversations",
            "Conversations",
            [
                Column("id", "id", "link"),
                Column("updated_at", "updated", "time"),
                Column("title", "title"),
                Column("user_id", "user"),
                Column("tenant", "tenant"),
                Column("tags", "tags"),
                Column("provider", "provider"),
                Column("model", "model"),
                Column("message_count", "messages", "int"),
                Column("total_input_tokens", "input tokens", "int"),
                Column("total_output_tokens", "output tokens", "int"),
                Column("total_cost", "cost", "money"),
                Column("unknown_cost_count", "unpriced", "int"),
            ],
            listing["rows"],
        )
    )
    if listing["searched"] is not None:
        page.notes.append(
            f"Search reads the most recently updated conversations matching the filters, at most "
            f"{listing['search_window']}; this page read {listing['searched']}. Narrow the dates to search "
            "older ones."
        )
    page.context["listing"] = listing
    return page


def conversation_page(database: Database, conversation_id: str, *, tenant: str | None) -> Page | None:
    detail = conversation_detail(database, conversation_id, tenant=tenant)
    if detail is None:
        return None
    page = Page("conversation", f"Conversation {conversation_id}")
    rows = []
    for message in detail["messages"]:
        text = "\n".join(
            (f"[{p['kind']} {p.get('name', '')}] " if p["kind"] in ("tool_call", "tool_result") else "") + p["text"]
            for p in message["parts"]
        )
        rows.append({**message, "text": text})
    page.tables.append(
        TableView(
            "messages",
            "Messages",
            [
                Column("position", "#", "int"),
                Column("created_at", "time", "time"),
                Column("role", "role"),
                Column("provider", "provider"),
                Column("model", "model"),
                Column("outcome", "outcome"),
                Column("input_tokens", "input tokens", "int"),
                Column("output_tokens", "output tokens", "int"),
                Column("cached_input_tokens", "cached", "int"),
                Column("reasoning_tokens", "reasoning", "int"),
                Column("cost", "cost", "money"),
                Column("currency", "currency"),
                Column("latency_ms", "latency ms", "ms"),
                Column("finish_reason", "finish"),
                Column("text", "content"),
            ],
            rows,
        )
    )
    page.tables.append(TableView("failures", "Failed attempts", _FAILED_ATTEMPT_COLUMNS, detail["failures"]))
    page.context["detail"] = detail
    return page


def models_page(database: Database, filters: Filters) -> Page:
    rows = models_report(database, filters)
    page = Page("models", "Models")
    page.tables.append(
        TableView(
            "models",
            "Models",
            [
                Column("model", "model"),
                Column("calls", "calls", "int"),
                Column("failures", "failed attempts", "int"),
                Column("error_rate", "error rate %", "percent"),
                Column("p50_latency_ms", "p50 ms", "ms"),
                Column("p95_latency_ms", "p95 ms", "ms"),
                Column("max_latency_ms", "max ms", "ms"),
                Column("cost", "cost", "money"),
                Column("cost_per_1k_calls", "cost per 1k calls", "money"),
                Column("currency", "currency"),
            ],
            rows,
        )
    )
    refreshed = latency_refreshed_at(database, filters)
    page.notes.append(
        "Calls, cost and cost per 1k calls are exact, from the ledger. Latency of past days comes from the daily "
        "model performance table (`ai usage rebuild`, the generate-analytics job and the analytics listener "
        f"refresh it; last refreshed {_when(refreshed) if refreshed else 'never'}), today's is computed from "
        "the ledger now: over several days, p50/p95 are the daily values weighted by calls."
    )
    if filters.tenant is not None or filters.user is not None or filters.tag:
        page.notes.append("Latency is kept per model and day, not per tenant, user or tag: not shown for this filter.")
    return page


def failures_page(database: Database, filters: Filters, *, grain: str) -> Page:
    report = failures_report(database, filters, grain=grain)
    page = Page("failures", "Failures")
    page.charts.append(
        {
            "title": f"Failed attempts per {grain} by error type",
            "svg": charts.stacked_bars(report["series"], report["keys"], title=f"Failed attempts per {grain}"),
            "legend": [(str(k), charts.color_of(i)) for i, k in enumerate(report["keys"])],
        }
    )
    page.tables.append(
        TableView(
            "by_type",
            "By provider and error type",
            [
                Column("provider", "provider"),
                Column("error_type", "error type"),
                Column("failures", "failures", "int"),
                Column("last_day", "last seen", "date"),
            ],
            report["rows"],
            total={"provider": "total", "failures": report["total"]},
        )
    )
    recent = [{**r, "message": redact(r["message"] or "")} for r in report["recent"]]
    page.tables.append(
        TableView(
            "recent",
            "Latest failed attempts",
            [*_FAILED_ATTEMPT_COLUMNS, Column("conversation_id", "conversation", "link")],
            recent,
        )
    )
    return page


def status_page(found: dict[str, Any] | None, *, database_text: str) -> Page:
    """The sections of ``ai status`` (``found``: what ``collect_status`` returned, or
    None when ``ai_core.scale`` is not installed), each as tables; says plainly what is missing."""
    page = Page("status", "Status")
    page.context["database"] = database_text
    modules = []
    for name in STATUS_MODULES:
        present = importlib.util.find_spec(name) is not None
        modules.append({"module": name, "present": present})
    page.context["modules"] = modules
    sections = []
    if found is None:
        page.notes.append("ai_core.scale is not part of this installation: no breakers, limits or queue to show.")
    for name, section in (found or {}).items():
        entry: dict[str, Any] = {"name": name, "tables": [], "error": None}
        if isinstance(section, dict) and "error" in section:
            entry["error"] = redact(str(section["error"]))
        else:
            for table in _status_tables(name, section):
                entry["tables"].append(table)
                page.tables.append(table)
        sections.append(entry)
    page.context["sections"] = sections
    return page


def _status_tables(name: str, section: Any) -> list[TableView]:
    """A status section as tables: its plain values as one, each list or mapping of records as another."""
    if not isinstance(section, dict):
        return [TableView(name, name, [Column("value", "value")], [{"value": redact(str(section))}])]
    tables = []
    plain = [
        {"setting": key, "value": redact(str(value))}
        for key, value in section.items()
        if not isinstance(value, (list, dict))
    ]
    if plain:
        tables.append(TableView(name, name, [Column("setting", "setting"), Column("value", "value")], plain))
    for key, value in section.items():
        records: list[dict[str, Any]] = []
        if isinstance(value, list):
            records = [v if isinstance(v, dict) else {"value": v} for v in value]
        elif isinstance(value, dict):
            records = [{"name": k, **(v if isinstance(v, dict) else {"value": v})} for k, v in value.items()]
        else:
            continue
        keys = list(dict.fromkeys(k for record in records for k in record))
        rows = [{k: redact(str(record.get(k, ""))) for k in keys} for record in records]
        tables.append(TableView(f"{name}_{key}", f"{name}: {key}", [Column(k, k) for k in keys], rows))
    return tables
