"""Typed events, named as in the design.

Events are facts after the fact: listeners learn of them in the background and
cannot change the call. The message ledger, not these events, is the record of
money, so a lost event never loses a cost.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

from ai_core.errors import _money
from ai_core.ids import new_id
from ai_core.types import Cost, TokenUsage

__all__ = [
    "AgentActionCompleted",
    "AgentActionRequested",
    "AgentStepCompleted",
    "BudgetOvershoot",
    "BudgetThresholdReached",
    "CircuitOpened",
    "ConversationCreated",
    "ConversationUpdated",
    "CostAnomalyDetected",
    "CostCalculated",
    "CostDisagreement",
    "Event",
    "ExternalIntegrationTriggered",
    "MessageAdded",
    "MessageSent",
    "ModelSynced",
    "ProviderSwitched",
    "RequestFailed",
    "ResponseGenerated",
    "ToolCalled",
    "event_types",
]


def _now() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: ClassVar[str] = "event"
    id: str = Field(default_factory=new_id)
    occurred_at: datetime = Field(default_factory=_now)


class MessageSent(Event):
    name: ClassVar[str] = "message.sent"
    conversation_id: str | None
    provider: str
    model: str
    user: str | None = None
    tenant: str | None = None
    message_ids: list[str] = Field(default_factory=list)


class ResponseGenerated(Event):
    """A send finished: its final response (all model calls of a tool loop added up)."""

    name: ClassVar[str] = "response.generated"
    conversation_id: str | None
    message_id: str | None
    provider: str
    model: str
    usage: TokenUsage
    cost: Cost | None
    """The same :class:`~ai_core.types.Cost` as ``reply.cost`` (``cost.total`` is None when unknown)."""
    latency_ms: float | None
    finish_reason: str
    streamed: bool = False
    user: str | None = None
    tenant: str | None = None


class ConversationUpdated(Event):
    name: ClassVar[str] = "conversation.updated"
    conversation_id: str
    message_count: int | None = None
    total_cost: Decimal | None = None


class CostCalculated(Event):
    name: ClassVar[str] = "cost.calculated"
    conversation_id: str | None
    provider: str
    model: str
    usage: TokenUsage
    cost: Decimal | None
    currency: str = "USD"
    user: str | None = None
    tenant: str | None = None
    tags: tuple[str, ...] = ()


class CostDisagreement(Event):
    """The cost the provider reported differs from the computed one by more than the tolerance
    (``AI_COST_TOLERANCE``): the price data is probably wrong for this model."""

    name: ClassVar[str] = "cost.disagreement"
    provider: str
    model: str
    computed: Decimal
    reported: Decimal
    priced_by: str
    tolerance: Decimal


class BudgetThresholdReached(Event):
    """A budget's spending crossed ``threshold`` (a fraction of ``limit``) in this period.

    Money shows as money: ``spent``, ``limit`` and ``threshold`` drop the
    ledger's 18-place tail (``0.0000594``, not ``0.000059400000000000``), JSON
    carries them as plain digits (never ``7.5E-8`` or ``1E+2``), and ``str()``
    is one sentence a person can read.
    """

    name: ClassVar[str] = "budget.threshold_reached"
    budget: str
    scope: str
    period: str
    period_start: datetime
    threshold: Decimal
    spent: Decimal
    limit: Decimal
    currency: str = "USD"

    @field_validator("threshold", "spent", "limit")
    @classmethod
    def _without_tail(cls, value: Decimal) -> Decimal:
        # The same amount, trailing zeros dropped, and never a positive exponent (100, not 1E+2).
        return Decimal(_money(value))

    @field_serializer("threshold", "spent", "limit", when_used="json")
    def _plain_digits(self, value: Decimal) -> str:
        return _money(value)

    def __str__(self) -> str:
        return (
            f"budget {self.budget!r} ({self.scope}, {self.period}) reached {_money(self.threshold * 100)}% "
            f"of its limit: spent {_money(self.spent)} of {_money(self.limit)} {self.currency}"
        )


class ModelSynced(Event):
    name: ClassVar[str] = "model.synced"
    provider: str
    models: int
    prices: int = 0


class ProviderSwitched(Event):
    name: ClassVar[str] = "provider.switched"
    from_model: str
    to_model: str
    reason: str


class RequestFailed(Event):
    name: ClassVar[str] = "request.failed"
    conversation_id: str | None
    provider: str
    model: str
    error_type: str
    message: str
    attempt: int = 1


class ToolCalled(Event):
    name: ClassVar[str] = "tool.called"
    conversation_id: str | None
    tool: str
    server: str | None = None
    is_error: bool = False
    duration_ms: float | None = None


class AgentStepCompleted(Event):
    name: ClassVar[str] = "agent.step_completed"
    conversation_id: str | None
    step: int
    tool_calls: int
    details: dict[str, Any] = Field(default_factory=dict)


class AgentActionRequested(Event):
    """The model asked for a tool call; emitted before approval and before it runs."""

    name: ClassVar[str] = "agent.action_requested"
    conversation_id: str | None
    call_id: str
    tool: str
    """The name the model used (``server__tool`` for an MCP tool)."""
    server: str | None = None
    server_tool: str | None = None
    """The tool's own name on its MCP server."""
    action_id: str | None = None
    """Set for a registered background action (``@ai.action``, docs/actions.md): its stored request."""


class AgentActionCompleted(Event):
    """A tool call ended: ``outcome`` is ``ok``, ``error`` (the tool or its server
    failed; the model is told), ``denied``, ``deferred`` (awaits ``approve()``/``deny()``)
    or ``unknown_tool``."""

    name: ClassVar[str] = "agent.action_completed"
    conversation_id: str | None
    call_id: str
    tool: str
    server: str | None = None
    server_tool: str | None = None
    outcome: str
    is_error: bool = False
    duration_ms: float | None = None
    action_id: str | None = None
    """Set for a registered background action: ``outcome`` is then ``succeeded`` or ``failed``."""


class ConversationCreated(Event):
    """A new conversation's first turn began (emitted once, before its first call)."""

    name: ClassVar[str] = "conversation.created"
    conversation_id: str
    user: str | None = None
    tenant: str | None = None
    tags: tuple[str, ...] = ()


class MessageAdded(Event):
    """One message joined a conversation: the user's, a model call's answer (with its
    usage and cost: the ledger row), or a tool's result."""

    name: ClassVar[str] = "message.added"
    conversation_id: str
    message_id: str
    role: str
    provider: str | None = None
    model: str | None = None
    usage: TokenUsage | None = None
    cost: Decimal | None = None
    outcome: str | None = None
    user: str | None = None
    tenant: str | None = None


class CostAnomalyDetected(Event):
    """A model call cost more than ``threshold`` times the recent average of its
    user's (``basis="user"``) or its model's (``basis="model"``) calls."""

    name: ClassVar[str] = "cost.anomaly_detected"
    conversation_id: str | None
    provider: str
    model: str
    cost: Decimal
    average: Decimal
    ratio: Decimal
    threshold: Decimal
    basis: str
    user: str | None = None
    tenant: str | None = None
    currency: str = "USD"


class CircuitOpened(Event):
    """A provider's circuit breaker opened after consecutive failures: calls to it
    are refused for ``cooldown_seconds`` (a service disruption)."""

    name: ClassVar[str] = "provider.circuit_opened"
    provider: str
    failures: int
    cooldown_seconds: float
    error_type: str


class ExternalIntegrationTriggered(Event):
    """An integration (a webhook endpoint, a notification channel) was sent
    something: ``status`` is ``delivered``, ``retrying`` or ``failed``."""

    name: ClassVar[str] = "integration.triggered"
    integration: str
    target: str
    status: str
    attempts: int = 1
    event_name: str | None = None
    event_id: str | None = None
    delivery_id: str | None = None
    status_code: int | None = None
    error: str | None = None


def event_types() -> list[type[Event]]:
    return [
        MessageSent,
        ResponseGenerated,
        ConversationUpdated,
        CostCalculated,
        BudgetThresholdReached,
        BudgetOvershoot,
        CostDisagreement,
        ModelSynced,
        ProviderSwitched,
        RequestFailed,
        ToolCalled,
        AgentStepCompleted,
        AgentActionRequested,
        AgentActionCompleted,
        ConversationCreated,
        MessageAdded,
        CostAnomalyDetected,
        CircuitOpened,
        ExternalIntegrationTriggered,
    ]


class BudgetOvershoot(Event):
    """A hard budget's spending passed its limit.

    Admission never lets the holds of calls in flight pass a hard limit, so
    this happens only when a call costs more than it held: the provider ran
    past ``max_tokens`` (``late=False``), or the call outlived its hold's
    lease and was settled after the hold had been released (``late=True``).
    The excess is charged (the ledger tells the truth), every later call is
    refused while the budget is over, and the overshoot is bounded by the
    calls in flight when it happened. Money shows as in
    :class:`BudgetThresholdReached`.
    """

    name: ClassVar[str] = "budget.overshoot"
    budget: str
    scope: str
    period: str
    period_start: datetime
    limit: Decimal
    spent: Decimal
    over_by: Decimal
    charged: Decimal
    """What the call that passed the limit was charged."""
    held: Decimal
    """What that call had held (its worst case at admission)."""
    late: bool = False
    currency: str = "USD"
    conversation_id: str | None = None

    @field_validator("limit", "spent", "over_by", "charged", "held")
    @classmethod
    def _without_tail(cls, value: Decimal) -> Decimal:
        return Decimal(_money(value))

    @field_serializer("limit", "spent", "over_by", "charged", "held", when_used="json")
    def _plain_digits(self, value: Decimal) -> str:
        return _money(value)

    def __str__(self) -> str:
        held, charged = _money(self.held), _money(self.charged)
        why = "its hold had expired" if self.late else f"a call held {held} and cost {charged}"
        return (
            f"budget {self.budget!r} ({self.scope}, {self.period}) is over its hard limit by "
            f"{_money(self.over_by)} {self.currency}: spent {_money(self.spent)} of {_money(self.limit)} ({why})"
        )
