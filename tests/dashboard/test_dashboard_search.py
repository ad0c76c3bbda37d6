"""Text search pages through the newest conversations in order, a chunk at a time, on both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from ai_core.dashboard.conversations import list_conversations
from ai_core.dashboard.queries import Filters
from ai_core.storage.base import table_of
from ai_core.storage.conversation_tables import Conversation, StoredMessage


def test_search_pages_are_the_matches_newest_first(database) -> None:
    start = datetime(2026, 5, 1, tzinfo=UTC)
    conversations, messages = [], []
    for index in range(1300):
        moment = start + timedelta(minutes=index)
        word = "needle" if index % 7 == 0 else "hay"
        conversations.append(
            {
                "id": f"{index:032x}",
                "tenant": "acme" if index % 2 else "globex",
                "tags": [],
                "metadata": {},
                "title": "Title" if index != 3 else "NEEDLE in the title",
                "created_at": moment,
                "updated_at": moment,
            }
        )
        messages.append({
            "id": f"m{index:031x}", "conversation_id": f"{index:032x}", "position": 1, "role": "user",
            "format_version": 1, "parts": [{"type": "text", "text": f"some {word} here 100%"}],
            "created_at": moment, "created_on": date(2026, 5, 1),
        })  # fmt: skip
    with database.write() as conn:
        conn.execute(table_of(Conversation).insert(), conversations)
        conn.execute(table_of(StoredMessage).insert(), messages)
    expected = [f"{i:032x}" for i in range(1299, -1, -1) if i % 7 == 0 or i == 3]
    seen, page = [], 1
    while True:
        listing = list_conversations(database, Filters(), search="Needle", page=page, page_size=50)
        seen += [row["id"] for row in listing["rows"]]
        if not listing["has_more"]:
            break
        page += 1
    assert seen == expected and page == 4
    scoped = list_conversations(database, Filters(tenant="acme"), search="needle", page_size=500)
    assert [row["id"] for row in scoped["rows"]] == [i for i in expected if int(i, 16) % 2]
    assert list_conversations(database, Filters(), search="100%")["rows"]  # % is a character, not a wildcard
    assert not list_conversations(database, Filters(), search="10_%")["rows"]
