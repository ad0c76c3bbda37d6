"""Which batch items the ledger says were already answered.

A run with a job name gives every item a fixed conversation id
(:func:`~ai_core.batch.runner.batch_conversation_id`). The ledger records a
call the moment its answer arrives, so after an interruption the answer of an
item whose output line was never written is found here, with its usage and
cost, instead of being bought a second time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ai_core.types import Cost, TokenUsage

if TYPE_CHECKING:
    from ai_core.storage.database import Database

__all__ = ["LedgerAnswer", "LedgerState", "read_ledger"]

_CHUNK = 500  # ids per query: well under every database's bound-parameter limit


@dataclass
class LedgerAnswer:
    """The recorded answer of one conversation: the last response's text, the calls' totals."""

    text: str
    usage: TokenUsage
    cost: Cost
    model: str
    finish_reason: str | None


@dataclass
class LedgerState:
    answered: dict[str, LedgerAnswer] = field(default_factory=dict)
    started: set[str] = field(default_factory=set)
    """Conversations that exist but hold no answer (a call that failed or was cut): send again."""


async def read_ledger(database: Database | None, conversation_ids: Sequence[str]) -> LedgerState:
    """What the ledger holds for ``conversation_ids``; nothing without a database."""
    state = LedgerState()
    if database is None or not conversation_ids:
        return state
    for start in range(0, len(conversation_ids), _CHUNK):
        chunk = list(conversation_ids[start : start + _CHUNK])
        await database.run(_read_chunk, database, chunk, state)
    return state


def _read_chunk(database: Database, ids: list[str], state: LedgerState) -> None:
    from sqlalchemy import select

    from ai_core.storage.base import table_of
    from ai_core.storage.conversation_tables import StoredMessage
    from ai_core.storage.message_format import decode_message

    m = table_of(StoredMessage)
    query = (
        select(
            m.c.conversation_id, m.c.role, m.c.format_version, m.c.parts, m.c.billable, m.c.outcome,
            m.c.provider, m.c.model, m.c.finish_reason, m.c.input_tokens, m.c.output_tokens,
            m.c.cached_input_tokens, m.c.cache_write_tokens, m.c.reasoning_tokens, m.c.usage_estimated,
            m.c.cost, m.c.cost_known, m.c.currency, m.c.priced_by, m.c.price_effective_from,
        )
        .where(m.c.conversation_id.in_(ids))
        .order_by(m.c.conversation_id, m.c.position)
    )  # fmt: skip
    rows: dict[str, list[Any]] = {}
    with database.read() as conn:
        for row in conn.execute(query):
            rows.setdefault(row.conversation_id, []).append(row)
    for conversation_id, messages in rows.items():
        last = messages[-1]
        calls = [r for r in messages if r.billable]
        if last.role != "assistant" or not last.billable or last.outcome != "answered":
            state.started.add(conversation_id)
            continue
        message = decode_message(last.role, None, last.format_version, last.parts)
        usage = TokenUsage()
        for r in calls:
            usage = usage + TokenUsage(
                input_tokens=r.input_tokens, output_tokens=r.output_tokens, cached_input_tokens=r.cached_input_tokens,
                cache_write_tokens=r.cache_write_tokens, reasoning_tokens=r.reasoning_tokens,
                estimated=bool(r.usage_estimated),
            )  # fmt: skip
        if all(r.cost_known for r in calls):
            cost = Cost(
                total=sum((Decimal(r.cost) for r in calls), Decimal(0)), currency=last.currency or "USD",
                provider=last.provider, model=last.model, priced_by=last.priced_by or "price-table",
                price_effective_from=last.price_effective_from,
            )  # fmt: skip
        else:
            cost = Cost.unknown(last.provider, last.model)
        state.answered[conversation_id] = LedgerAnswer(
            text=message.text, usage=usage, cost=cost, model=f"{last.provider}/{last.model}",
            finish_reason=last.finish_reason,
        )  # fmt: skip
