"""Ours and the npm reference server, given the same calls, give the same results, field by field.

Both run over stdio behind the wiretap and are driven by the official SDK client; ours is also
driven in memory (the SDK's in-process paths: the 2026-07-28 direct dispatch and the legacy
in-memory streams). Every raw message is checked against the MCP schema of the negotiated version.

Known, deliberate differences, asserted here so they cannot drift silently:

- ours sends ``"isError": false`` on a success (the SDK always writes it); the reference omits it;
- the tool description is ours; names, title, schemas and annotations are the reference's;
- ``capabilities.tools.listChanged`` is false (the list never changes); the reference says true.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp_sequential.helpers import Wire, ours_command, reference_command, schema_errors, stdio_client_to
from mcp_sequential.sequences import SESSION

pytestmark = pytest.mark.anyio


def normalised(result: dict[str, Any]) -> dict[str, Any]:
    """A ``tools/call`` result without what only the protocol era or the SDK adds."""
    out = {k: v for k, v in result.items() if k not in ("resultType", "_meta")}
    if out.get("isError") is False:
        del out["isError"]
    return out


async def replay(client: Any, calls: list[tuple[str, dict[str, Any] | None]]) -> list[Any]:
    return [await client.call_tool(name, arguments) for name, arguments in calls]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Wire:
    """One run of the reference over stdio: ``tools/list``, then every call of SESSION."""
    import anyio

    wire = Wire(tmp_path_factory.mktemp("reference") / "wire.jsonl")
    command = reference_command()

    async def run() -> None:
        async with stdio_client_to(command, wire.path) as client:
            assert client.protocol_version == "2025-11-25"
            await client.list_tools()
            await replay(client, SESSION)

    anyio.run(run)
    assert wire.schema_problems() == []
    assert len(wire.results("tools/call")) == len(SESSION)
    return wire


@pytest.mark.parametrize(("mode", "version"), [("legacy", "2025-11-25"), ("auto", "2026-07-28")])
async def test_same_calls_same_results_over_stdio(reference: Wire, tmp_path: Path, mode: str, version: str) -> None:
    expected = reference.results("tools/call")
    wire = Wire(tmp_path / "ours.jsonl")
    async with stdio_client_to(ours_command(), wire.path, mode=mode) as client:
        assert client.protocol_version == version
        await client.list_tools()
        await replay(client, SESSION)
    assert wire.protocol_version() == version
    assert wire.schema_problems() == []
    ours = wire.results("tools/call")
    for (name, arguments), mine, theirs in zip(SESSION, ours, expected, strict=True):
        assert normalised(mine) == normalised(theirs), (name, arguments)
        if version == "2026-07-28":
            assert mine["resultType"] == "complete"
            # The reference's answer would not do on this connection: 2026-07-28 requires resultType.
            assert any("resultType" in p for p in schema_errors(version, "CallToolResult", theirs))
    successes = [r for r in ours if not r.get("isError")]
    assert all(r["isError"] is False for r in successes)  # the one difference on the wire
    same_tool_as_the_reference(reference, wire)


def same_tool_as_the_reference(reference: Wire, ours: Wire) -> None:
    """``tools/list``: the same tool but for its description; the same server name."""
    [[theirs]] = [r["tools"] for r in reference.results("tools/list")]
    [[mine]] = [r["tools"] for r in ours.results("tools/list")]
    if ours.protocol_version() == "2026-07-28":  # tasks are gone from 2026-07-28, so is `execution`
        theirs = {k: v for k, v in theirs.items() if k != "execution"}
    assert mine.keys() == theirs.keys()
    for key in theirs:
        if key != "description":
            assert mine[key] == theirs[key], key
    # Key order too, so a client printing the schema shows the same thing.
    assert list(mine["inputSchema"]["properties"]) == list(theirs["inputSchema"]["properties"])
    for name, field in theirs["inputSchema"]["properties"].items():
        assert list(mine["inputSchema"]["properties"][name]) == list(field), name
    assert "thought" in mine["description"]
    [init] = reference.results("initialize")
    assert init["serverInfo"]["name"] == "sequential-thinking-server"
    assert init["capabilities"]["tools"] == {"listChanged": True}
    if ours.protocol_version() == "2025-11-25":
        [mine_init] = ours.results("initialize")
        assert mine_init["serverInfo"]["name"] == "sequential-thinking-server"
        assert mine_init["capabilities"]["tools"] == {"listChanged": False}
    else:
        [discovered] = ours.results("server/discover")
        assert discovered["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "sequential-thinking-server"
        assert discovered["capabilities"]["tools"] == {"listChanged": False}


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_same_calls_same_results_in_memory(reference: Wire, mode: str) -> None:
    from mcp import Client

    from ai_mcp_sequential import create_server

    expected = reference.results("tools/call")
    async with Client(create_server(), mode=mode) as client:
        version = client.protocol_version
        results = await replay(client, SESSION)
    assert version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
    for (name, arguments), result, theirs in zip(SESSION, results, expected, strict=True):
        mine = result.model_dump(by_alias=True, mode="json", exclude_none=True)
        assert normalised(mine) == normalised(theirs), (name, arguments)
        assert schema_errors(version, "CallToolResult", mine) == []
