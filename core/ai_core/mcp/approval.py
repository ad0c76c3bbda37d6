"""Who may run a tool call: allow lists and approvers.

An approver looks at one :class:`ToolCallRequest` before it runs and answers
:meth:`Approval.approve`, :meth:`Approval.deny` (the model is told the reason)
or :meth:`Approval.defer` (the turn ends with the call stored as pending;
``conversation.approve(call_id)`` or ``.deny(call_id, reason)`` resumes it,
in this process or another). Approvers come from plugins
(``register_tool_approvers``) and from one conversation
(``.approver(func)``); plugins' run first, by ``order``. The first denial
wins; otherwise any deferral defers; otherwise the call runs. An approver that
raises denies (fail closed). ``None`` means no opinion.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Approval", "ToolApprover", "ToolCallRequest", "decide"]

Decision = Literal["approve", "deny", "defer"]


@dataclass(frozen=True)
class ToolCallRequest:
    """One tool call the model asked for, as an approver sees it."""

    conversation_id: str
    call_id: str
    name: str
    """The name the model used (namespaced for MCP tools: ``server__tool``)."""
    tool: str
    """The tool's own name on its server (or the function's name)."""
    server: str | None
    """The MCP server, or None for a Python function tool."""
    arguments: dict[str, Any] = field(default_factory=dict)
    user: str | None = None
    tenant: str | None = None


@dataclass(frozen=True)
class Approval:
    decision: Decision
    reason: str = ""

    @classmethod
    def approve(cls) -> Approval:
        return cls("approve")

    @classmethod
    def deny(cls, reason: str = "") -> Approval:
        return cls("deny", reason)

    @classmethod
    def defer(cls, reason: str = "") -> Approval:
        return cls("defer", reason)


ApproverFunc = Callable[
    [ToolCallRequest], "Approval | Decision | bool | Awaitable[Approval | Decision | bool | None] | None"
]


@dataclass(frozen=True)
class ToolApprover:
    """What ``register_tool_approvers`` registers: a named check, plain or ``async``."""

    name: str
    check: ApproverFunc
    order: int = 0


async def decide(request: ToolCallRequest, approvers: Sequence[ToolApprover | ApproverFunc]) -> Approval:
    """The combined decision of ``approvers`` on ``request``."""
    deferred: Approval | None = None
    for approver in approvers:
        check = approver.check if isinstance(approver, ToolApprover) else approver
        label = approver.name if isinstance(approver, ToolApprover) else getattr(check, "__name__", "approver")
        try:
            answer: Any = check(request)
            if inspect.isawaitable(answer):
                answer = await answer
            approval = _normalise(answer)
        except Exception as exc:  # fail closed: a broken check never lets a call through
            return Approval.deny(f"approver {label} failed: {type(exc).__name__}: {exc}")
        if approval is None:
            continue
        if approval.decision == "deny":
            return approval
        if approval.decision == "defer" and deferred is None:
            deferred = approval
    return deferred or Approval.approve()


def _normalise(answer: Any) -> Approval | None:
    if answer is None:
        return None
    if isinstance(answer, Approval):
        return answer
    if answer is True:
        return Approval.approve()
    if answer is False:
        return Approval.deny()
    if answer in ("approve", "deny", "defer"):
        return Approval(answer)
    raise TypeError(f"an approver must return Approval, 'approve', 'deny', 'defer', a bool or None, not {answer!r}")
