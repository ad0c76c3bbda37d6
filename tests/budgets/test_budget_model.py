"""Budget configuration: parsing, validation, scopes and periods."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ai_core.budgets.model import Budget, parse_budgets
from ai_core.errors import ConfigurationError


class _Call:
    def __init__(self, user=None, tenant=None, tags=(), conversation_id=None):
        self.user, self.tenant, self.tags, self.conversation_id = user, tenant, tags, conversation_id


def test_parse_from_settings_dicts() -> None:
    (budget,) = parse_budgets([{"limit": "5.00", "scope": "user", "period": "daily", "thresholds": [0.5, 1]}])
    assert budget.limit == Decimal("5.00") and budget.thresholds == (Decimal("0.5"), Decimal("1"))
    assert budget.hard and budget.unknown_cost == "refuse"


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"limit": "-1"}, "limit"),
        ({"limit": "1", "scope": "planet"}, "scope"),
        ({"limit": "1", "period": "hourly"}, "period"),
        ({"limit": "1", "unknown_cost": "count_as"}, "unknown_cost_amount"),
        ({"limit": "1", "scope_value": "x"}, "global budget"),
        ({"limit": "1", "thresholds": [0]}, "thresholds"),
        ({"limit": "1", "colour": "red"}, "colour"),
    ],
)
def test_bad_budgets_are_clear_configuration_errors(raw: dict, needle: str) -> None:
    with pytest.raises(ConfigurationError, match="budget #1 is invalid") as info:
        parse_budgets([raw])
    assert needle in str(info.value)


def test_scopes_pick_their_values() -> None:
    call = _Call(user="ann", tenant="acme", tags=("a", "b"), conversation_id="c1")
    assert Budget(limit=1).targets(call) == ["*"]
    assert Budget(limit=1, scope="user").targets(call) == ["ann"]
    assert Budget(limit=1, scope="user", scope_value="bob").targets(call) == []
    assert Budget(limit=1, scope="tenant", scope_value="acme").targets(call) == ["acme"]
    assert Budget(limit=1, scope="tag").targets(call) == ["a", "b"]
    assert Budget(limit=1, scope="conversation").targets(call) == ["c1"]
    assert Budget(limit=1, scope="user").targets(_Call()) == []


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)))
def test_periods_start_on_the_day_or_month(moment: datetime) -> None:
    moment = moment.replace(tzinfo=UTC)
    assert Budget(limit=1, period="daily").period_start(moment) == moment.date()
    assert Budget(limit=1, period="monthly").period_start(moment) == date(moment.year, moment.month, 1)


def test_labels_and_keys_are_distinct_per_target() -> None:
    budget = Budget(limit=1, scope="user", period="daily")
    assert budget.label == "user:*/daily"
    assert budget.key("ann") != budget.key("bob")
    assert Budget(limit=1, name="team").label == "team"


def test_a_tag_given_twice_is_counted_once() -> None:
    call = _Call(tags=("team-a", "team-a", "team-b", "team-a"))
    assert Budget(limit=1, scope="tag").targets(call) == ["team-a", "team-b"]
    assert Budget(limit=1, scope="tag", scope_value="team-a").targets(call) == ["team-a"]


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)))
def test_weeks_start_on_monday_and_years_on_the_first_of_january(day: date) -> None:
    moment = datetime(day.year, day.month, day.day, 23, 59, tzinfo=UTC)
    week = Budget(limit=1, period="weekly").period_start(moment)
    assert week.weekday() == 0 and 0 <= (day - week).days < 7
    assert week.isocalendar()[:2] == day.isocalendar()[:2]  # the ISO week the day is in
    assert Budget(limit=1, period="yearly").period_start(moment) == date(day.year, 1, 1)


def test_periods_have_their_own_counters() -> None:
    keys = {Budget(limit=1, period=p).key("*") for p in ("daily", "weekly", "monthly", "yearly")}
    assert len(keys) == 4


def test_per_request_limit_is_parsed_and_validated() -> None:
    (budget,) = parse_budgets([{"limit": "5", "per_request": "0.05", "period": "weekly"}])
    assert budget.per_request == Decimal("0.05") and budget.period == "weekly"
    with pytest.raises(ConfigurationError, match="per_request"):
        parse_budgets([{"limit": "5", "per_request": "0"}])
    with pytest.raises(ConfigurationError, match="per_request"):
        parse_budgets([{"limit": "5", "per_request": "NaN"}])
