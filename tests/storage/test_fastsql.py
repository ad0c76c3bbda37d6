"""The hot path's bind values are exactly what SQLAlchemy itself would store."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import JSON, Date, DateTime
from sqlalchemy.dialects import sqlite

from ai_core.storage.fastsql import _processor

_DIALECT = sqlite.dialect()
_zones = st.sampled_from([None, UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))])


@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=_zones))
def test_timestamps_are_stored_as_sqlalchemy_stores_them(value: datetime) -> None:
    column_type = DateTime(timezone=True)
    assert _processor(column_type, _DIALECT)(value) == column_type._cached_bind_processor(_DIALECT)(value)


@given(st.dates(min_value=date(1, 1, 1)))
def test_dates_are_stored_as_sqlalchemy_stores_them(value: date) -> None:
    assert _processor(Date(), _DIALECT)(value) == Date()._cached_bind_processor(_DIALECT)(value)


@given(st.datetimes(timezones=_zones))
def test_a_timestamp_given_for_a_date_is_stored_as_sqlalchemy_stores_it(value: datetime) -> None:
    assert _processor(Date(), _DIALECT)(value) == Date()._cached_bind_processor(_DIALECT)(value)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(_json_values)
def test_json_is_stored_as_sqlalchemy_stores_it(value: object) -> None:
    column_type = JSON()
    assert _processor(column_type, _DIALECT)(value) == column_type._cached_bind_processor(_DIALECT)(value)


@given(st.lists(st.datetimes(timezones=_zones), min_size=1, max_size=6))
def test_a_timestamp_bound_again_is_stored_as_the_first_time(values: list[datetime]) -> None:
    column_type = DateTime(timezone=True)
    mine, theirs = _processor(column_type, _DIALECT), column_type._cached_bind_processor(_DIALECT)
    for value in [*values, *values, values[0]]:  # the same objects again, and in between others
        assert mine(value) == theirs(value)
