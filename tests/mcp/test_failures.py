"""Servers that crash, hang or answer garbage; cancellation and process exit leave no child behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from ai_core import AI, FakeDriver
from ai_core.errors import MCPConnectionError, MCPProtocolError, MCPServerCrashedError, MCPTimeoutError
from ai_core.types import ToolCallPart, ToolResultPart

pytestmark = pytest.mark.anyio


@pytest.fixture
def servers(script_server: Any) -> Any:
    """``servers(name=kind, ...)``: misbehaving stdio servers by name."""
    return lambda **kinds: {name: script_server(kind) for name, kind in kinds.items()}


if not Path("/proc/self/stat").exists():
    pytest.skip("these tests read processes from /proc (Linux)", allow_module_level=True)


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process from /proc, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def _session_process(pid: int) -> bool:
    """A process the test session keeps for itself, whose subtree is not the MCP client's doing:
    the dashboard tests' browser and its driver, and the worker's PostgreSQL and Redis, which
    start processes at any time (a backend per new connection, autovacuum, a background save)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0]
    except OSError:
        return False
    name = Path(command.decode(errors="replace").split()[0] if command.strip() else "").name
    return any(part in name for part in ("chrom", "postgres", "redis-server", "runuser"))


def children() -> set[int]:
    """Every live (not zombie) descendant of this process, but for the session's browser."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None and stat[0] != "Z":
            parents[int(entry.name)] = stat[1]
    found: set[int] = set()
    frontier = {os.getpid()}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier and not _session_process(pid)} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"


async def wait_until(condition: Any, seconds: float = 20.0) -> bool:
    """Poll ``condition`` (a generous bound that only catches a hang)."""
    with anyio.move_on_after(seconds):
        while not condition():
            await anyio.sleep(0.05)
        return True
    return False


@pytest.mark.parametrize(
    ("kind", "error", "words"),
    [
        ("crash", MCPServerCrashedError, "went away"),
        ("hang", MCPTimeoutError, "did not answer"),
        ("garbage", MCPProtocolError, "not MCP"),
    ],
)
async def test_a_misbehaving_server_is_a_typed_error_and_a_fresh_one_serves_the_next_call(
    kind: str, error: type[Exception], words: str, servers: Any
) -> None:
    async with AI(persistence=False, mcp_servers=servers(bad=kind)) as ai:
        server = await ai._mcp.get("bad")
        with pytest.raises(error, match=words) as caught:
            await server.call_tool("work", {"text": "x"})
        assert caught.value.server == "bad"  # type: ignore[attr-defined]
        replacement = await ai._mcp.get("bad")
        assert replacement is not server  # crashed or hung: replaced on next use
        assert (await replacement.call_tool("pid", {})).content.isdigit()


async def test_in_the_tool_loop_each_failure_reaches_the_model_and_the_conversation_stays_consistent(
    servers: Any,
) -> None:
    fake = FakeDriver.scripted(
        [
            [
                ToolCallPart(id="crash", name="crash__work", arguments={}),
                ToolCallPart(id="hang", name="hang__work", arguments={}),
                ToolCallPart(id="garbage", name="garbage__work", arguments={}),
                ToolCallPart(id="fine", name="fine__work", arguments={"text": "still"}),
            ],
            "recovered",
        ]
    )
    async with AI(
        persistence=False,
        drivers={"fake": fake},
        mcp_servers=servers(crash="crash", hang="hang", garbage="garbage", fine="ok"),
    ) as ai:
        conv = ai.conversation("fake/echo")
        for name in ("crash", "hang", "garbage", "fine"):
            conv.mcp(name)
        assert (await conv.user("go").asend()).text == "recovered"
    got = {p.tool_call_id: p for m in conv.messages for p in m.parts if isinstance(p, ToolResultPart)}
    assert got["crash"].is_error and "MCPServerCrashedError" in got["crash"].content
    assert got["hang"].is_error and "MCPTimeoutError" in got["hang"].content
    assert got["garbage"].is_error and "MCPProtocolError" in got["garbage"].content
    assert got["fine"].content == "worked: still" and not got["fine"].is_error
    assert [m.role for m in fake.calls[1].messages] == ["user", "assistant", "tool", "tool", "tool", "tool"]


async def test_a_command_that_does_not_exist_is_named() -> None:
    async with AI(persistence=False, mcp_servers={"ghost": {"command": "/no/such/mcp-server"}}) as ai:
        with pytest.raises(MCPConnectionError, match="command not found: /no/such/mcp-server"):
            await ai._mcp.get("ghost")


async def test_a_server_that_exits_at_once_is_a_connection_error() -> None:
    async with AI(persistence=False, mcp_servers={"quits": {"command": sys.executable, "args": ["-c", "pass"]}}) as ai:
        with pytest.raises(MCPConnectionError, match="quits"):
            await ai._mcp.get("quits")


async def test_cancelling_a_call_and_closing_leave_no_child_process(servers: Any) -> None:
    before = children()
    async with AI(persistence=False, mcp_servers=servers(slow="hang")) as ai:
        server = await ai._mcp.get("slow")
        pid = int((await server.call_tool("pid", {})).content)
        assert alive(pid)
        with anyio.move_on_after(0.5) as scope:
            await server.call_tool("work", {})
        assert scope.cancelled_caught
    assert await wait_until(lambda: not alive(pid))
    assert children() <= before


async def test_cancelling_while_connecting_leaves_no_child_process() -> None:
    # A server that never answers the handshake: the cancellation always lands during it (a
    # quick server connected within the timeout once imports were warm, and rightly stayed).
    before = children()
    silent = {"command": sys.executable, "args": ["-c", "import time; time.sleep(120)"]}
    async with AI(persistence=False, mcp_servers={"slow": silent}) as ai:
        with anyio.move_on_after(0.5) as waiting:
            await ai._mcp.get("slow")
        assert waiting.cancelled_caught
        assert await wait_until(lambda: children() <= before)


CHILD = textwrap.dedent(
    """
    import os, sys, anyio
    from ai_core import AI

    async def main():
        ai = AI(persistence=False, mcp_servers={"s": {"command": sys.executable, "args": [sys.argv[1], "stubborn"]}})
        server = await ai._mcp.get("s")
        print((await server.call_tool("pid", {})).content, flush=True)
        await anyio.to_thread.run_sync(sys.stdin.readline)
        if sys.argv[2] == "exit":
            os._exit(0)  # leaves without closing the AI or running any cleanup
        await anyio.sleep_forever()

    anyio.run(main)
    """
)


@pytest.mark.parametrize("how", ["sigkill", "exit"])
def test_when_this_process_dies_its_stdio_servers_die_too(tmp_path: Path, how: str) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    bad_servers = str(Path(__file__).parent / "bad_servers.py")
    proc = subprocess.Popen(
        [sys.executable, str(script), bad_servers, how], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        server_pid = int(proc.stdout.readline())
        assert alive(server_pid)
        if how == "sigkill":
            os.kill(proc.pid, signal.SIGKILL)
        else:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        proc.wait(timeout=60)
        deadline = time.monotonic() + 20
        while alive(server_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(server_pid), f"MCP server {server_pid} outlived the process that started it"
    finally:
        proc.kill()
        proc.wait()


async def test_a_turn_cancelled_during_a_tool_call_stores_an_answer_for_every_call(servers: Any) -> None:
    from ai_core.pipeline.store import MemoryStore

    fake = FakeDriver.scripted(
        [
            [
                ToolCallPart(id="done", name="slow__pid", arguments={}),
                ToolCallPart(id="stuck", name="slow__work", arguments={}),
                ToolCallPart(id="never", name="slow__pid", arguments={}),
            ],
            "after",
        ]
    )
    store = MemoryStore()
    async with AI(persistence=False, store=store, drivers={"fake": fake}, mcp_servers=servers(slow="hang")) as ai:
        reached = anyio.Event()

        def watch(request: Any) -> None:
            if request.call_id == "stuck":
                reached.set()

        conv = ai.conversation("fake/echo").mcp("slow").approver(watch)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(conv.user("go").asend)
            await reached.wait()
            await anyio.sleep(0.3)  # the call is in flight
            tasks.cancel_scope.cancel()
        record = await store.load(conv.id)
        assert record is not None
        got = {p.tool_call_id: p for m in record.messages for p in m.parts if isinstance(p, ToolResultPart)}
        assert got["done"].content.isdigit()
        assert got["stuck"].is_error and got["never"].is_error and "cancelled" in got["never"].content
        # the conversation is valid to send again: every call has its answer
        resumed = ai.conversation(id=conv.id)
        assert (await resumed.user("again").asend()).text == "after"
        assert [m.role for m in fake.calls[-1].messages] == ["user", "assistant", "tool", "tool", "tool", "user"]


async def test_a_server_that_never_finishes_its_handshake_is_a_connection_error_and_is_stopped() -> None:
    from ai_core import Settings

    before = children()
    settings = Settings(persistence=False, mcp={"connect_timeout": 1.5})
    silent = {"command": sys.executable, "args": ["-c", "import time; time.sleep(120)"]}
    async with AI(settings=settings, mcp_servers={"silent": silent}) as ai:
        with pytest.raises(MCPConnectionError, match=r"'silent' did not finish its handshake within 1.5 s"):
            await ai._mcp.get("silent")
    assert await wait_until(lambda: children() <= before)
