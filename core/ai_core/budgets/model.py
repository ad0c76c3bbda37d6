"""What a budget is: a spending limit over a scope and a period.

A budget with a scope but no ``scope_value`` applies to every value of that
scope separately: ``Budget(scope="user", limit=5, period="daily")`` gives each
user five dollars a day. With a ``scope_value`` it applies to that one value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ai_core.errors import ConfigurationError

if TYPE_CHECKING:
    from ai_core.pipeline.middleware import Call

__all__ = ["Budget", "Scope", "parse_budgets"]

Scope = Literal["global", "user", "tenant", "tag", "conversation"]


class Budget(BaseModel):
    """A spending limit. Money is Decimal; thresholds are fractions of the limit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    limit: Decimal = Field(gt=0)
    scope: Scope = "global"
    scope_value: str | None = None
    period: Literal["daily", "monthly"] = "monthly"
    currency: str = "USD"
    thresholds: tuple[Decimal, ...] = (Decimal("0.8"), Decimal("1.0"))
    hard: bool = True
    """A hard budget refuses requests that could exceed it; a soft one only reports."""
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
        """The scope values of ``call`` this budget counts (empty: it does not apply)."""
        if self.scope == "global":
            return ["*"]
        if self.scope == "tag":
            values: Iterable[str | None] = call.tags
        else:
            values = [{"user": call.user, "tenant": call.tenant, "conversation": call.conversation_id}[self.scope]]
        return [v for v in values if v is not None and (self.scope_value is None or v == self.scope_value)]

    def key(self, target: str) -> str:
        """The counter key: one per budget and scope value."""
        return f"{self.label}|{self.scope}={target}|{self.period}|{self.currency}"

    def period_start(self, moment: datetime) -> date:
        day = moment.date()
        return day if self.period == "daily" else day.replace(day=1)




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
