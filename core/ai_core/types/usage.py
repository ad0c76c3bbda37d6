"""Token counts and money.

Counting follows OpenAI's convention because most providers report that way:
``input_tokens`` counts every prompt token, cached reads included, and
``output_tokens`` counts every generated token, reasoning included. The
``cached_input_tokens`` and ``reasoning_tokens`` fields say how many of those
are the specially priced kind, so pricing never double-counts.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["Cost", "TokenUsage"]


class TokenUsage(BaseModel):
    """What one call consumed, in tokens."""

    model_config = ConfigDict(frozen=True)

    input_tokens: int = Field(0, ge=0)
    output_tokens: int = Field(0, ge=0)
    cached_input_tokens: int = Field(0, ge=0, description="part of input_tokens read from the prompt cache")
    cache_write_tokens: int = Field(0, ge=0, description="part of input_tokens written to the prompt cache")
    reasoning_tokens: int = Field(0, ge=0, description="part of output_tokens spent on hidden reasoning")
    total_tokens: int = Field(0, ge=0)
    estimated: bool = Field(False, description="the provider reported no usage: the counts are an estimate")
    reported_cost: Decimal | None = Field(
        None, ge=0, description="what the provider itself says the call cost, USD (xAI, OpenRouter)"
    )

    @model_validator(mode="after")
    def _fill_total(self) -> TokenUsage:
        if self.total_tokens == 0 and (self.input_tokens or self.output_tokens):
            object.__setattr__(self, "total_tokens", self.input_tokens + self.output_tokens)
        return self

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cached_input_tokens=self.cached_input_tokens + other.cached_input_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
            estimated=self.estimated or other.estimated,
            reported_cost=None
            if self.reported_cost is None and other.reported_cost is None
            else (self.reported_cost or Decimal(0)) + (other.reported_cost or Decimal(0)),
        )


class Cost(BaseModel):
    """The price of one call, split by token kind. Money is always Decimal.

    ``total`` is ``None`` when no price was known: an unknown cost is never zero.
    """

    model_config = ConfigDict(frozen=True)

    total: Decimal | None
    input: Decimal = Decimal(0)
    cached_input: Decimal = Decimal(0)
    output: Decimal = Decimal(0)
    reasoning: Decimal = Decimal(0)
    currency: str = "USD"
    provider: str | None = None
    model: str | None = None
    price_effective_from: date | None = None
    priced_by: str = "price-table"
    """The price row and its source: ``gpt-4o@2024-10-02 genai-prices 0.2.3``."""
    reported: Decimal | None = None
    """What the provider itself reported the call cost (xAI, OpenRouter), beside ``total``."""

    @property
    def known(self) -> bool:
        return self.total is not None

    @classmethod
    def unknown(cls, provider: str | None = None, model: str | None = None) -> Cost:
        return cls(total=None, provider=provider, model=model, priced_by="none")
