"""What the pipeline tells the store about a turn reaches the ledger."""

from __future__ import annotations

from pathlib import Path

import pytest

from ai_core import AI, TextDelta
from ai_core.storage.browse import conversation_detail
from tests.core.test_pipeline import make_ai


@pytest.mark.anyio
async def test_streamed_turns_are_marked_streamed(tmp_path: Path) -> None:
    ai: AI = make_ai()
    await ai.aclose()
    ai = AI(database_url=f"sqlite:///{tmp_path / 'ai.db'}", registry=ai.services.registry)
    chat = ai.conversation("fake/echo")
    await chat.user("plain").asend()
    text = "".join([e.text async for e in chat.user("streamed").astream() if isinstance(e, TextDelta)])
    assert text == "Echo: streamed"
    stored = conversation_detail(ai.services.database, chat.id)
    await ai.aclose()
    assert stored is not None
    answers = [row for row in stored["messages"] if row["role"] == "assistant"]
    assert [bool(row["streamed"]) for row in answers] == [False, True]
