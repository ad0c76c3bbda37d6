"""The SQL :class:`~ai_core.pipeline.store.ConversationStore`.

Each method is one transaction run in a worker thread. Totals are SQL
increments (``message_count = message_count + :n``, ``total_cost =
money_add(total_cost, :cost)``) so concurrent writers never lose an update,
and message positions come from the same ``UPDATE ... RETURNING``, so they
are gap-free and unique per conversation. Writes use statements compiled
once (:mod:`ai_core.storage.fastsql`): this is the path every turn takes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, insert, select, update

from ai_core.pipeline.store import ConversationRecord, TurnContext, in_scope, new_id
from ai_core.redaction import redact
from ai_core.storage.base import table_of
from ai_core.storage.columns import as_utc, utcnow
from ai_core.storage.conversation_tables import (
    Conversation,
    ConversationParticipant,
    ConversationTag,
    FailedAttempt,
    StoredMessage,
)
from ai_core.storage.cost_tracker import add_to_cost_tracking, tags_key, tracking_values
from ai_core.storage.database import Database
from ai_core.storage.fastsql import Prepared, RawTransaction
from ai_core.storage.message_format import decode_message, encode_message
from ai_core.storage.money import Money, money_add, quantize_money
from ai_core.types import ChatResponse, Message

__all__ = ["SQLConversationStore"]

_conversations = table_of(Conversation)
_messages = table_of(StoredMessage)
_tags = table_of(ConversationTag)
_participants = table_of(ConversationParticipant)
_failures = table_of(FailedAttempt)

_MAX_ERROR_TEXT = 2000


def _insert_ignore(table: Any, returning: Any = None) -> Prepared:
    def build(dialect: str) -> Any:
        from ai_core.storage.sql import dialect_insert_for

        statement = dialect_insert_for(dialect, table).on_conflict_do_nothing()
        return statement if returning is None else statement.returning(returning)

    return Prepared(build)


# RETURNING tells whether the row was created (psycopg's rowcount is -1 here, and unknown in pipeline mode).
_CREATE_CONVERSATION = _insert_ignore(_conversations, returning=_conversations.c.id)
_ADD_TAG = _insert_ignore(_tags)
_ADD_PARTICIPANT = _insert_ignore(_participants)
_INSERT_MESSAGE = Prepared(insert(_messages))
_INSERT_FAILURE = Prepared(
    insert(_failures).values({c.name: bindparam(c.name, type_=c.type) for c in _failures.columns if c.name != "id"})
)
_SET_OUTCOME = Prepared(update(_messages).where(_messages.c.id == bindparam("id")).values(outcome=bindparam("outcome")))
_ADVANCE_BASE = (
    update(_conversations)
    .where(_conversations.c.id == bindparam("conversation_id"))
    .values(
        message_count=_conversations.c.message_count + bindparam("count"),
        updated_at=bindparam("now", type_=_conversations.c.updated_at.type),
        provider=bindparam("provider"),
        model=bindparam("model"),
    )
    .returning(_conversations.c.message_count)
)
# A user turn only moves the position; a response also adds to the running totals.
_ADVANCE = Prepared(_ADVANCE_BASE)
_ADVANCE_WITH_TOTALS = Prepared(
    _ADVANCE_BASE.values(
        total_cost=money_add(_conversations.c.total_cost, bindparam("cost", type_=Money())),
        unknown_cost_count=_conversations.c.unknown_cost_count + bindparam("unknown"),
        total_input_tokens=_conversations.c.total_input_tokens + bindparam("input_tokens"),
        total_output_tokens=_conversations.c.total_output_tokens + bindparam("output_tokens"),
    )
)


class SQLConversationStore:
    """Conversations and the message ledger in a :class:`Database`."""

    def __init__(self, database: Database, *, owns_database: bool = False) -> None:
        self.database = database
        self._owns_database = owns_database
        self.written: list[Callable[[tuple[date, str, str]], None]] = []
        """Told the ``(day, provider, model)`` of each billable call and failed attempt once
        it is written: how the analytics listener learns what to refresh without an
        event per call (which cost a fifth of the persisted path's CPU)."""

    # -- the protocol -------------------------------------------------------------

    async def load(
        self, conversation_id: str, *, tenant: str | None = None, user: str | None = None
    ) -> ConversationRecord | None:
        return await self.database.run(self._load, conversation_id, tenant, user)

    async def save_user_turn(self, turn: TurnContext) -> None:
        """Stage the turn's new messages: they are written in the same transaction
        as the turn's first model call (or failure), so a call costs one
        transaction, not two. Their ids are known now."""
        turn.message_ids = [new_id() for _ in turn.new_messages]
        turn.staged = bool(turn.new_messages)

    async def flush(self, turn: TurnContext) -> None:
        if turn.staged:
            await self._write(turn, lambda tx: None)

    async def record_call(
        self, turn: TurnContext, response: ChatResponse, *, outcome: str = "answered", call_id: str | None = None
    ) -> str:
        # The staged user messages go in with the call's own row: one conversation update, one insert
        # (on PostgreSQL, one statement in all).
        now = utcnow()
        result: str = await self._write(
            turn,
            lambda tx: self._record_call(tx, turn, response, outcome, call_id, now),
            takes_staged=True,
            one_statement=self.database.dialect == "postgresql",
        )
        if self.written and outcome != "cache_hit":
            self._tell((now.date(), response.provider, response.model))
        return result

    async def save_messages(self, turn: TurnContext, messages: list[Message]) -> list[str]:
        if not messages:
            return []
        result: list[str] = await self._write(turn, lambda tx: self._save_messages(tx, turn, messages))
        return result

    async def set_outcome(self, turn: TurnContext, message_id: str, outcome: str) -> None:
        await self._write(turn, lambda tx: tx.execute(_SET_OUTCOME, {"id": message_id, "outcome": outcome}))

    async def save_failure(self, turn: TurnContext, error: BaseException) -> None:
        await self.save_failed_attempts(turn, [(turn.provider, turn.model, error)])

    async def save_failed_attempts(self, turn: TurnContext, attempts: Sequence[tuple[str, str, BaseException]]) -> None:
        rows = [{"provider": provider, "model": model, **_error_row(error)} for provider, model, error in attempts]
        if not rows:
            return
        now = utcnow()
        await self._write(turn, lambda tx: self._save_failures(tx, turn, rows, now))
        for provider, model, _ in attempts:
            self._tell((now.date(), provider, model))

    def _tell(self, key: tuple[date, str, str]) -> None:
        for written in self.written:
            written(key)

    async def _write(
        self,
        turn: TurnContext,
        job: Callable[[RawTransaction], Any],
        *,
        takes_staged: bool = False,
        one_statement: bool = False,
    ) -> Any:
        """Run ``job`` in a write transaction, after the turn's staged user messages
        (or with them, when the job ``takes_staged`` itself). A job of ``one_statement``
        runs in autocommit where the database has a cheaper path for it."""
        if not turn.staged:
            return await self.database.write_job(job, one_statement=one_statement)

        def with_staged(tx: RawTransaction) -> Any:
            turn.staged = True  # a job may run again after a rollback (PostgreSQL's group commit)
            if not takes_staged:
                self._save_user_turn(tx, turn)
            result = job(tx)
            turn.staged = False  # only once every statement of the job has run
            return result

        try:
            return await self.database.write_job(with_staged, one_statement=one_statement)
        except BaseException:
            turn.staged = True  # the transaction did not commit: the messages are still to write
            raise

    async def aclose(self) -> None:
        if self._owns_database:
            await self.database.aclose()

    # -- reads -------------------------------------------------------------------------

    def _load(self, conversation_id: str, tenant: str | None, user: str | None) -> ConversationRecord | None:
        with self.database.read() as conn:
            row = conn.execute(select(_conversations).where(_conversations.c.id == conversation_id)).mappings().first()
            if row is None or not in_scope(row["tenant"], row["user_id"], tenant, user):
                return None
            rows = conn.execute(
                select(_messages.c.role, _messages.c.name, _messages.c.format_version, _messages.c.parts)
                .where(_messages.c.conversation_id == conversation_id)
                .order_by(_messages.c.position)
            ).all()
        return ConversationRecord(
            id=row["id"],
            messages=[decode_message(r.role, r.name, r.format_version, r.parts) for r in rows],
            user=row["user_id"],
            tenant=row["tenant"],
            tags=tuple(row["tags"] or ()),
            title=row["title"],
            metadata=dict(row["metadata"] or {}),
            provider=row["provider"],
            model=row["model"],
            stored=True,
        )

    # -- writes ------------------------------------------------------------------------

    def _ensure_conversation(
        self, tx: RawTransaction, turn: TurnContext, now: Any, first: dict[str, Any] | None = None
    ) -> bool:
        """Create the conversation unless it exists (with ``first``'s count and
        totals, when given); add its tags. Whether this created it."""
        record = turn.conversation
        tags = turn.all_tags
        created = tx.returned(_CREATE_CONVERSATION, self._conversation_row(turn, now, first or {})) != []
        if tags:
            tx.executemany(_ADD_TAG, [{"conversation_id": record.id, "tag": tag} for tag in tags])
        return created

    @staticmethod
    def _conversation_row(turn: TurnContext, now: Any, first: dict[str, Any]) -> dict[str, Any]:
        """The conversation's row as its first write creates it, with ``first``'s count and totals."""
        record = turn.conversation
        return {
            "id": record.id,
            "user_id": record.user or turn.user,
            "tenant": record.tenant or turn.tenant,
            "tags": list(turn.all_tags),
            "title": record.title,
            "metadata": dict(record.metadata),
            "status": "active",
            "provider": first.get("provider", turn.provider),
            "model": first.get("model", turn.model),
            "message_count": first.get("count", 0),
            "total_cost": first.get("cost", Decimal(0)),
            "unknown_cost_count": first.get("unknown", 0),
            "total_input_tokens": first.get("input_tokens", 0),
            "total_output_tokens": first.get("output_tokens", 0),
            "created_at": now,
            "updated_at": now,
            "archived_at": None,
        }

    @staticmethod
    def _add_tags(tx: RawTransaction, turn: TurnContext) -> None:
        cid = turn.conversation.id
        tx.executemany(_ADD_TAG, [{"conversation_id": cid, "tag": tag} for tag in turn.all_tags])

    def _advance(self, tx: RawTransaction, turn: TurnContext, values: dict[str, Any], totals: bool) -> int:
        """Add messages (and totals) to the conversation, creating it on its first turn;
        return the new message count."""
        record = turn.conversation
        if not record.stored:
            # A conversation this process has not seen is (almost always) new: one INSERT
            # carries the turn's count and totals; if it exists after all, update it.
            record.stored = True
            if self._ensure_conversation(tx, turn, values["now"], values if totals else {"count": values["count"]}):
                return int(values["count"])
        statement = _ADVANCE_WITH_TOTALS if totals else _ADVANCE
        rows = tx.returned(statement, values)
        if not rows:  # deleted meanwhile (or the hint was wrong): create it, then count
            self._ensure_conversation(tx, turn, values["now"])
            rows = tx.returned(statement, values)
        return int(rows[0][0])

    @staticmethod
    def _message_row(
        message: Message, *, conversation_id: str, position: int, turn: TurnContext, now: Any, turn_id: str | None
    ) -> dict[str, Any]:
        version, parts = encode_message(message)
        return {
            "id": new_id(),
            "conversation_id": conversation_id,
            "position": position,
            "turn_id": turn_id,
            "role": message.role,
            "name": message.name,
            "format_version": version,
            "parts": parts,
            "user_id": turn.user,
            "tenant": turn.tenant,
            "provider": None,
            "model": None,
            "billable": False,
            "finish_reason": None,
            "response_id": None,
            "input_tokens": 0,
            "output_tokens": 0,
            "cached_input_tokens": 0,
            "cache_write_tokens": 0,
            "reasoning_tokens": 0,
            "cost": None,
            "cost_known": False,
            "currency": None,
            "price_effective_from": None,
            "priced_by": None,
            "reported_cost": None,
            "latency_ms": None,
            "streamed": False,
            "outcome": None,
            "usage_estimated": False,
            "call_id": None,
            "tags": None,
            "created_at": now,
            "created_on": now.date(),
        }

    def _save_user_turn(self, tx: RawTransaction, turn: TurnContext) -> list[str]:
        now = utcnow()
        count = len(turn.new_messages)
        self._tag_resumed(tx, turn)
        values = {
            "conversation_id": turn.conversation.id,
            "count": count,
            "now": now,
            "provider": turn.provider,
            "model": turn.model,
        }
        rows = self._staged_rows(turn, self._advance(tx, turn, values, totals=False) - count + 1, now)
        if rows:
            tx.executemany(_INSERT_MESSAGE, rows)
        participants = self._user_participant(turn, now)
        if participants:
            tx.executemany(_ADD_PARTICIPANT, participants)
        return [row["id"] for row in rows]

    def _tag_resumed(self, tx: RawTransaction, turn: TurnContext) -> None:
        """New tags on a stored conversation join its tag rows (a new one gets them as it is created)."""
        if turn.tags and turn.conversation.stored:
            self._add_tags(tx, turn)

    def _staged_rows(self, turn: TurnContext, first: int, now: Any) -> list[dict[str, Any]]:
        """The rows of the turn's new (staged) messages, at positions from ``first``."""
        cid = turn.conversation.id
        rows = [
            self._message_row(m, conversation_id=cid, position=first + i, turn=turn, now=now, turn_id=None)
            for i, m in enumerate(turn.new_messages)
        ]
        for row, message_id in zip(rows, turn.message_ids, strict=False):
            row["id"] = message_id
        turn_id = next((r["id"] for r in rows if r["role"] == "user"), rows[0]["id"] if rows else None)
        for row in rows:
            row["turn_id"] = turn_id
        return rows

    @staticmethod
    def _user_participant(turn: TurnContext, now: Any) -> list[dict[str, Any]]:
        participant = turn.user or turn.conversation.user
        if participant and any(m.role == "user" for m in turn.new_messages):
            return [
                {
                    "conversation_id": turn.conversation.id,
                    "kind": "user",
                    "participant": participant,
                    "joined_at": now,
                    "role": None,
                }
            ]
        return []

    def _save_messages(self, tx: RawTransaction, turn: TurnContext, messages: list[Message]) -> list[str]:
        now = utcnow()
        cid = turn.conversation.id
        turn_id = turn.message_ids[0] if turn.message_ids else None
        values = {
            "conversation_id": cid,
            "count": len(messages),
            "now": now,
            "provider": turn.provider,
            "model": turn.model,
        }
        first = self._advance(tx, turn, values, totals=False) - len(messages) + 1
        rows = [
            self._message_row(m, conversation_id=cid, position=first + i, turn=turn, now=now, turn_id=turn_id)
            for i, m in enumerate(messages)
        ]
        tx.executemany(_INSERT_MESSAGE, rows)
        return [row["id"] for row in rows]

    def _record_call(
        self,
        tx: RawTransaction,
        turn: TurnContext,
        response: ChatResponse,
        outcome: str,
        call_id: str | None,
        now: Any,
    ) -> str:
        """One model call: its message, usage and money, the conversation totals and
        the cost-tracking row, in one transaction; with the turn's staged user
        messages when it is the turn's first write (one update, one insert)."""
        if tx.dialect.name == "postgresql":
            return self._record_call_in_one_statement(tx, turn, response, outcome, call_id, now)
        call = self._call_rows(turn, response, outcome, now)
        staged = call.staged
        if staged:
            self._tag_resumed(tx, turn)
        position = self._advance(tx, turn, call.totals, totals=True)
        row = call.answer(turn, position, call_id)
        if staged:
            rows = self._staged_rows(turn, position - staged, call.now)
            rows.append(row)
            tx.executemany(_INSERT_MESSAGE, rows)
        else:
            tx.execute(_INSERT_MESSAGE, row)
        tx.executemany(_ADD_PARTICIPANT, call.participants(turn))
        if call.billable:
            add_to_cost_tracking(tx, row, tags=tags_key(call.tags), now=call.now)
        return str(row["id"])

    def _record_call_in_one_statement(
        self,
        tx: RawTransaction,
        turn: TurnContext,
        response: ChatResponse,
        outcome: str,
        call_id: str | None,
        now: Any,
    ) -> str:
        """The same write as :meth:`_record_call`, as one PostgreSQL statement (:mod:`ai_core.storage.pg_ledger`)."""
        from ai_core.storage.pg_ledger import as_json, record_sql

        call = self._call_rows(turn, response, outcome, now)
        record = turn.conversation
        conversation = self._conversation_row(turn, call.now, call.totals)
        row = call.answer(turn, 0, call_id)
        rows = [*self._staged_rows(turn, 0, call.now), row] if call.staged else [row]
        for back, message in enumerate(reversed(rows)):  # numbered back from the new message count
            del message["position"]
            message["back"] = back
        tracking = [tracking_values(row, tags=tags_key(call.tags), now=call.now)] if call.billable else []
        record.stored = True
        tx.cursor.execute(
            record_sql(),
            {
                "conversation": as_json(conversation),
                "messages": as_json(rows),
                "participants": as_json(call.participants(turn)),
                "id": record.id,
                "tags": json.dumps(list(call.tags)),
                "tracking": as_json(tracking),
            },
        )
        return str(row["id"])

    def _call_rows(self, turn: TurnContext, response: ChatResponse, outcome: str, now: Any) -> _CallRows:
        usage = response.usage
        cost = response.cost
        amount = quantize_money(cost.total) if cost is not None and cost.total is not None else None
        billable = outcome != "cache_hit"  # a cache hit: the usage it saved, on its row only, never in totals
        staged = len(turn.new_messages) if turn.staged else 0
        totals = {
            "conversation_id": turn.conversation.id,
            "count": staged + 1,
            "now": now,
            "provider": response.provider,
            "model": response.model,
            "cost": amount if amount is not None else Decimal(0),
            "unknown": 0 if amount is not None else 1,
            "input_tokens": usage.input_tokens if billable else 0,
            "output_tokens": usage.output_tokens if billable else 0,
        }
        return _CallRows(self, response, outcome, amount, billable, staged, now, turn.all_tags, totals)

    def _save_failures(self, tx: RawTransaction, turn: TurnContext, errors: list[dict[str, Any]], now: Any) -> None:
        self._ensure_conversation(tx, turn, now)
        common = {
            "conversation_id": turn.conversation.id,
            "turn_id": turn.message_ids[0] if turn.message_ids else None,
            "user_id": turn.user,
            "tenant": turn.tenant,
            "created_at": now,
            "created_on": now.date(),
        }
        tx.executemany(_INSERT_FAILURE, [{**common, **error} for error in errors])

    # -- extras beyond the protocol -------------------------------------------------

    async def totals(self, conversation_id: str) -> dict[str, Any] | None:
        """The stored running totals of a conversation (for checks and the CLI)."""
        return await self.database.run(self._totals, conversation_id)

    def _totals(self, conversation_id: str) -> dict[str, Any] | None:
        with self.database.read() as conn:
            row = conn.execute(select(_conversations).where(_conversations.c.id == conversation_id)).mappings().first()
        if row is None:
            return None
        data = dict(row)
        data["created_at"], data["updated_at"] = as_utc(data["created_at"]), as_utc(data["updated_at"])
        return data


class _CallRows:
    """What one model call writes, whichever database it goes to."""

    def __init__(
        self,
        store: SQLConversationStore,
        response: ChatResponse,
        outcome: str,
        amount: Decimal | None,
        billable: bool,
        staged: int,
        now: Any,
        tags: tuple[str, ...],
        totals: dict[str, Any],
    ) -> None:
        self.store, self.response, self.outcome, self.amount = store, response, outcome, amount
        self.billable, self.staged, self.now, self.tags, self.totals = billable, staged, now, tags, totals

    def answer(self, turn: TurnContext, position: int, call_id: str | None) -> dict[str, Any]:
        response, usage, cost = self.response, self.response.usage, self.response.cost
        row = self.store._message_row(
            response.message,
            conversation_id=turn.conversation.id,
            position=position,
            turn=turn,
            now=self.now,
            turn_id=turn.message_ids[0] if turn.message_ids else None,
        )
        row.update(
            provider=response.provider,
            model=response.model,
            billable=self.billable,
            finish_reason=response.finish_reason,
            response_id=response.id,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cached_input_tokens=usage.cached_input_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            cost=self.amount,
            cost_known=self.amount is not None,
            currency=cost.currency if cost is not None else None,
            price_effective_from=cost.price_effective_from if cost is not None else None,
            priced_by=cost.priced_by if cost is not None else "none",
            reported_cost=cost.reported if cost is not None else None,
            latency_ms=response.latency_ms,
            streamed=turn.streamed,
            outcome=self.outcome,
            usage_estimated=usage.estimated,
            call_id=call_id,
            tags=list(self.tags) if self.tags else None,
        )
        return row

    def participants(self, turn: TurnContext) -> list[dict[str, Any]]:
        response = self.response
        rows = [
            {
                "conversation_id": turn.conversation.id,
                "kind": "model",
                "participant": f"{response.provider}/{response.model}",
                "joined_at": self.now,
                "role": None,
            }
        ]
        if self.staged:
            rows += self.store._user_participant(turn, self.now)
        return rows


def _error_row(error: BaseException) -> dict[str, Any]:
    text = redact(f"{error}")[:_MAX_ERROR_TEXT]
    return {
        "error_type": type(error).__name__,
        "message": text,
        "status_code": getattr(error, "status_code", None),
    }
