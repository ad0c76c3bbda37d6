"""Thought history per conversation (ai-core's request ``_meta``), rebuilt from ``earlier_calls``.

Driven through the SDK client in memory, as ai-core connects to the server, on both protocol eras.
"""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.anyio

T = "sequentialthinking"


def args(number: int, total: int = 3, **extra: Any) -> dict[str, Any]:
    return {"thought": f"thought {number}", "nextThoughtNeeded": True, "thoughtNumber": number,
            "totalThoughts": total, **extra}  # fmt: skip


def meta(conversation_id: str, earlier: list[tuple[dict[str, Any], bool]] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"conversation_id": conversation_id}
    if earlier is not None:
        entry["earlier_calls"] = [{"name": T, "arguments": a, "is_error": e} for a, e in earlier]
    return {"ai_core": entry}


def structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    return result.structured_content  # type: ignore[no-any-return]


@pytest.fixture(params=["legacy", "auto"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_conversations_do_not_share_a_history(mode: str) -> None:
    from mcp import Client

    from ai_mcp_sequential import create_server

    server = create_server()
    async with Client(server, mode=mode) as client:
        a1 = structured(await client.call_tool(T, args(1), meta=meta("a", [])))
        b1 = structured(await client.call_tool(T, args(1, branchFromThought=1, branchId="x"), meta=meta("b", [])))
        a2 = structured(await client.call_tool(T, args(2), meta=meta("a", [(args(1), False)])))
        plain = structured(await client.call_tool(T, args(1)))  # no _meta: this session's own history
    assert (a1["thoughtHistoryLength"], a2["thoughtHistoryLength"], a2["branches"]) == (1, 2, [])
    assert (b1["thoughtHistoryLength"], b1["branches"]) == (1, ["x"])
    assert plain["thoughtHistoryLength"] == 1
    history = server.thinking.conversation("a")
    assert history is not None and [t.thought for t in history.thoughts] == ["thought 1", "thought 2"]


async def test_sessions_without_meta_are_separate(mode: str) -> None:
    from mcp import Client

    from ai_mcp_sequential import create_server

    server = create_server()
    async with Client(server, mode=mode) as first:
        assert structured(await first.call_tool(T, args(1)))["thoughtHistoryLength"] == 1
        assert structured(await first.call_tool(T, args(2)))["thoughtHistoryLength"] == 2
        async with Client(server, mode=mode) as second:
            assert structured(await second.call_tool(T, args(1)))["thoughtHistoryLength"] == 1
    assert len(server.thinking) == 0  # nothing kept under a conversation


async def test_a_resumed_conversation_is_rebuilt_from_earlier_calls(mode: str) -> None:
    """Another process (a new server) continues where the stored conversation left off."""
    from mcp import Client

    from ai_mcp_sequential import create_server

    earlier = [
        (args(1), False),
        (args(2, branchFromThought=1, branchId="alt"), False),
        ({"thought": 5}, True),  # an error: recorded nothing
        (args(3, isRevision=True, revisesThought=1), False),
        (args(0), False),  # arguments the tool refuses cannot have recorded anything either
        (args("4", "9", branchFromThought="2", branchId="7"), False),  # type: ignore[arg-type]
    ]
    async with Client(create_server(), mode=mode) as client:
        result = structured(await client.call_tool(T, args(5), meta=meta("resumed", earlier)))
    assert result == {"thoughtNumber": 5, "totalThoughts": 5, "nextThoughtNeeded": True,
                      "branches": ["7", "alt"], "thoughtHistoryLength": 5}  # fmt: skip


async def test_a_stale_history_is_rebuilt(mode: str) -> None:
    """Process A knows two thoughts; process B carried the conversation on; A is asked again."""
    from mcp import Client

    from ai_mcp_sequential import create_server

    server = create_server()
    async with Client(server, mode=mode) as client:
        await client.call_tool(T, args(1), meta=meta("c", []))
        await client.call_tool(T, args(2), meta=meta("c", [(args(1), False)]))
        elsewhere = [(args(1), False), (args(2), False), (args(3, branchFromThought=2, branchId="b"), False),
                     (args(4), False)]  # fmt: skip
        result = structured(await client.call_tool(T, args(5), meta=meta("c", elsewhere)))
        assert (result["thoughtHistoryLength"], result["branches"]) == (5, ["b"])
        # A history that disagrees with what was stored (same length, other thoughts) is rebuilt too.
        rewritten = [(args(9, 9), False)] * 5
        assert structured(await client.call_tool(T, args(6), meta=meta("c", rewritten)))["branches"] == []


async def test_calls_of_the_same_turn_not_stored_yet_are_kept(mode: str) -> None:
    """Two calls in one model turn both arrive with the turn's earlier calls: the count goes on."""
    from mcp import Client

    from ai_mcp_sequential import create_server

    async with Client(create_server(), mode=mode) as client:
        stored = [(args(1), False)]
        first = structured(await client.call_tool(T, args(2), meta=meta("turn", stored)))
        second = structured(await client.call_tool(T, args(3), meta=meta("turn", stored)))
    assert (first["thoughtHistoryLength"], second["thoughtHistoryLength"]) == (2, 3)


async def test_conversations_are_bounded_and_come_back(mode: str) -> None:
    from mcp import Client

    from ai_mcp_sequential import create_server

    server = create_server(max_conversations=2)
    async with Client(server, mode=mode) as client:
        for conversation in ("one", "two", "three"):
            await client.call_tool(T, args(1), meta=meta(conversation, []))
        assert len(server.thinking) == 2
        assert server.thinking.conversation("one") is None
        back = structured(await client.call_tool(T, args(2), meta=meta("one", [(args(1), False)])))
    assert back["thoughtHistoryLength"] == 2
    assert server.thinking.conversation("two") is None  # now the least recently used


async def test_namespaced_names_and_odd_meta() -> None:
    """Earlier calls under a client's namespaced tool name count; a malformed entry is ignored."""
    from ai_mcp_sequential import SequentialThinking, ThoughtHistory

    thinking = SequentialThinking()
    session = ThoughtHistory()
    calls = [
        {"name": "sequential-thinking__sequentialthinking", "arguments": args(1), "is_error": False},
        {"name": "sequential-thinking.sequentialthinking", "arguments": args(2), "is_error": False},
        {"name": "othersequentialthinking", "arguments": args(3), "is_error": False},  # not ours
        {"name": T, "arguments": "not a mapping", "is_error": False},
        "not a call",
        {"name": T, "arguments": args(3)},  # is_error missing: it succeeded
    ]
    outcome = thinking.call(T, args(4), meta={"ai_core": {"conversation_id": "n", "earlier_calls": calls}})
    assert outcome.structured is not None and outcome.structured["thoughtHistoryLength"] == 4
    for odd in ({"ai_core": "x"}, {"ai_core": {"conversation_id": ""}}, {"ai_core": {"conversation_id": 5}}, {}):
        thinking.call(T, args(1), meta=odd, session=session)
    assert session.length == 4  # each went to the session
    kept = thinking.call(T, args(5), meta={"ai_core": {"conversation_id": "n"}})  # no earlier_calls: trusted
    assert kept.structured is not None and kept.structured["thoughtHistoryLength"] == 5


async def test_servers_can_share_one_state(mode: str) -> None:
    """``create_server(thinking=...)``: two server objects, one set of conversation histories."""
    from mcp import Client

    from ai_mcp_sequential import SequentialThinking, create_server

    shared = SequentialThinking()  # empty, hence falsy: it must still be the one used
    one, two = create_server(thinking=shared), create_server(thinking=shared)
    async with Client(one, mode=mode) as first, Client(two, mode=mode) as second:
        await first.call_tool(T, args(1), meta=meta("s"))
        result = structured(await second.call_tool(T, args(2), meta=meta("s")))
    assert result["thoughtHistoryLength"] == 2 and one.thinking is two.thinking is shared
