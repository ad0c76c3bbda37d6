"""Concurrent writes share transactions without sharing failures."""

from __future__ import annotations

import anyio
import pytest
from sqlalchemy import func, insert, select

from ai_core.storage.columns import utcnow
from ai_core.storage.conversation_tables import Conversation

pytestmark = pytest.mark.anyio

_c = Conversation.__table__


async def test_a_failing_job_rolls_back_alone(database) -> None:
    outcomes: dict[int, str] = {}

    def job(index: int):
        def run(tx) -> int:
            from ai_core.storage.fastsql import Prepared

            tx.execute(
                Prepared(insert(_c)),
                {c.name: None for c in _c.columns}
                | {
                    "id": f"c{index}",
                    "tags": [],
                    "metadata": {},
                    "status": "active",
                    "message_count": 0,
                    "total_cost": 0,
                    "unknown_cost_count": 0,
                    "total_input_tokens": 0,
                    "total_output_tokens": 0,
                    "created_at": utcnow(),
                    "updated_at": utcnow(),
                },
            )
            if index % 5 == 0:
                raise RuntimeError(f"job {index} fails")
            return index

        return run

    async def one(index: int) -> None:
        try:
            await database.write_job(job(index))
            outcomes[index] = "ok"
        except RuntimeError:
            outcomes[index] = "failed"

    async with anyio.create_task_group() as group:
        for index in range(40):
            group.start_soon(one, index)
    with database.read() as conn:
        stored = set(conn.execute(select(_c.c.id)).scalars())
        count = conn.execute(select(func.count()).select_from(_c)).scalar()
    assert stored == {f"c{i}" for i in range(40) if i % 5}
    assert count == 32
    assert sorted(i for i, o in outcomes.items() if o == "failed") == [i for i in range(40) if i % 5 == 0]


async def test_cancelled_writer_is_all_or_nothing(database) -> None:
    from ai_core.pipeline.store import ConversationRecord, TurnContext, new_id
    from ai_core.types import Message

    store = database.conversation_store(owns_database=False)
    turns = [
        TurnContext(
            conversation=ConversationRecord(id=new_id()),
            new_messages=[Message.user("hi")],
            provider="fake",
            model="echo",
        )
        for _ in range(30)
    ]
    with anyio.move_on_after(0.005):
        async with anyio.create_task_group() as group:
            for turn in turns:
                group.start_soon(store.save_user_turn, turn)
    await anyio.sleep(0.2)
    for turn in turns:
        record = await store.load(turn.conversation.id)
        assert record is None or [m.text for m in record.messages] == ["hi"]


async def test_a_burst_after_a_quiet_spell_still_shares_transactions(tmp_path, monkeypatch) -> None:
    """Writing alone, a leader stops giving the loop a turn to gather company (one call at a time
    wasted it); a burst after that is batched again within a few transactions."""
    from ai_core.storage import group_commit
    from ai_core.storage.database import Database

    batches: list[int] = []
    run_batch = group_commit._run_batch

    def counted(database, batch, **kwargs):
        batches.append(len(batch))
        return run_batch(database, batch, **kwargs)

    monkeypatch.setattr(group_commit, "_run_batch", counted)
    database = Database.open(f"sqlite:///{tmp_path / 'burst.db'}")
    try:

        def job(tx) -> None:
            tx.cursor.execute("SELECT 1")

        for _ in range(3 * group_commit.ALONE_BEFORE_SKIPPING):  # one at a time
            await database.write_job(job)
        assert set(batches) == {1}
        batches.clear()
        async with anyio.create_task_group() as group:
            for _ in range(200):
                group.start_soon(database.write_job, job)
        assert sum(batches) == 200
        assert len(batches) <= 20  # not 200 transactions
    finally:
        database.close()
