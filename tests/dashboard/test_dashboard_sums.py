"""The dashboard's money sums are exact on both databases, its fast SQLite path included."""

from __future__ import annotations

import decimal
from datetime import date
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from ai_core.dashboard.queries import Filters, spend_report
from ai_core.dashboard.rollup import forget_days
from ai_core.storage.analytics_tables import CostTracking
from ai_core.storage.base import table_of
from ai_core.storage.money import quantize_money

_t = table_of(CostTracking)
_EXACT = decimal.Context(prec=80)

amounts = st.decimals(min_value=0, max_value=10**9, places=18, allow_nan=False, allow_infinity=False)


def _write(database, costs: list[Decimal]) -> None:
    rows = [
        {"day": date(2026, 1, 1 + i % 28), "user_key": f"u{i}", "tenant_key": "t", "tags_key": "", "provider": "p",
         "model": "m", "currency": "USD", "requests": 1, "unknown_cost_requests": 0, "input_tokens": 1,
         "output_tokens": 1, "cost": cost}
        for i, cost in enumerate(costs)
    ]  # fmt: skip
    with database.write() as conn:
        conn.execute(delete(_t))
        if rows:
            conn.execute(_t.insert(), rows)
        forget_days(conn, None)  # the table rewritten by hand, as `ai usage rebuild` rewrites it


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(costs=st.lists(amounts, max_size=40))
def test_totals_are_exact(database, costs: list[Decimal]) -> None:
    _write(database, costs)
    report = spend_report(database, Filters(), by="user", grain="month")
    with decimal.localcontext(_EXACT):
        expected = quantize_money(sum((quantize_money(c) for c in costs), start=Decimal(0)))
    assert report["total"]["cost"] == expected
    by_user = {row["user"]: row["cost"] for row in report["rows"]}
    assert all(by_user[f"u{i}"] == quantize_money(c) for i, c in enumerate(costs))


def test_amounts_the_fast_path_cannot_read_fall_back_to_exact_sums(database) -> None:
    costs = [Decimal("-0.5"), Decimal("0.000000000000000001"), Decimal("123456789.123456789123456789")]
    _write(database, costs)
    if database.dialect == "sqlite":  # a value written by hand, without the fixed 18 decimals
        with database.write() as conn:
            conn.exec_driver_sql("UPDATE ai_cost_tracking SET cost = '7' WHERE user_key = 'u0'")
        costs[0] = Decimal(7)
    report = spend_report(database, Filters(), by="provider")
    assert report["total"]["cost"] == quantize_money(sum(costs, start=Decimal(0)))


def test_many_keys_chart_the_top_ones_and_the_rest_together(database) -> None:
    costs = [Decimal(i) / 1000 for i in range(1, 61)]
    _write(database, costs)
    report = spend_report(database, Filters(), by="user", grain="week")
    assert len(report["rows"]) == 60 and report["keys"] == [f"u{i}" for i in range(59, 51, -1)]
    assert sum((s["total"] for s in report["series"]), start=Decimal(0)) == report["total"]["cost"] == sum(costs)
    for item in report["series"]:
        assert sum(item["values"].values(), start=item["other"]) == item["total"]
    assert any(item["other"] for item in report["series"])
