"""Money in SQL is exact on both databases: increments and sums equal Python's Decimal."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from ai_core.storage.conversation_tables import Conversation
from ai_core.storage.money import money_add, money_sum, quantize_money

amounts = st.decimals(min_value=Decimal("-1000"), max_value=Decimal("1000"), places=12, allow_nan=False)

_c = Conversation.__table__


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(amounts, min_size=1, max_size=12))
def test_increments_and_sums_are_exact(database, values: list[Decimal]) -> None:
    with database.write() as conn:
        conn.execute(_c.delete())
        conn.execute(_c.insert(), [{"id": f"c{i}", "total_cost": Decimal(0)} for i in range(2)])
        for value in values:
            conn.execute(update(_c).where(_c.c.id == "c0").values(total_cost=money_add(_c.c.total_cost, value)))
            conn.execute(update(_c).where(_c.c.id == "c1").values(total_cost=value))
    with database.read() as conn:
        total = conn.execute(select(_c.c.total_cost).where(_c.c.id == "c0")).scalar_one()
        summed = conn.execute(select(money_sum(_c.c.total_cost))).scalar_one()
    assert total == sum(values, Decimal(0))
    assert summed == total + values[-1]
    assert isinstance(total, Decimal)


def test_quantize_keeps_eighteen_places() -> None:
    assert quantize_money(Decimal("0.0000000000000000015")) == Decimal("0.000000000000000002")
    assert quantize_money(Decimal("1E-9")) == Decimal("0.000000001")
