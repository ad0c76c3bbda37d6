"""What a provider offers: capabilities, models and their prices."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["Capabilities", "ModelInfo", "ModelPrice", "PriceTier"]


class Capabilities(BaseModel):
    """Features a driver (or one model) supports; listed by ``ai plugins``."""

    model_config = ConfigDict(frozen=True)

    streaming: bool = True
    tools: bool = False
    tool_streaming: bool = False
    vision: bool = False
    json_schema: bool = False
    reasoning: bool = False
    batch: bool = True
    list_models: bool = False

    def names(self) -> list[str]:
        return [name for name, on in self.model_dump().items() if on]


class ModelInfo(BaseModel):
    """A model a provider serves. ``id`` is the provider's own id."""

    model_config = ConfigDict(frozen=True)

    provider: str
    id: str
    name: str | None = None
    context_window: int | None = None
    max_output_tokens: int | None = None
    capabilities: Capabilities | None = None
    reasoning: bool = False
    deprecated: bool = False
    served_by: str | None = Field(None, description="the model that actually answers, for retired aliases")
    aliases: tuple[str, ...] = Field((), description="other ids billed at this model's rows (snapshots, -latest)")
    deprecated_on: date | None = Field(None, description="the day the provider announced the model's retirement")
    shutdown_on: date | None = Field(None, description="the first day the provider refuses calls to it")
    replacement: str | None = Field(None, description="the model the provider recommends instead")

    def status(self, today: date | None = None) -> str:
        """``active``, ``deprecated``, ``retired`` (another model answers) or ``shut down``."""
        day = today or date.today()
        if self.shutdown_on is not None and day >= self.shutdown_on:
            return "shut down"
        if self.served_by is not None:
            return "retired"
        if (
            self.deprecated
            or self.shutdown_on is not None
            or (self.deprecated_on is not None and day >= self.deprecated_on)
        ):
            return "deprecated"
        return "active"

    @property
    def qualified_id(self) -> str:
        return f"{self.provider}/{self.id}"


class PriceTier(BaseModel):
    """Prices that apply once the prompt exceeds ``above_input_tokens`` (long context)."""

    model_config = ConfigDict(frozen=True)

    above_input_tokens: int = Field(ge=0)
    input_per_mtok: Decimal = Field(ge=0)
    output_per_mtok: Decimal = Field(ge=0)
    cached_input_per_mtok: Decimal | None = Field(None, ge=0)
    cache_write_per_mtok: Decimal | None = Field(None, ge=0)


class ModelPrice(BaseModel):
    """Price per million tokens, in force from ``effective_from`` (inclusive).

    ``cached_input_per_mtok`` and ``reasoning_per_mtok`` default to the input and
    output prices: a provider that does not discount them charges the full rate.
    """

    model_config = ConfigDict(frozen=True)

    provider: str
    model: str
    effective_from: date
    currency: str = "USD"
    input_per_mtok: Decimal = Field(ge=0)
    output_per_mtok: Decimal = Field(ge=0)
    cached_input_per_mtok: Decimal | None = Field(None, ge=0)
    cache_write_per_mtok: Decimal | None = Field(None, ge=0)
    reasoning_per_mtok: Decimal | None = Field(None, ge=0)
    tiers: tuple[PriceTier, ...] = ()
    billed_as: str | None = Field(None, description="the model whose row this is, for an alias or snapshot id")
    billed_from: date | None = Field(None, description="that row's first day, when this copy starts later")
    source: str | None = Field(None, description="where the row comes from: genai-prices, or the catalogue itself")
    source_version: str | None = None
    source_date: date | None = Field(None, description="the day the row was imported from its source")
    override: str | None = Field(None, description="why the row differs from (or is absent in) the source")

    @property
    def row_label(self) -> str:
        """The price row: ``gpt-4o@2024-10-02`` (the billed model, for an alias)."""
        return f"{self.billed_as or self.model}@{(self.billed_from or self.effective_from).isoformat()}"

    @property
    def provenance(self) -> str:
        """``genai-prices 0.2.3``, ``override`` or ``catalogue``."""
        if self.override is not None:
            return "override"
        if self.source is None:
            return "catalogue"
        return f"{self.source} {self.source_version}" if self.source_version else self.source

    @property
    def priced_by(self) -> str:
        """What a ledger row records: the row and its source, at most 64 characters (the column's size)."""
        return f"{self.row_label} {self.provenance}"[:64]

    @model_validator(mode="after")
    def _tiers_sorted(self) -> ModelPrice:
        thresholds = [t.above_input_tokens for t in self.tiers]
        if thresholds != sorted(thresholds) or len(set(thresholds)) != len(thresholds):
            raise ValueError("price tiers must have distinct, ascending thresholds")
        return self
