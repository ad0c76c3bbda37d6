"""Spend over long ranges without summing every tracking row: a rollup of closed days and months.

``ai_cost_tracking`` holds a row per day, user, tenant, tag set, provider and
model: on a real ledger nearly one per conversation, so six months of it is a
hundred thousand rows to sum per page. The dashboard therefore keeps
``ai_spend_rollup``: per closed day, and per closed month, the calls, tokens
and cost of each model, user, tag and of everything (``all``), for every
tenant together and for each tenant. A page over six months reads six month
rows per key, the days at the range's edges, and today live from
``ai_cost_tracking``.

Built on the read side, on demand: nothing is added to the ledger's write
path. A page first compares each closed day of its range with the stamp the
day was rolled up from (its tracking rows, their requests and their latest
``updated_at``); a day never rolled up, or whose source changed since (a
late write: a call committed after midnight, a recorded batch result, ``ai
usage rebuild`` rewriting the table), is rolled up again before the page
reads it, and a month is rolled up again when one of its days was. Days that
cannot be written (a read-only database user, a concurrent builder) are read
live from ``ai_cost_tracking`` instead. Every figure is the same either way:
the rollup is an exact regrouping of the tracking rows (Decimal sums, never
float), so a total here equals ``ai usage --json`` as the tracking table does.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Date, Select, and_, delete, func, literal, literal_column, null, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql import ColumnElement

from ai_core.dashboard.rollup_tables import SpendRollup, SpendRollupStamp
from ai_core.dashboard.sums import exact_sum_text, odd_amount
from ai_core.logging import get_logger
from ai_core.storage.analytics_tables import CostTracking
from ai_core.storage.base import table_of
from ai_core.storage.columns import as_utc, utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from ai_core.storage.database import Database

__all__ = [
    "COUNTS",
    "Periods",
    "forget_days",
    "forget_these_days",
    "live_groups",
    "period_parts",
    "prebuild",
    "prepare",
    "today_utc",
]

log = get_logger("ai_core.dashboard")

COUNTS = ("requests", "input_tokens", "output_tokens", "unknown_cost_requests")
RECHECKED_DAYS = 3
"""Closed days younger than this are checked in full on every page: their tracking rows
counted, their requests added up, their latest ``updated_at`` read, so any write to them
(a call committed after midnight, on a clock a little behind) is seen at once. Older days
are settled: the ledger writes a day's rows while the writer's clock is in that day, so
only a rebuild rewrites them, and a rebuild forgets their rollup itself
(:func:`forget_days`); on every page their rows are counted (the day index alone), which
sees a row added or removed however it happened."""
CHUNK_ROWS = 5000
"""Tracking rows rolled up per write transaction (at most a month of days): short, so the
ledger's writers barely wait for SQLite's writer lock."""

_t = table_of(CostTracking)
_r = table_of(SpendRollup)
_s = table_of(SpendRollupStamp)

Stamp = tuple[int, int | None, datetime | None]
GroupKey = tuple[date, str | None, str, str, str]
"""(day, tenant scope (None: every tenant), dimension, key, currency)."""


def today_utc() -> date:
    return utcnow().date()


@dataclass
class Periods:
    """Where each part of a range ``[since, until]`` is read from."""

    months: list[date] = field(default_factory=list)
    """First days of closed months read from their month rows."""
    days: list[tuple[date, date]] = field(default_factory=list)
    """Runs of closed days read from their day rows, added."""
    minus: list[tuple[date, date]] = field(default_factory=list)
    """Runs of closed days outside the range but in one of ``months``, subtracted (a month
    less its first days is fewer rows than the days it keeps)."""
    every_day: list[tuple[date, date]] = field(default_factory=list)
    """Runs of every rolled-up day of the range: per-day charts read these."""
    live_from: date | None = None
    """Days from this one on (today, and later ones a skewed clock wrote) are read live."""
    until: date | None = None
    live_days: list[date] = field(default_factory=list)
    """Closed days of the range that could not be rolled up: read live too."""


def _runs(days: Iterable[date]) -> list[tuple[date, date]]:
    runs: list[tuple[date, date]] = []
    for day in sorted(days):
        if runs and runs[-1][1] + timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def _month_end(first: date) -> date:
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


def _same(source: Stamp | None, stamp: Stamp | None) -> bool:
    """Whether a day's source is what its rollup was built from (a settled day's source
    is its row count only: requests None)."""
    source = source if source is not None and source[0] else None
    stamp = stamp if stamp is not None and stamp[0] else None
    if source is None or stamp is None:
        return source is stamp
    if source[0] != stamp[0]:
        return False
    return source[1] is None or (source[1] == stamp[1] and as_utc(source[2]) == as_utc(stamp[2]))


def prepare(database: Database, since: date | None, until: date | None, *, today: date | None = None) -> Periods:
    """Roll up what the range ``[since, until]`` needs and is missing; say where to read each part.

    The closed days checked (and rolled up when their source changed) are those of
    the range's whole months, so a month cut by the range can be read as the
    month less the days it does not want when that is shorter."""
    today = today or today_utc()
    with database.read() as conn:
        if since is None:
            since = conn.execute(select(func.min(_t.c.day))).scalar()
            if since is None:
                return Periods(live_from=today, until=until)
        last_closed = min(today - timedelta(days=1), until) if until is not None else today - timedelta(days=1)
        if since > last_closed:
            return Periods(live_from=max(since, today), until=until)
        first, last = since.replace(day=1), min(_month_end(last_closed.replace(day=1)), today - timedelta(days=1))
        # Settled days: their tracking rows counted (the day index alone). Recent ones: counted,
        # their requests added up and their latest update read (see RECHECKED_DAYS).
        recent = max(first, today - timedelta(days=RECHECKED_DAYS))
        source: dict[date, Stamp] = {
            row.day: (int(row.n), None, None)
            for row in conn.execute(
                select(_t.c.day, func.count().label("n"))
                .where(_t.c.day.between(first, min(last, recent - timedelta(days=1))))
                .group_by(_t.c.day)
            )
        }
        source.update(
            (row.day, (int(row.n), int(row.requests or 0), row.updated))
            for row in conn.execute(
                select(
                    _t.c.day,
                    func.count().label("n"),
                    func.sum(_t.c.requests).label("requests"),
                    func.max(_t.c.updated_at).label("updated"),
                )
                .where(_t.c.day.between(recent, last))
                .group_by(_t.c.day)
            )
        )
        stamps = _stamps(conn, "day", first, last)
        month_stamps = _stamps(conn, "month", first, last)
    failed: set[date] = set()
    stale = sorted(d for d in set(source) | set(stamps) if not _same(source.get(d), _stamp(stamps, d)))
    for chunk in _chunks(stale, source):
        # One builder at a time per process, a chunk at a time: what another (the start-up
        # roll-up, another page) built meanwhile is not built again, and nobody waits long.
        with _builder(database):
            with database.read() as conn:
                fresh = _stamps(conn, "day", chunk[0], chunk[-1])
            todo = [d for d in chunk if not _same(source.get(d), _stamp(fresh, d))]
            built = _build_days(database, todo) if todo else {}
        if built is None:
            failed.update(todo)
            continue
        for day in chunk:
            stamps.pop(day, None)
            if day in fresh and day not in todo:
                stamps[day] = fresh[day]
        stamps.update(built)
    if stale:
        with database.read() as conn:
            month_stamps = _stamps(conn, "month", first, last)
    wanted = [d for d in _days(since, last_closed) if d not in failed]
    periods = Periods(live_from=max(since, today), until=until, every_day=_runs(wanted))
    periods.live_days = sorted(d for d in failed if since <= d <= last_closed)
    plus: set[date] = set(wanted)
    minus: set[date] = set()
    month = first
    while _month_end(month) <= last:
        days = list(_days(month, _month_end(month)))
        kept = [d for d in days if since <= d <= last_closed]
        left = len(days) - len(kept)
        if left < len(kept) and not failed.intersection(days):
            present = [stamps[d] for d in days if d in stamps and stamps[d][0]]
            expected: Stamp = (
                sum(s[0] for s in present),
                sum(s[1] for s in present),
                max((as_utc(s[3]) for s in present), default=None),  # type: ignore[type-var]
            )
            if _same(expected, _stamp(month_stamps, month)) or _build_month(database, month, expected):
                periods.months.append(month)
                plus.difference_update(days)
                minus.update(d for d in days if d not in kept)
        month = _month_end(month) + timedelta(days=1)
    periods.days, periods.minus = _runs(plus), _runs(minus)
    return periods


def forget_days(conn: Connection, since: date | None) -> None:
    """Drop the rollup of the days from ``since`` on (None: all), in the caller's transaction:
    ``ai usage rebuild`` rewrites their tracking rows, so they are rolled up again when read."""
    for table in (_r, _s):
        conn.execute(delete(table).where(table.c.grain == "day", table.c.day >= since) if since else delete(table))


def forget_these_days(conn: Connection, days: Iterable[date]) -> None:
    """Drop the rollup of ``days`` (and of their months), in the caller's transaction: their
    tracking rows changed (a cleanup deleted conversations), so they are rolled up again when read."""
    days = sorted(set(days))
    if not days:
        return
    months = sorted({day.replace(day=1) for day in days})
    for table in (_r, _s):
        conn.execute(delete(table).where(table.c.grain == "day", table.c.day.in_(days)))
        conn.execute(delete(table).where(table.c.grain == "month", table.c.day.in_(months)))


def prebuild(database: Database) -> None:
    """Roll up every closed day and month of the ledger now (``ai dashboard`` does it in a
    thread at start, so the first long page need not); a failure is logged, pages read live."""
    try:
        prepare(database, None, None)
    except Exception as exc:
        log.warning("dashboard_rollup_not_built", error=f"{type(exc).__name__}: {str(exc).splitlines()[0]}")


def _chunks(days: Sequence[date], source: dict[date, Stamp]) -> Iterator[list[date]]:
    """``days`` in runs of at most :data:`CHUNK_ROWS` tracking rows and 31 days."""
    chunk: list[date] = []
    rows = 0
    for day in days:
        found = source.get(day)
        size = found[0] if found else 0
        if chunk and (rows + size > CHUNK_ROWS or len(chunk) == 31):
            yield chunk
            chunk, rows = [], 0
        chunk.append(day)
        rows += size
    if chunk:
        yield chunk


_BUILDERS: weakref.WeakKeyDictionary[Database, threading.Lock] = weakref.WeakKeyDictionary()
_BUILDERS_LOCK = threading.Lock()


def _builder(database: Database) -> threading.Lock:
    with _BUILDERS_LOCK:
        return _BUILDERS.setdefault(database, threading.Lock())


def _stamp(stamps: dict[date, tuple[int, int, Any, Any]], day: date) -> Stamp | None:
    found = stamps.get(day)
    return None if found is None else (found[0], found[1], found[2])


def _stamps(conn: Connection, grain: str, first: date, last: date) -> dict[date, tuple[int, int, Any, Any]]:
    query = select(_s).where(_s.c.grain == grain, _s.c.day.between(first, last))
    return {
        row.day: (int(row.source_rows), int(row.source_requests), row.source_updated_at, row.built_at)
        for row in conn.execute(query)
    }


def _odd(conn: Connection, dialect: str, table: Any, where: ColumnElement[bool]) -> bool:
    """Whether a summed row holds an amount the SQL-native exact sum cannot add (SQLite)."""
    if dialect != "sqlite":
        return False
    return bool(conn.execute(select(func.count()).select_from(table).where(where, odd_amount(table.c.cost))).scalar())


def _groups(where: ColumnElement[bool], cost: ColumnElement[Any]) -> dict[str, Select[Any]]:
    """Per day and tenant, the tracking rows ``where`` selects regrouped by model, user and
    everything, as rollup rows (day, tenant, dimension, key, currency, counts..., cost); and by
    tag set (day, tenant, tag set, currency, counts..., cost), which :func:`_split_tags` splits."""
    counts = [func.sum(_t.c[name]) for name in COUNTS]
    model = _t.c.provider + literal_column("'/'") + _t.c.model
    keys = {"model": (model, [_t.c.provider, _t.c.model]), "user": (_t.c.user_key, [_t.c.user_key]), "all": (None, [])}
    selects = {}
    for dimension, (key, grouping) in keys.items():
        key_column = literal("") if key is None else key
        selects[dimension] = (
            select(_t.c.day, _t.c.tenant_key, literal(dimension), key_column, _t.c.currency, *counts, cost)
            .where(where)
            .group_by(_t.c.day, _t.c.tenant_key, *grouping, _t.c.currency)
        )
    selects["tag"] = (
        select(_t.c.day, _t.c.tenant_key, _t.c.tags_key, _t.c.currency, *counts, cost)
        .where(where, _t.c.tags_key != "")
        .group_by(_t.c.day, _t.c.tenant_key, _t.c.tags_key, _t.c.currency)
    )
    return selects


def _split_tags(rows: Iterable[Any]) -> dict[GroupKey, list[Any]]:
    """Tag-set rows as one group per tag (a call with several tags counts under each)."""
    groups: dict[GroupKey, list[Any]] = {}
    for day, tenant, tags, currency, *sums in rows:
        for tag in tags.strip(",").split(","):
            if tag:
                entry = groups.setdefault((day, tenant, "tag", tag, currency), [0, 0, 0, 0, Decimal(0)])
                for index, value in enumerate(sums):
                    entry[index] += value if value is not None else 0
    return groups


def _build_days(database: Database, days: Sequence[date]) -> dict[date, tuple[int, int, Any, Any]] | None:
    """Roll up ``days`` from their tracking rows; their new stamps, or None if it could not be written.

    One short transaction that reads one snapshot, so the stamps describe exactly
    the rows rolled up: a write that lands later changes the day's source, and the
    next page sees its stamp differ and rolls the day up again. The sums are SQL's
    own, exact (:func:`~ai_core.dashboard.sums.exact_sum_text`), inserted without a
    round trip; only tag sets pass through Python, to be split into tags.
    """
    source = _t.c.day.in_(days)
    columns = ["grain", "day", "tenant_key", "dimension", "key", "currency", *COUNTS, "cost"]
    try:
        with database.write() as conn:
            if database.dialect == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            conn.execute(delete(_r).where(_r.c.grain == "day", _r.c.day.in_(days)))
            conn.execute(delete(_s).where(_s.c.grain == "day", _s.c.day.in_(days)))
            odd = _odd(conn, database.dialect, _t, source)
            selects = _groups(source, exact_sum_text(_t.c.cost, database.dialect, odd=odd))
            for dimension in ("model", "user", "all"):
                grouped = selects[dimension].with_only_columns(literal("day"), *selects[dimension].selected_columns)
                conn.execute(_r.insert().from_select(columns, grouped))
            tags = _split_tags(conn.execute(selects["tag"]).all())
            if tags:
                conn.execute(
                    _r.insert(),
                    [dict(zip(columns, ["day", *group, *sums], strict=True)) for group, sums in tags.items()],
                )
            # Every tenant together: the tenants' rows of these days added up.
            mine = and_(_r.c.grain == "day", _r.c.day.in_(days), _r.c.tenant_key.is_not(None))
            together = (
                select(
                    literal("day"),
                    _r.c.day,
                    null(),
                    _r.c.dimension,
                    _r.c.key,
                    _r.c.currency,
                    *(func.sum(_r.c[name]) for name in COUNTS),
                    exact_sum_text(_r.c.cost, database.dialect, odd=odd),
                )
                .where(mine)
                .group_by(_r.c.day, _r.c.dimension, _r.c.key, _r.c.currency)
            )
            conn.execute(_r.insert().from_select(columns, together))
            now = utcnow()
            stamps = select(
                literal("day"), _t.c.day, func.count(), func.sum(_t.c.requests), func.max(_t.c.updated_at),
                literal(now, _s.c.built_at.type),
            ).where(source).group_by(_t.c.day)  # fmt: skip
            names = ["grain", "day", "source_rows", "source_requests", "source_updated_at", "built_at"]
            conn.execute(_s.insert().from_select(names, stamps))
            built = _stamps(conn, "day", min(days), max(days))
    except SQLAlchemyError as exc:
        log.warning("dashboard_rollup_not_written", error=f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
        return None
    return {day: stamp for day, stamp in built.items() if day in set(days)}


def _build_month(database: Database, month: date, stamp: Stamp) -> bool:
    """Roll the month's day rows up into month rows; False if it could not be written."""
    columns = ["grain", "day", "tenant_key", "dimension", "key", "currency", *COUNTS, "cost"]
    days = and_(_r.c.grain == "day", _r.c.day.between(month, _month_end(month)))
    try:
        with database.write() as conn:
            conn.execute(delete(_r).where(_r.c.grain == "month", _r.c.day == month))
            conn.execute(delete(_s).where(_s.c.grain == "month", _s.c.day == month))
            if stamp[0]:
                conn.execute(
                    _s.insert().values(
                        grain="month",
                        day=month,
                        source_rows=stamp[0],
                        source_requests=stamp[1],
                        source_updated_at=stamp[2],
                        built_at=utcnow(),
                    )
                )
                cost = exact_sum_text(_r.c.cost, database.dialect, odd=_odd(conn, database.dialect, _r, days))
                grouped = (
                    select(
                        literal("month"),
                        literal(month, Date()),
                        _r.c.tenant_key,
                        _r.c.dimension,
                        _r.c.key,
                        _r.c.currency,
                        *(func.sum(_r.c[name]) for name in COUNTS),
                        cost,
                    )
                    .where(days)
                    .group_by(_r.c.tenant_key, _r.c.dimension, _r.c.key, _r.c.currency)
                )
                conn.execute(_r.insert().from_select(columns, grouped))
    except SQLAlchemyError as exc:
        log.warning("dashboard_rollup_not_written", error=f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
        return False
    return True


def period_parts(periods: Periods, *, per_day: bool) -> list[tuple[int, ColumnElement[bool]]]:
    """The rollup rows of the rolled-up part of ``periods``, each with its sign: months and
    days added, days subtracted; or, ``per_day``, every day. One condition per index range:
    a query runs once per part, each an index range scan."""
    if per_day:
        return [(1, and_(_r.c.grain == "day", _r.c.day.between(a, b))) for a, b in periods.every_day]
    parts = [(1, and_(_r.c.grain == "day", _r.c.day.between(a, b))) for a, b in periods.days]
    parts += [(-1, and_(_r.c.grain == "day", _r.c.day.between(a, b))) for a, b in periods.minus]
    if periods.months:
        parts.append((1, and_(_r.c.grain == "month", _r.c.day.in_(periods.months))))
    return parts


def live_groups(
    conn: Connection, dialect: str, periods: Periods, tenant: str | None, dimension: str
) -> dict[GroupKey, list[Any]]:
    """The groups of ``dimension`` in the part of ``periods`` read live (today on, and days
    not rolled up): the very queries a day is rolled up with, each tenant's groups and every
    tenant's (scope None) added up from them."""
    parts: list[ColumnElement[bool]] = []
    if periods.live_from is not None:
        part = _t.c.day >= periods.live_from
        if periods.until is not None:
            part = and_(part, _t.c.day <= periods.until)
        parts.append(part)
    if periods.live_days:
        parts.append(_t.c.day.in_(periods.live_days))
    if not parts:
        return {}
    where = or_(*parts)
    if tenant is not None:
        where = and_(where, _t.c.tenant_key == tenant)
    cost = exact_sum_text(_t.c.cost, dialect, odd=_odd(conn, dialect, _t, where))
    query = _groups(where, cost)["tag" if dimension == "tag" else dimension]
    rows = conn.execute(query).all()
    found = _split_tags(rows) if dimension == "tag" else {tuple(row[:5]): list(row[5:]) for row in rows}
    groups: dict[GroupKey, list[Any]] = {}
    for (day, scope, name, key, currency), sums in found.items():
        for target in ((day, scope or "", name, key, currency), (day, None, name, key, currency)):
            entry = groups.setdefault(target, [0, 0, 0, 0, Decimal(0)])  # type: ignore[arg-type]
            for index, value in enumerate(sums):
                entry[index] += value if value is not None else 0
    return groups
