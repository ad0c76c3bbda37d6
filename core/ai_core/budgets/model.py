"""What a budget is: a spending limit over a scope and a period.

A budget with a scope but no ``scope_value`` applies to every value of that
scope separately: ``Budget(scope="user", limit=5, period="daily")`` gives each
user five dollars a day. With a ``scope_value`` it applies to that one value.
``per_request`` caps what a single model call may cost, however much of the
period's limit is left.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ai_core.errors import ConfigurationError

if TYPE_CHECKING:
    from ai_core.pipeline.middleware import Call

__all__ = ["Budget", "Period", "Scope", "parse_budgets", "plain_money"]

Scope = Literal["global", "user", "tenant", "tag", "conversation"]
Period = Literal["daily", "weekly", "monthly", "yearly"]


def plain_money(value: Decimal) -> Decimal:
    """``value`` without trailing zeros or an exponent: ``0.0000594``, never
    ``0.000059400000000000`` or ``1E+2``. The amount is unchanged."""
    normal = value.normalize()
    exponent = normal.as_tuple().exponent
    if isinstance(exponent, int) and exponent > 0:
        return normal.quantize(Decimal(1))
    return normal


class Budget(BaseModel):
    """A spending limit. Money is Decimal; thresholds are fractions of the limit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    limit: Decimal = Field(gt=0)
    scope: Scope = "global"
    scope_value: str | None = None
    period: Period = "monthly"
    """``daily``, ``weekly`` (ISO weeks, from Monday), ``monthly`` or ``yearly``, in UTC."""
    currency: str = "USD"
    thresholds: tuple[Decimal, ...] = (Decimal("0.8"), Decimal("1.0"))
    hard: bool = True
    """A hard budget refuses requests that could exceed it; a soft one only reports."""
    per_request: Decimal | None = Field(None, gt=0)
    """The most one model call may cost. Enforced whether or not the budget is
    hard: a call whose worst case exceeds it is capped (a ``max_tokens`` is
    chosen for it) or, when it set its own ``max_tokens``, refused."""
    unknown_cost: Literal["refuse", "count_as"] = "refuse"
    """What a call of unknown price does: be refused, or count as ``unknown_cost_amount``."""
    unknown_cost_amount: Decimal | None = Field(None, ge=0)
    name: str | None = None

    @field_validator("thresholds")
    @classmethod
    def _fractions(cls, value: tuple[Decimal, ...]) -> tuple[Decimal, ...]:
        if any(t <= 0 for t in value):
            raise ValueError("thresholds are positive fractions of the limit, such as 0.8 and 1.0")
        return tuple(sorted(set(value)))

    @field_validator("limit", "per_request", "unknown_cost_amount")
    @classmethod
    def _finite(cls, value: Decimal | None) -> Decimal | None:
        if value is not None and not value.is_finite():
            raise ValueError("must be a finite amount of money")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Budget:
        if self.scope == "global" and self.scope_value is not None:
            raise ValueError("a global budget has no scope_value")
        if self.unknown_cost == "count_as" and self.unknown_cost_amount is None:
            raise ValueError("unknown_cost='count_as' needs unknown_cost_amount")
        return self

    @property
    def label(self) -> str:
        """A readable name: the given one, or scope, value and period."""
        if self.name:
            return self.name
        target = "global" if self.scope == "global" else f"{self.scope}:{self.scope_value or '*'}"
        return f"{target}/{self.period}"

    def targets(self, call: Call) -> list[str]:
        """The scope values of ``call`` this budget counts (empty: it does not apply).

        Each value once: a tag given twice is one tag, charged once.
        """
        if self.scope == "global":
            return ["*"]
        if self.scope == "tag":
            values: Iterable[str | None] = call.tags
        else:
            values = [{"user": call.user, "tenant": call.tenant, "conversation": call.conversation_id}[self.scope]]
        chosen = (v for v in values if v is not None and (self.scope_value is None or v == self.scope_value))
        return list(dict.fromkeys(chosen))

    def key(self, target: str) -> str:
        """The counter key: one per budget and scope value."""
        return f"{self.label}|{self.scope}={target}|{self.period}|{self.currency}"

    def period_start(self, moment: datetime) -> date:
        """The first day (UTC) of the period ``moment`` falls in."""
        day = moment.date()
        if self.period == "daily":
            return day
        if self.period == "weekly":
            return day - timedelta(days=day.weekday())
        if self.period == "monthly":
            return day.replace(day=1)
        return day.replace(month=1, day=1)


def parse_budgets(raw: Sequence[Any]) -> list[Budget]:
    """Budgets from settings (dicts) or ready :class:`Budget` objects, with a clear error."""
    budgets: list[Budget] = []
    for index, item in enumerate(raw):
        if isinstance(item, Budget):
            budgets.append(item)
            continue
        try:
            budgets.append(Budget.model_validate(item))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'budget'}: {e['msg']}" for e in exc.errors())
            raise ConfigurationError(f"budget #{index + 1} is invalid: {problems}") from None
    return budgets
