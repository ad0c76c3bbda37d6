"""PostgreSQL's ledger write: one statement per call, calls sent together, a failure isolated."""

from __future__ import annotations

from decimal import Decimal

import anyio
import pytest
from sqlalchemy import select

from ai_core.pipeline.store import ConversationRecord, TurnContext, new_id
from ai_core.storage.conversation_tables import Conversation, StoredMessage
from ai_core.storage.pg_ledger import record_sql
from ai_core.types import ChatResponse, Cost, Message, TokenUsage

pytestmark = pytest.mark.anyio

_postgres_only = pytest.mark.parametrize("db_backend", [pytest.param("postgresql", marks=pytest.mark.postgres)])


def test_the_statement_is_short_enough_for_psycopg_to_parse_it_once() -> None:
    # psycopg re-parses (in Python) every execution of a query over 4,096 characters or with
    # more than 50 parameters; that cost more than the rest of a ledger write.
    import psycopg._queries as queries

    sql = record_sql()
    assert len(sql) <= queries.MAX_CACHED_STATEMENT_LENGTH
    assert sql.count("%(") <= queries.MAX_CACHED_STATEMENT_PARAMS


def _turn() -> TurnContext:
    return TurnContext(
        conversation=ConversationRecord(id=new_id()),
        new_messages=[Message.user("hi")],
        provider="fake",
        model="echo",
    )


def _response(model: str = "echo") -> ChatResponse:
    return ChatResponse(
        provider="fake",
        model=model,
        message=Message.assistant("Echo: hi"),
        usage=TokenUsage(input_tokens=3, output_tokens=4),
        cost=Cost(total=Decimal("0.0000075")),
        latency_ms=1.0,
    )


@_postgres_only
async def test_calls_written_together_fail_alone(database) -> None:
    store = database.conversation_store(owns_database=False)
    turns = [_turn() for _ in range(24)]
    failing = {3, 11, 17}  # a model name longer than its column: the database refuses that row
    outcomes: dict[int, str] = {}

    async def call(index: int) -> None:
        turn = turns[index]
        await store.save_user_turn(turn)
        try:
            await store.record_call(turn, _response("m" * 300 if index in failing else "echo"))
            outcomes[index] = "stored"
        except Exception as exc:
            outcomes[index] = f"{type(exc).__name__}: {exc}"

    async with anyio.create_task_group() as group:
        for index in range(len(turns)):
            group.start_soon(call, index)

    assert {i for i, outcome in outcomes.items() if outcome != "stored"} == failing, outcomes
    with database.read() as conn:
        stored = dict(conn.execute(select(Conversation.__table__.c.id, Conversation.__table__.c.message_count)).all())
        positions = conn.execute(
            select(StoredMessage.__table__.c.conversation_id, StoredMessage.__table__.c.position)
        ).all()
    assert set(stored) == {turns[i].conversation.id for i in range(len(turns)) if i not in failing}
    assert set(stored.values()) == {2}
    assert sorted(p for c, p in positions if c == turns[0].conversation.id) == [1, 2]

    # A failed call keeps its user turn staged: the next write carries it.
    retried = turns[3]
    assert retried.staged
    await store.record_call(retried, _response())
    record = await store.load(retried.conversation.id)
    assert record is not None and [m.role for m in record.messages] == ["user", "assistant"]


@_postgres_only
async def test_one_conversation_written_from_many_tasks_stays_numbered(database) -> None:
    store = database.conversation_store(owns_database=False)
    conversation = ConversationRecord(id=new_id())

    async def call() -> None:
        turn = TurnContext(conversation=conversation, new_messages=[Message.user("hi")], provider="fake", model="echo")
        await store.save_user_turn(turn)
        await store.record_call(turn, _response())

    async with anyio.create_task_group() as group:
        for _ in range(30):
            group.start_soon(call)
    totals = await store.totals(conversation.id)
    messages = StoredMessage.__table__
    with database.read() as conn:
        positions = sorted(
            conn.execute(select(messages.c.position).where(messages.c.conversation_id == conversation.id)).scalars()
        )
    assert totals is not None and totals["message_count"] == 60
    assert totals["total_cost"] == Decimal("0.0000075") * 30
    assert positions == list(range(1, 61))


@_postgres_only
async def test_a_call_whose_values_cannot_be_stored_fails_alone_and_the_others_are_stored_once(database) -> None:
    store = database.conversation_store(owns_database=False)
    turns = [_turn() for _ in range(16)]
    broken = {2, 9}
    for index in broken:  # a value JSON cannot carry: the job fails in Python, before its statement
        turns[index].conversation.metadata["when"] = {1, 2}
    outcomes: dict[int, str] = {}

    async def call(index: int) -> None:
        await store.save_user_turn(turns[index])
        try:
            await store.record_call(turns[index], _response())
            outcomes[index] = "stored"
        except TypeError:
            outcomes[index] = "failed"

    async with anyio.create_task_group() as group:
        for index in range(len(turns)):
            group.start_soon(call, index)
    assert {i for i, outcome in outcomes.items() if outcome == "failed"} == broken
    with database.read() as conn:
        counts = dict(conn.execute(select(Conversation.__table__.c.id, Conversation.__table__.c.message_count)).all())
        rows = conn.execute(select(StoredMessage.__table__.c.id)).all()
    assert set(counts.values()) == {2} and len(counts) == len(turns) - len(broken)
    assert len(rows) == 2 * (len(turns) - len(broken))  # nothing written twice by the re-run
