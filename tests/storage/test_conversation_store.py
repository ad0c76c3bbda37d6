"""The SQL conversation store against the pipeline's protocol, on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from ai_core.errors import RateLimitError
from ai_core.pipeline.store import ConversationRecord, ConversationStore, TurnContext, new_id
from ai_core.storage.conversation_tables import FailedAttempt, StoredMessage
from ai_core.types import ChatResponse, Cost, ImagePart, Message, TokenUsage, ToolCallPart

pytestmark = pytest.mark.anyio

MESSAGES = StoredMessage.__table__


def _turn(conversation_id: str | None = None, text: str = "hi", **kwargs: object) -> TurnContext:
    record = ConversationRecord(
        id=conversation_id or new_id(),
        user=kwargs.get("user"),
        tenant=kwargs.get("tenant"),  # type: ignore[arg-type]
        tags=kwargs.get("tags", ()),  # type: ignore[arg-type]
    )
    return TurnContext(
        conversation=record,
        new_messages=[Message.user(text)],
        provider="fake",
        model="echo",
        user=kwargs.get("user"),
        tenant=kwargs.get("tenant"),
        tags=kwargs.get("tags", ()),  # type: ignore[arg-type]
    )


def _response(text: str = "Echo: hi", cost: str | None = "0.0000075", **usage: int) -> ChatResponse:
    return ChatResponse(
        provider="fake",
        model="echo",
        message=Message.assistant(text),
        usage=TokenUsage(input_tokens=usage.get("input", 3), output_tokens=usage.get("output", 4)),
        cost=Cost(total=Decimal(cost)) if cost is not None else Cost.unknown("fake", "echo"),
        latency_ms=12.5,
    )


async def test_store_satisfies_protocol(database) -> None:
    assert isinstance(database.conversation_store(), ConversationStore)


async def test_user_turn_then_response_round_trip(database) -> None:
    store = database.conversation_store()
    turn = _turn(user="alice", tenant="acme", tags=("support", "beta"))
    await store.save_user_turn(turn)
    assert len(turn.message_ids) == 1 and turn.staged
    # Staged: written with the turn's first write (one transaction per model call), or by flush().
    assert await store.load(turn.conversation.id, tenant="acme", user="alice") is None
    await store.flush(turn)
    assert not turn.staged
    record = await store.load(turn.conversation.id, tenant="acme", user="alice")
    assert record is not None and [m.text for m in record.messages] == ["hi"]
    assert record.user == "alice" and record.tenant == "acme" and set(record.tags) == {"support", "beta"}

    call = ChatResponse(
        provider="fake",
        model="echo",
        usage=TokenUsage(input_tokens=2, output_tokens=1),
        cost=Cost(total=Decimal(1)),
        message=Message(role="assistant", parts=[ToolCallPart(id="c1", name="add", arguments={"a": 1})]),
    )
    first_id = await store.record_call(turn, call, call_id="hold1")
    await store.save_messages(turn, [Message.tool_result("c1", "2", name="add")])
    message_id = await store.record_call(turn, _response())
    record = await store.load(turn.conversation.id, tenant="acme", user="alice")
    assert record is not None
    assert [m.role for m in record.messages] == ["user", "assistant", "tool", "assistant"]
    assert record.messages[1].tool_calls[0].arguments == {"a": 1}
    totals = await store.totals(turn.conversation.id)
    assert totals["message_count"] == 4
    assert totals["total_cost"] == Decimal("1.0000075")
    assert (totals["total_input_tokens"], totals["total_output_tokens"]) == (5, 5)
    with database.read() as conn:
        row = conn.execute(select(MESSAGES).where(MESSAGES.c.id == message_id)).one()
        first = conn.execute(select(MESSAGES).where(MESSAGES.c.id == first_id)).one()
    assert (row.provider, row.model, row.input_tokens, row.output_tokens) == ("fake", "echo", 3, 4)
    assert row.latency_ms == 12.5
    assert row.cost == Decimal("0.0000075") and row.cost_known and row.billable
    assert row.format_version == 1 and row.outcome == "answered" and not row.usage_estimated
    assert sorted(row.tags) == ["beta", "support"] and row.tenant == "acme"
    assert first.call_id == "hold1" and first.billable and first.cost == Decimal(1)


async def test_outcome_and_estimated_usage_are_recorded(database) -> None:
    store = database.conversation_store()
    turn = _turn()
    await store.save_user_turn(turn)
    estimated = _response().model_copy(update={"usage": TokenUsage(input_tokens=9, output_tokens=2, estimated=True)})
    message_id = await store.record_call(turn, estimated, outcome="interrupted")
    with database.read() as conn:
        row = conn.execute(select(MESSAGES).where(MESSAGES.c.id == message_id)).one()
    assert row.outcome == "interrupted" and row.usage_estimated and row.input_tokens == 9
    await store.set_outcome(turn, message_id, "parse_failed")
    with database.read() as conn:
        assert conn.execute(select(MESSAGES.c.outcome).where(MESSAGES.c.id == message_id)).scalar() == "parse_failed"


async def test_a_conversation_is_read_only_in_its_scope(database) -> None:
    store = database.conversation_store()
    owned = _turn(user="alice", tenant="acme")
    await store.save_user_turn(owned)
    await store.flush(owned)
    cid = owned.conversation.id
    assert await store.load(cid, tenant="acme", user="alice") is not None
    for tenant, user in [(None, None), ("other", "alice"), ("acme", None), ("acme", "bob"), (None, "alice")]:
        assert await store.load(cid, tenant=tenant, user=user) is None
    shared = _turn(tenant="acme")  # no user: anyone of its tenant, nobody else
    await store.save_user_turn(shared)
    await store.flush(shared)
    assert await store.load(shared.conversation.id, tenant="acme", user="bob") is not None
    assert await store.load(shared.conversation.id, tenant=None) is None


async def test_images_survive_storage(database) -> None:
    store = database.conversation_store()
    turn = _turn()
    turn.new_messages = [Message.user("look", images=[ImagePart(data=b"\x89PNG\x00\xff", media_type="image/png")])]
    await store.save_user_turn(turn)
    await store.flush(turn)
    record = await store.load(turn.conversation.id)
    assert record is not None and record.messages[0].parts[1].data == b"\x89PNG\x00\xff"


async def test_unknown_cost_is_recorded_not_zero(database) -> None:
    store = database.conversation_store()
    turn = _turn()
    await store.save_user_turn(turn)
    message_id = await store.record_call(turn, _response(cost=None))
    totals = await store.totals(turn.conversation.id)
    assert totals["unknown_cost_count"] == 1 and totals["total_cost"] == 0
    with database.read() as conn:
        row = conn.execute(select(MESSAGES).where(MESSAGES.c.id == message_id)).one()
    assert row.cost is None and not row.cost_known and row.billable


async def test_failure_leaves_user_message_and_a_record(database) -> None:
    store = database.conversation_store()
    turn = _turn()
    await store.save_user_turn(turn)
    error = RateLimitError("slow down, key sk-test-abcdefghijklmnopqrstuvwxyz", provider="fake", status_code=429)
    await store.save_failure(turn, error)
    record = await store.load(turn.conversation.id)
    assert record is not None and [m.role for m in record.messages] == ["user"]
    with database.read() as conn:
        failure = conn.execute(select(FailedAttempt.__table__)).one()
        responses = conn.execute(select(func.count()).select_from(StoredMessage).where(StoredMessage.billable)).scalar()
    assert failure.error_type == "RateLimitError" and failure.status_code == 429
    assert failure.turn_id == turn.message_ids[0]
    assert "abcdefghijklmnopqrstuvwxyz123456" not in failure.message
    assert responses == 0


async def test_resume_by_id_continues_history(database) -> None:
    store = database.conversation_store()
    turn = _turn(text="first")
    await store.save_user_turn(turn)
    await store.record_call(turn, _response("one"))
    loaded = await store.load(turn.conversation.id)
    assert loaded is not None
    second = TurnContext(conversation=loaded, new_messages=[Message.user("second")], provider="fake", model="echo")
    await store.save_user_turn(second)
    await store.record_call(second, _response("two"))
    again = await store.load(turn.conversation.id)
    assert again is not None and [m.text for m in again.messages] == ["first", "one", "second", "two"]


async def test_load_missing_is_none(database) -> None:
    assert await database.conversation_store().load("nope") is None


async def test_the_staged_user_turn_and_the_call_are_one_transaction(database) -> None:
    store = database.conversation_store()
    turn = _turn(text="question")
    await store.save_user_turn(turn)
    message_id = await store.record_call(turn, _response("answer"))
    record = await store.load(turn.conversation.id)
    assert record is not None and [m.text for m in record.messages] == ["question", "answer"]
    with database.read() as conn:
        rows = conn.execute(
            select(MESSAGES.c.id, MESSAGES.c.turn_id, MESSAGES.c.position)
            .where(MESSAGES.c.conversation_id == turn.conversation.id)
            .order_by(MESSAGES.c.position)
        ).all()
    assert [r.id for r in rows] == [turn.message_ids[0], message_id]  # the ids given out before the write
    assert {r.turn_id for r in rows} == {turn.message_ids[0]}


async def test_a_failed_write_keeps_the_user_turn_staged(database, monkeypatch) -> None:
    store = database.conversation_store()
    turn = _turn()
    await store.save_user_turn(turn)

    def broken(*args: object) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "_record_call", broken)
    with pytest.raises(OSError):
        await store.record_call(turn, _response())
    assert turn.staged  # nothing committed: the user's message is still to write
    await store.save_failure(turn, RateLimitError("later", provider="fake"))
    record = await store.load(turn.conversation.id)
    assert record is not None and [m.role for m in record.messages] == ["user"] and not turn.staged


async def test_response_without_user_turn_creates_conversation(database) -> None:
    store = database.conversation_store()
    turn = _turn()
    await store.record_call(turn, _response())
    totals = await store.totals(turn.conversation.id)
    assert totals is not None and totals["message_count"] == 1


async def test_a_turn_is_one_conversation_write_whether_or_not_the_store_has_seen_it(database) -> None:
    """A conversation the store has not seen is inserted with its first call's totals in
    one statement; when the "not stored" hint is wrong (the row exists) or the "stored"
    hint is wrong (the row was deleted), the counts and totals still come out right."""
    store = database.conversation_store()
    first = _turn(text="first")
    await store.save_user_turn(first)
    await store.record_call(first, _response("one"))
    assert first.conversation.stored

    stale = _turn(first.conversation.id, "second")  # the same id, hint says "new"
    assert not stale.conversation.stored
    await store.save_user_turn(stale)
    await store.record_call(stale, _response("two"))
    totals = await store.totals(first.conversation.id)
    assert totals is not None and totals["message_count"] == 4
    assert totals["total_cost"] == Decimal("0.000015")
    loaded = await store.load(first.conversation.id)
    assert loaded is not None and [m.text for m in loaded.messages] == ["first", "one", "second", "two"]

    gone = _turn(text="third")
    gone.conversation.stored = True  # hint says "exists", but there is no row
    await store.save_user_turn(gone)
    await store.record_call(gone, _response("three"))
    totals = await store.totals(gone.conversation.id)
    assert totals is not None and totals["message_count"] == 2 and totals["unknown_cost_count"] == 0
