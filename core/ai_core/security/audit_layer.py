"""AuditMiddleware: one hash-chained audit record per model call (``AI_AUDIT=on``).

Outermost layer (order 10), so refusals by policy, budget or the context guard
are recorded too. It writes after the call, in its own transaction, shielded
from cancellation; a failed audit write is logged (``audit_write_failed``) and
does not fail the call that was already made and paid for.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ai_core import errors
from ai_core.logging import get_logger
from ai_core.pipeline.middleware import Call, Middleware, Next, StreamNext
from ai_core.shield import shielded
from ai_core.types import ChatResponse, StreamCompleted, StreamEvent

if TYPE_CHECKING:
    from ai_core.config import Settings
    from ai_core.security.audit import AuditTrail

__all__ = ["AuditMiddleware"]

log = get_logger("ai_core.audit")

_REFUSALS = (errors.RequestValidationError, errors.BudgetExceededError)


class AuditMiddleware(Middleware):
    name = "audit"
    order = 10

    def __init__(self) -> None:
        self._trails: dict[int, AuditTrail] = {}

    def enabled(self, settings: Settings) -> bool:
        if settings.audit and not settings.persistence:
            raise errors.ConfigurationError(
                "the audit trail is kept in the database: turn persistence on (AI_PERSISTENCE)"
            )
        return bool(settings.audit)

    async def __call__(self, call: Call, call_next: Next) -> ChatResponse:
        occurred = datetime.now(UTC)
        try:
            response = await call_next(call)
        except BaseException as exc:
            await self._write(call, occurred, None, exc)
            raise
        await self._write(call, occurred, response, None)
        return response

    async def stream(self, call: Call, call_next: StreamNext) -> AsyncIterator[StreamEvent]:  # type: ignore[override]
        occurred = datetime.now(UTC)
        response: ChatResponse | None = None
        failure: BaseException | None = None
        try:
            async for event in call_next(call):
                if isinstance(event, StreamCompleted):
                    response = event.response
                yield event
        except BaseException as exc:
            failure = exc
            raise
        finally:
            await self._write(
                call,
                occurred,
                response,
                failure if response is None else None,
                abandoned=response is None and failure is None,
            )

    def _trail(self, call: Call) -> AuditTrail | None:
        database = call.services.database
        if database is None:
            return None
        trail = self._trails.get(id(database))
        if trail is None or trail.database is not database:
            from ai_core.security.audit import AuditTrail

            trail = self._trails[id(database)] = AuditTrail(database)
        return trail

    async def _write(
        self,
        call: Call,
        occurred: datetime,
        response: ChatResponse | None,
        error: BaseException | None,
        *,
        abandoned: bool = False,
    ) -> None:
        trail = self._trail(call)
        if trail is None:
            return
        entry = audit_entry(call, occurred, response, error, abandoned=abandoned)
        try:
            await shielded(trail.aappend, entry)
        except Exception as exc:
            log.error(
                "audit_write_failed",
                provider=entry["provider"],
                model=entry["model"],
                error=f"{type(exc).__name__}: {exc}",
            )


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def audit_entry(
    call: Call,
    occurred: datetime,
    response: ChatResponse | None,
    error: BaseException | None,
    *,
    abandoned: bool = False,
) -> dict[str, Any]:
    sent = call.state.get("sent_request")
    request = sent if sent is not None else call.request
    if response is not None:
        outcome = "answered"
    elif isinstance(error, _REFUSALS) or (
        isinstance(error, errors.ContextLengthExceededError) and error.context_window
    ):
        outcome = "refused"
    elif abandoned or (error is not None and not isinstance(error, Exception)):
        outcome = "cancelled"
    else:
        outcome = "failed"
    cost = response.cost if response is not None else call.state.get("recorded_cost")
    return {
        "occurred_at": occurred,
        "user": call.user,
        "tenant": call.tenant,
        "provider": (response.provider if response is not None else call.request.provider),
        "model": (response.model if response is not None else call.request.model),
        "conversation_id": call.conversation_id,
        "call_id": call.state.get("call_id"),
        "message_id": response.message_id if response is not None else None,
        "streaming": call.streaming,
        "request_sha256": _sha256(request.model_dump_json()) if sent is not None else None,
        "response_sha256": _sha256(response.message.model_dump_json()) if response is not None else None,
        "outcome": outcome,
        "error": type(error).__name__ if error is not None else None,
        "policy": list(call.state.get("policy_decisions", [])),
        "redactions": dict(call.state.get("pii_redactions", {})),
        "cost": str(cost.total) if cost is not None and cost.total is not None else None,
        "currency": cost.currency if cost is not None else None,
        "input_tokens": response.usage.input_tokens if response is not None else None,
        "output_tokens": response.usage.output_tokens if response is not None else None,
    }
