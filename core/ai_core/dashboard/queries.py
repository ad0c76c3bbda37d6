"""Every number the spend, models and failures pages show, as plain data.

Spend comes from ``ai_cost_tracking``, which the conversation store keeps in
step with the ledger in the ledger's own transaction (one row per day, user,
tenant, tag set, provider, model and currency): so a total here equals what
``ai usage --json`` sums from ``ai_messages`` for the same filter, while a page
reads thousands of rows instead of a million. Latency percentiles come from
``ai_model_performance`` (rebuilt by ``ai usage rebuild`` and the
generate-analytics job), failures from ``ai_failed_attempts``.

Every function takes a :class:`Filters`, whose ``tenant`` a tenant-scoped
viewer cannot change (see :mod:`ai_core.dashboard.access`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Select, case, func, literal_column, null, select
from sqlalchemy.sql import ColumnElement

from ai_core.dashboard import rollup
from ai_core.dashboard.rollup_tables import SpendRollup
from ai_core.dashboard.sums import summed_rows
from ai_core.storage.analytics import _percentile
from ai_core.storage.analytics_tables import CostTracking, ModelPerformance
from ai_core.storage.base import table_of
from ai_core.storage.columns import as_utc
from ai_core.storage.conversation_tables import FailedAttempt, StoredMessage

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from ai_core.storage.database import Database

__all__ = [
    "GRAINS",
    "SPEND_GROUPINGS",
    "FilterColumns",
    "Filters",
    "bucket_start",
    "failures_report",
    "latency_refreshed_at",
    "models_report",
    "spend_report",
]

Grain = Literal["day", "week", "month"]
GRAINS: tuple[str, ...] = ("day", "week", "month")
SPEND_GROUPINGS: tuple[str, ...] = ("provider", "model", "user", "tenant", "tag")
TOP_SERIES = 8
"""Series drawn in a chart; the rest are drawn together as "other" (the tables list all)."""

_t = table_of(CostTracking)
_p = table_of(ModelPerformance)
_f = table_of(FailedAttempt)
_r = table_of(SpendRollup)
_m = table_of(StoredMessage)


@dataclass(frozen=True)
class Filters:
    """What a page is narrowed to. ``since``/``until`` are UTC days, both included."""

    since: date | None = None
    until: date | None = None
    provider: str | None = None
    model: str | None = None
    user: str | None = None
    tenant: str | None = None
    tag: str | None = None

    def scoped(self, tenant: str | None) -> Filters:
        """These filters as a viewer limited to ``tenant`` may use them (None: unlimited)."""
        return self if tenant is None else replace(self, tenant=tenant)


def like_escape(text: str) -> str:
    """``text`` as a LIKE pattern's literal part (``\\`` is the escape character)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _model_filter(provider_column: Any, model_column: Any, value: str) -> ColumnElement[bool]:
    """``provider/model`` (as ``ai usage --by model`` prints it) or a bare model name; on two
    columns a condition, on two strings whether they match."""
    provider, slash, model = value.partition("/")
    if slash and provider and model:
        return (provider_column == provider) & (model_column == model)  # type: ignore[no-any-return]
    return model_column == value  # type: ignore[no-any-return]


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


@dataclass(frozen=True)
class FilterColumns:
    """The columns of one table that :class:`Filters` narrow; a filter without its column here
    is not applied (that table does not keep it)."""

    provider: Any
    model: Any
    day: Any = None
    """A date column: ``since`` and ``until`` include their whole days."""
    moment: Any = None
    """Or a UTC timestamp column, narrowed to the same days."""
    user: Any = None
    tenant: Any = None
    tags_key: Any = None
    """A tag set as ``,a,b,`` (see ``ai_cost_tracking``)."""
    tag: Callable[[str], ColumnElement[bool]] | None = None
    """Or a condition for one tag."""

    def narrow(self, query: Select[Any], filters: Filters) -> Select[Any]:
        conditions: list[ColumnElement[bool]] = []
        if filters.since is not None:
            conditions.append(
                self.day >= filters.since if self.day is not None else self.moment >= _day_start(filters.since)
            )
        if filters.until is not None:
            if self.day is not None:
                conditions.append(self.day <= filters.until)
            else:
                conditions.append(self.moment < _day_start(filters.until + timedelta(days=1)))
        if filters.provider:
            conditions.append(self.provider == filters.provider)
        if filters.model:
            conditions.append(_model_filter(self.provider, self.model, filters.model))
        if filters.user is not None and self.user is not None:
            conditions.append(self.user == filters.user)
        if filters.tenant is not None and self.tenant is not None:
            conditions.append(self.tenant == filters.tenant)
        if filters.tag and self.tags_key is not None:
            conditions.append(self.tags_key.like(f"%,{like_escape(filters.tag)},%", escape="\\"))
        elif filters.tag and self.tag is not None:
            conditions.append(self.tag(filters.tag))
        return query.where(*conditions)


_TRACKING = FilterColumns(
    _t.c.provider, _t.c.model, day=_t.c.day, user=_t.c.user_key, tenant=_t.c.tenant_key, tags_key=_t.c.tags_key
)
_PERFORMANCE = FilterColumns(_p.c.provider, _p.c.model, day=_p.c.day)
_LEDGER = FilterColumns(_m.c.provider, _m.c.model)
_FAILURES = FilterColumns(_f.c.provider, _f.c.model, day=_f.c.created_on, user=_f.c.user_id, tenant=_f.c.tenant)


def _tracking_where(query: Select[Any], filters: Filters) -> Select[Any]:
    return _TRACKING.narrow(query, filters)


def bucket_start(day: date, grain: str) -> date:
    """The first day of the day, ISO week (from Monday) or month ``day`` falls in."""
    if grain == "week":
        return day - timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    return day


def _split(by: str, key: str | None) -> list[str | None]:
    """The keys one grouped value counts under: a tag set counts under each of its tags."""
    if by == "tag":
        return [tag for tag in (key or "").strip(",").split(",") if tag]
    if by in ("user", "tenant"):
        return [key or None]  # cost tracking stores "no user" as ""
    return [key]


def _key_expression(by: str) -> ColumnElement[Any]:
    return {
        "provider": _t.c.provider,
        "model": _t.c.provider + literal_column("'/'") + _t.c.model,
        "user": _t.c.user_key,
        "tenant": _t.c.tenant_key,
        "tag": _t.c.tags_key,
    }[by]


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _blank() -> dict[str, Any]:
    return {"requests": 0, "input_tokens": 0, "output_tokens": 0, "unknown_cost_requests": 0, "cost": Decimal(0)}


class _Other:
    """The chart's "other": every key outside the top ones."""


OTHER = _Other()
Timed = list[tuple[date, str | _Other | None, Decimal]]


def spend_report(database: Database, filters: Filters, *, by: str = "provider", grain: str = "day") -> dict[str, Any]:
    """Spend by ``by`` over time (``grain``): ``rows`` (one per key and currency, the
    shape of ``ai usage --json``), ``total`` and ``series`` for the chart.

    Read from the rollup of closed days and months (:mod:`ai_core.dashboard.rollup`)
    plus today's tracking rows, unless a filter the rollup does not keep (a user, a
    tag, or a model for a grouping other than provider or model) asks for the
    tracking rows themselves. Either way the figures are the same exact sums.

    By tag, a call counts once under each tag it had when it was made, and calls
    without a tag are left out, as ``ai usage --by tag`` does.
    """
    if by not in SPEND_GROUPINGS:
        raise ValueError(f"cannot group spend by {by!r}")
    if grain not in GRAINS:
        raise ValueError(f"no such period {grain!r}")
    if _rollup_serves(filters, by):
        rows, top, timed = _spend_from_rollup(database, filters, by)
    else:
        rows, top, timed = _spend_from_tracking(database, filters, by)
    per_bucket: dict[date, dict[str | None, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    other: dict[date, Decimal] = defaultdict(Decimal)
    for day, name, cost in timed:
        start = bucket_start(day, grain)
        if not isinstance(name, _Other) and name in top:
            per_bucket[start][name] += cost
        else:
            other[start] += cost
    # The sum of the rows, as `ai usage --json` totals them (by tag, a call with two tags counts twice).
    total = {name: sum((r[name] for r in rows), start=value) for name, value in _blank().items()}
    series = []
    for start in sorted(set(per_bucket) | set(other)):
        values = {k: per_bucket[start].get(k, Decimal(0)) for k in top}
        rest = other.get(start, Decimal(0))
        series.append({"start": start, "values": values, "other": rest, "total": sum(values.values(), rest)})
    return {
        "by": by,
        "grain": grain,
        "rows": rows,
        "total": total,
        "series": series,
        "keys": top,
        "currencies": sorted({r["currency"] for r in rows}),
    }


def _ordered(by: str, per_key: dict[tuple[str | None, str], dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Any]]:
    """The rows largest cost first, and the keys the chart draws."""
    rows = sorted(per_key.values(), key=lambda r: (-r["cost"], str(r[by])))
    return rows, list(dict.fromkeys(r[by] for r in rows))[:TOP_SERIES]


def _add(per_key: dict[tuple[str | None, str], dict[str, Any]], by: str, name: str | None, currency: str,
         counts: Sequence[int], cost: Decimal) -> None:  # fmt: skip
    entry = per_key.setdefault((name, currency), {by: name, "currency": currency, **_blank()})
    for column, value in zip(_COUNTS, counts, strict=True):
        entry[column] += value
    entry["cost"] += cost


_COUNTS = ("requests", "input_tokens", "output_tokens", "unknown_cost_requests")


def _spend_from_tracking(
    database: Database, filters: Filters, by: str
) -> tuple[list[dict[str, Any]], list[Any], Timed]:
    """Spend summed from the tracking rows of the range (any filter)."""
    # Grouped by the output names: PostgreSQL would not see two copies of an expression
    # with bound parameters as the same expression.
    key = _key_expression(by).label("dash_key")
    # Grouped by day in the database (a column: nothing computed per row); days become
    # weeks or months later, on a few hundred rows.
    bucket = _t.c.day
    # Users and tenants can be many: totals per key first, then the chart for the top
    # ones. Providers, models and tag sets are few: one query per period and key does both.
    many = by in ("user", "tenant")
    counts = [func.sum(_t.c[name]).label(name) for name in _COUNTS]

    def totals(money: Sequence[Any]) -> Select[Any]:
        columns: list[Any] = [key, _t.c.currency, *counts, *money]
        grouping: list[Any] = [literal_column("dash_key"), _t.c.currency]
        if not many:
            columns.insert(0, bucket.label("dash_bucket"))
            grouping.insert(0, literal_column("dash_bucket"))
        return _tracking_where(select(*columns).group_by(*grouping), filters)

    per_key: dict[tuple[str | None, str], dict[str, Any]] = {}
    with database.read() as conn:
        grouped = summed_rows(conn, database.dialect, _t.c.cost, totals)
        for row, cost in grouped:
            for name in _split(by, row.dash_key):
                _add(per_key, by, name, row.currency or "USD", [int(getattr(row, c) or 0) for c in _COUNTS], cost)
        rows, top = _ordered(by, per_key)
        if not many:
            timed = grouped
        elif grouped:
            stored = ["" if k is None else k for k in top]
            chart_key = case((_key_expression(by).in_(stored), _key_expression(by)), else_=null())

            def over_time(money: Sequence[Any]) -> Select[Any]:
                query = select(bucket.label("dash_bucket"), chart_key.label("dash_key"), *money).group_by(
                    literal_column("dash_bucket"), literal_column("dash_key")
                )
                return _tracking_where(query, filters)

            timed = summed_rows(conn, database.dialect, _t.c.cost, over_time)
        else:
            timed = []
    chart: Timed = []
    for row, cost in timed:
        day = _as_date(row.dash_bucket)
        if row.dash_key is None:  # stored keys are never NULL: this is the chart's "other"
            chart.append((day, OTHER, cost))
        else:
            chart += [(day, name, cost) for name in _split(by, row.dash_key)]
    return rows, top, chart


ROLLUP_AFTER_DAYS = 31
"""Ranges longer than this read the rollup; up to a month (the default 30 days), summing
the tracking rows themselves costs no more than preparing the rollup."""


def _rollup_serves(filters: Filters, by: str) -> bool:
    """Whether the rollup keeps what ``filters`` narrow to, grouped ``by``, over a range long
    enough for it to pay."""
    if filters.user is not None or filters.tag:
        return False
    if filters.since is not None and (filters.until or rollup.today_utc()) - filters.since < timedelta(
        days=ROLLUP_AFTER_DAYS
    ):
        return False
    return by in ("provider", "model") or not (filters.provider or filters.model)


def _model_key_matches(key: str, filters: Filters) -> bool:
    """A rollup model key (``provider/model``) against the provider and model filters, as the
    SQL of :class:`FilterColumns` would match the two columns (the same comparisons, on text)."""
    provider, _, model = key.partition("/")
    if filters.provider and provider != filters.provider:
        return False
    return not filters.model or bool(_model_filter(provider, model, filters.model))


def _rollup_name(by: str, key: str) -> str | None:
    if by == "provider":
        return key.partition("/")[0]
    if by in ("user", "tenant"):
        return key or None  # stored as "" for none
    return key


def _rollup_reader(
    database: Database, filters: Filters, by: str
) -> tuple[rollup.Periods, str, dict[rollup.GroupKey, list[Any]]]:
    """Roll up what the range needs; the periods to read, the rollup dimension of ``by``
    and the groups of the part read live, in the viewer's scope."""
    periods = rollup.prepare(database, filters.since, filters.until)
    dimension = {"provider": "model", "model": "model", "user": "user", "tag": "tag", "tenant": "all"}[by]
    tenant = filters.tenant
    with database.read() as conn:
        live = rollup.live_groups(conn, database.dialect, periods, tenant, dimension)
    scope_of_tenants = by == "tenant" and tenant is None
    groups = {
        group: sums
        for group, sums in live.items()
        if (group[1] is not None if scope_of_tenants else group[1] == tenant)
    }
    return periods, dimension, groups


def _spend_from_rollup(database: Database, filters: Filters, by: str) -> tuple[list[dict[str, Any]], list[Any], Timed]:
    """Spend from the rollup (closed days and months) and today's tracking rows."""
    periods, dimension, live = _rollup_reader(database, filters, by)
    key_column = _r.c.tenant_key if by == "tenant" else _r.c.key
    if filters.tenant is not None:
        scope = _r.c.tenant_key == filters.tenant
    elif by == "tenant":
        scope = _r.c.tenant_key.is_not(None)
    else:
        scope = _r.c.tenant_key.is_(None)

    def keep(key: str) -> bool:
        return dimension != "model" or _model_key_matches(key, filters)

    def live_key(group: rollup.GroupKey) -> str:
        return (group[1] or "") if by == "tenant" else group[3]

    def totals(part: ColumnElement[bool], money: Sequence[Any]) -> Select[Any]:
        counts = [func.sum(_r.c[name]).label(name) for name in _COUNTS]
        query = select(key_column.label("dash_key"), _r.c.currency, *counts, *money)
        query = query.where(_r.c.dimension == dimension, scope, part)
        return query.group_by(literal_column("dash_key"), _r.c.currency)

    def each_part(per_day: bool, build: Callable[..., Select[Any]]) -> list[tuple[int, Any, Decimal]]:
        return [
            (sign, row, sign * cost)
            for sign, part in rollup.period_parts(periods, per_day=per_day)
            for row, cost in summed_rows(conn, database.dialect, _r.c.cost, partial(build, part))
        ]

    per_key: dict[tuple[str | None, str], dict[str, Any]] = {}
    with database.read() as conn:
        for sign, row, cost in each_part(False, totals):
            if keep(row.dash_key):
                counts = [sign * int(getattr(row, c) or 0) for c in _COUNTS]
                _add(per_key, by, _rollup_name(by, row.dash_key), row.currency or "USD", counts, cost)
        for group, sums in live.items():
            if keep(live_key(group)):
                _add(per_key, by, _rollup_name(by, live_key(group)), group[4], sums[:4], sums[4])
        # A key of a month that only the subtracted days had nets to nothing: not a row.
        rows, top = _ordered(by, {k: v for k, v in per_key.items() if v["requests"]})
        many = by in ("user", "tenant")
        chart: Timed = []

        def per_day(part: ColumnElement[bool], money: Sequence[Any]) -> Select[Any]:
            query = select(_r.c.day, key_column.label("dash_key"), *money)
            query = query.where(_r.c.dimension == dimension, scope, part)
            if many:
                query = query.where(key_column.in_(["" if k is None else k for k in top]))
            return query.group_by(_r.c.day, literal_column("dash_key"))

        if rows:
            for _, row, cost in each_part(True, per_day):
                if keep(row.dash_key):
                    chart.append((_as_date(row.day), _rollup_name(by, row.dash_key), cost))
            for group, sums in live.items():
                name = _rollup_name(by, live_key(group))
                if keep(live_key(group)) and (not many or name in top):
                    chart.append((group[0], name, sums[4]))
        if many and rows:
            # The rest together: every call's total per day less the top keys' (each call has one key).
            whole = _r.c.tenant_key == filters.tenant if filters.tenant is not None else _r.c.tenant_key.is_(None)

            def all_per_day(part: ColumnElement[bool], money: Sequence[Any]) -> Select[Any]:
                query = select(_r.c.day, *money).where(_r.c.dimension == "all", whole, part)
                return query.group_by(_r.c.day)

            drawn: dict[date, Decimal] = defaultdict(Decimal)
            for day, _, cost in chart:
                drawn[day] += cost
            everything: dict[date, Decimal] = defaultdict(Decimal)
            for _, row, cost in each_part(True, all_per_day):
                everything[_as_date(row.day)] += cost
            for group, sums in live.items():
                everything[group[0]] += sums[4]
            chart += [(day, OTHER, cost - drawn[day]) for day, cost in everything.items() if cost != drawn[day]]
    return rows, top, chart


def models_report(database: Database, filters: Filters) -> list[dict[str, Any]]:
    """Per provider and model: calls, error rate, latency p50/p95 and cost per 1,000 calls.

    Cost per 1,000 calls is exact (the ledger's cost over its calls, from cost
    tracking). Latency and error rate come from ``ai_model_performance``, one
    row per day: over several days p50/p95 are the daily values weighted by each
    day's successful calls. A tenant-scoped viewer sees its own calls and
    failures only and no latency, which that table does not keep per tenant.
    """

    report: dict[tuple[str, str], dict[str, Any]] = {}

    def entry(provider: str, model: str) -> dict[str, Any]:
        return report.setdefault(
            (provider, model),
            {
                "model": f"{provider}/{model}",
                "calls": 0,
                "failures": 0,
                "error_rate": None,
                "p50_latency_ms": None,
                "p95_latency_ms": None,
                "max_latency_ms": None,
                "cost": Decimal(0),
                "currency": "USD",
                "cost_per_1k_calls": None,
            },
        )

    def add(provider: str, model: str, currency: str | None, calls: int, cost: Decimal) -> None:
        item = entry(provider, model)
        item["calls"] += calls
        item["cost"] += cost
        item["currency"] = currency or "USD"

    if _rollup_serves(filters, "model"):
        spend = spend_report(database, filters, by="model")
        for row in spend["rows"]:
            provider, _, model = row["model"].partition("/")
            add(provider, model, row["currency"], row["requests"], row["cost"])

    def build(money: Sequence[Any]) -> Select[Any]:
        query = select(_t.c.provider, _t.c.model, _t.c.currency, func.sum(_t.c.requests).label("requests"), *money)
        return _tracking_where(query.group_by(_t.c.provider, _t.c.model, _t.c.currency), filters)

    with database.read() as conn:
        if not _rollup_serves(filters, "model"):
            for row, cost in summed_rows(conn, database.dialect, _t.c.cost, build):
                add(row.provider, row.model, row.currency, int(row.requests or 0), cost)
        if filters.tenant is None and filters.user is None and not filters.tag:
            performance = _performance(conn, filters)
        else:
            performance = {}
        for (provider, model), failures in _failure_counts(conn, filters).items():
            entry(provider, model)["failures"] = failures
    for key, item in report.items():
        if key in performance:
            item.update(performance[key])
        attempts = item["calls"] + item["failures"]
        item["error_rate"] = item["failures"] / attempts if attempts else None
        if item["calls"]:
            item["cost_per_1k_calls"] = item["cost"] * 1000 / item["calls"]
    return sorted(report.values(), key=lambda r: (-r["calls"], r["model"]))


def _performance(conn: Connection, filters: Filters) -> dict[tuple[str, str], dict[str, Any]]:
    """Latency per model: closed days from ``ai_model_performance`` (as fresh as its last
    refresh), today live from the ledger with the same percentiles; days weighted by calls."""
    today = rollup.today_utc()
    # Per model: calls weighing p50, their weighted p50s, the same for p95, the max.
    weights: dict[tuple[str, str], list[Any]] = defaultdict(lambda: [0, 0.0, 0, 0.0, None])
    query = select(
        _p.c.provider,
        _p.c.model,
        func.sum(case((_p.c.p50_latency_ms.is_not(None), _p.c.successes), else_=0)).label("ok50"),
        func.sum(_p.c.p50_latency_ms * _p.c.successes).label("p50"),
        func.sum(case((_p.c.p95_latency_ms.is_not(None), _p.c.successes), else_=0)).label("ok95"),
        func.sum(_p.c.p95_latency_ms * _p.c.successes).label("p95"),
        func.max(_p.c.max_latency_ms).label("max"),
    ).where(_p.c.day < today)
    for row in conn.execute(_PERFORMANCE.narrow(query.group_by(_p.c.provider, _p.c.model), filters)):
        weights[(row.provider, row.model)][:] = [
            int(row.ok50 or 0), float(row.p50 or 0), int(row.ok95 or 0), float(row.p95 or 0), row.max
        ]  # fmt: skip
    if (filters.since is None or filters.since <= today) and (filters.until is None or filters.until >= today):
        latencies: dict[tuple[str, str], list[float]] = defaultdict(list)
        calls: dict[tuple[str, str], int] = defaultdict(int)
        # cost_known either way: so the (billable, cost_known, created_on) index finds today's rows.
        live = select(_m.c.provider, _m.c.model, _m.c.latency_ms).where(
            _m.c.billable.is_(True), _m.c.cost_known.in_([False, True]), _m.c.created_on == today
        )
        for row in conn.execute(_LEDGER.narrow(live, replace(filters, since=None, until=None))):
            calls[(row.provider, row.model)] += 1
            if row.latency_ms is not None:
                latencies[(row.provider, row.model)].append(float(row.latency_ms))
        for key, count in calls.items():
            values = sorted(latencies[key])
            entry = weights[key]
            if values:
                entry[0] += count
                entry[1] += (_percentile(values, 0.50) or 0.0) * count
                entry[2] += count
                entry[3] += (_percentile(values, 0.95) or 0.0) * count
                entry[4] = max(values[-1], entry[4]) if entry[4] is not None else values[-1]
    return {
        key: {
            "p50_latency_ms": p50 / ok50 if ok50 else None,
            "p95_latency_ms": p95 / ok95 if ok95 else None,
            "max_latency_ms": float(most) if most is not None else None,
        }
        for key, (ok50, p50, ok95, p95, most) in weights.items()
    }


def latency_refreshed_at(database: Database, filters: Filters) -> datetime | None:
    """When ``ai_model_performance`` was last refreshed for the closed days of ``filters``."""
    query = select(func.max(_p.c.built_at)).where(_p.c.day < rollup.today_utc())
    with database.read() as conn:
        value = conn.execute(_PERFORMANCE.narrow(query, filters)).scalar()
    return as_utc(value)


def _failure_counts(conn: Connection, filters: Filters) -> dict[tuple[str, str], int]:
    query = select(_f.c.provider, _f.c.model, func.count().label("n")).group_by(_f.c.provider, _f.c.model)
    return {(r.provider, r.model): int(r.n) for r in conn.execute(_FAILURES.narrow(query, filters))}


def failures_report(database: Database, filters: Filters, *, grain: str = "day", recent: int = 50) -> dict[str, Any]:
    """Failed provider attempts by provider and error type over time, and the latest ones."""
    if grain not in GRAINS:
        raise ValueError(f"no such period {grain!r}")
    # Only indexed columns: an index-only scan of (created_on, provider, error_type).
    grouped = select(_f.c.created_on, _f.c.provider, _f.c.error_type, func.count().label("n")).group_by(
        _f.c.created_on, _f.c.provider, _f.c.error_type
    )
    latest = (
        select(
            _f.c.created_at,
            _f.c.provider,
            _f.c.model,
            _f.c.error_type,
            _f.c.status_code,
            _f.c.message,
            _f.c.conversation_id,
        )
        .order_by(_f.c.created_on.desc(), _f.c.created_at.desc())
        .limit(recent)
    )
    with database.read() as conn:
        rows = conn.execute(_FAILURES.narrow(grouped, filters)).all()
        last = conn.execute(_FAILURES.narrow(latest, filters)).mappings().all()
    table: dict[tuple[str, str], dict[str, Any]] = {}
    per_bucket: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        item = table.setdefault(
            (row.provider, row.error_type),
            {"provider": row.provider, "error_type": row.error_type, "failures": 0, "last_day": None},
        )
        item["failures"] += int(row.n)
        if item["last_day"] is None or row.created_on > item["last_day"]:
            item["last_day"] = row.created_on
        per_bucket[bucket_start(row.created_on, grain)][row.error_type] += int(row.n)
    ordered = sorted(table.values(), key=lambda r: (-r["failures"], r["provider"], r["error_type"]))
    types: dict[str, int] = defaultdict(int)
    for item in ordered:
        types[item["error_type"]] += item["failures"]
    keys = sorted(types, key=lambda k: -types[k])[:TOP_SERIES]
    series = [
        {
            "start": start,
            "values": {k: per_bucket[start].get(k, 0) for k in keys},
            "other": sum(v for k, v in per_bucket[start].items() if k not in keys),
            "total": sum(per_bucket[start].values()),
        }
        for start in sorted(per_bucket)
    ]
    return {
        "rows": ordered,
        "series": series,
        "keys": keys,
        "recent": [dict(r) for r in last],
        "total": sum(r["failures"] for r in ordered),
    }
