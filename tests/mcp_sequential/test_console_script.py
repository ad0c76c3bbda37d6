"""``ai-mcp-sequential``, the console script, in a real subprocess: any MCP client can use it."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp_sequential.helpers import QUIET, console_script, reference_command, schema_errors

T = "sequentialthinking"


def args(number: int, total: int, **extra: Any) -> dict[str, Any]:
    return {"thought": f"step {number}", "nextThoughtNeeded": True, "thoughtNumber": number,
            "totalThoughts": total, **extra}  # fmt: skip


@pytest.mark.anyio
async def test_an_sdk_client_thinks_through_the_script(tmp_path: Path) -> None:
    """The thoughts are drawn on stderr, as the reference does, unless DISABLE_THOUGHT_LOGGING is true."""
    errors = tmp_path / "stderr.txt"
    params = StdioServerParameters(command=console_script(), env={"DISABLE_THOUGHT_LOGGING": "no"})
    with errors.open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            assert client.protocol_version == "2026-07-28"
            [tool] = (await client.list_tools()).tools
            assert tool.name == T
            first = await client.call_tool(T, args(1, 3))
            revised = await client.call_tool(T, args(2, 3, isRevision=True, revisesThought=1))
            branched = await client.call_tool(T, args(5, 3, branchFromThought=1, branchId="other"))
            refused = await client.call_tool(T, {"thought": "no number"})
    assert first.structured_content == {"thoughtNumber": 1, "totalThoughts": 3, "nextThoughtNeeded": True,
                                        "branches": [], "thoughtHistoryLength": 1}  # fmt: skip
    assert revised.structured_content is not None and revised.structured_content["thoughtHistoryLength"] == 2
    assert branched.structured_content == {"thoughtNumber": 5, "totalThoughts": 5, "nextThoughtNeeded": True,
                                           "branches": ["other"], "thoughtHistoryLength": 3}  # fmt: skip
    assert refused.is_error and refused.structured_content is None
    log = errors.read_text("utf-8")
    assert log.startswith("Sequential Thinking MCP Server running on stdio\n")
    assert "💭 Thought 1/3" in log and "🔄 Revision 2/3 (revising thought 1)" in log
    assert "🌿 Branch 5/5 (from thought 1, ID: other)" in log
    assert "│ step 1" in log and "no number" not in log


@pytest.mark.anyio
async def test_the_stderr_log_is_the_reference_s(tmp_path: Path) -> None:
    """Same calls, same boxes on stderr, byte for byte (wide characters and missing fields too)."""
    calls = [
        args(1, 3),
        {**args(2, 3, isRevision=True), "thought": "Revise 🧠 ünï"},  # no revisesThought: "undefined"
        args(3, 3, branchFromThought=1),  # no branchId
        {**args(4, 3, branchFromThought=1, branchId="x"), "thought": "a thought wider than its header, quite a bit"},
        {"thought": "refused", "thoughtNumber": 0},
    ]
    logs = []
    for command in (reference_command()[0], console_script()):
        log = tmp_path / f"{Path(command).name}.txt"
        params = StdioServerParameters(command=command, env={"DISABLE_THOUGHT_LOGGING": "false"})
        with log.open("w") as errlog:
            async with Client(stdio_client(params, errlog=errlog), mode="legacy") as client:
                for call in calls:
                    await client.call_tool(T, call)
        logs.append(log.read_text("utf-8"))
    theirs, ours = logs
    assert ours == theirs
    assert ours.count("┌") == 4 and "(revising thought undefined)" in ours and "ID: undefined" in ours


def run_session(lines: list[dict[str, Any]], env: dict[str, str]) -> tuple[list[dict[str, Any]], str, int]:
    """Send JSON-RPC lines one by one (reading each request's answer), then close stdin and wait.

    The answers are awaited before EOF: like any SDK server, it drops requests still running when
    its stdin closes (the reference answers them first).
    """
    process = subprocess.Popen(
        [console_script()], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **env},
    )  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    answers = []
    try:
        for line in lines:
            process.stdin.write(json.dumps(line) + "\n")
            process.stdin.flush()
            if "id" in line:
                ready, _, _ = select.select([process.stdout], [], [], 120)  # a generous bound: only a hang trips it
                assert ready, f"no answer to {line['method']}"
                answers.append(json.loads(process.stdout.readline()))
        process.stdin.close()
        code = process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.stderr is not None
    return answers, process.stderr.read(), code


def test_plain_json_rpc_over_stdio_and_a_clean_exit() -> None:
    """A client that is not the SDK: newline-delimited JSON-RPC, then EOF; the server exits 0."""
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                  "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                             "clientInfo": {"name": "plain", "version": "1"}}}  # fmt: skip
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": T, "arguments": args(1, 1, nextThoughtNeeded="False")}}  # fmt: skip
    malformed = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": T, "arguments": "x"}}
    answers, stderr, code = run_session(
        [initialize, {"jsonrpc": "2.0", "method": "notifications/initialized"}, call, malformed], QUIET
    )
    assert code == 0, stderr
    assert "Traceback" not in stderr and "┌" not in stderr  # logging disabled
    init, result, refused = answers
    # Arguments that are not an object: a JSON-RPC error (the reference's says -32603 and lists zod's issues).
    assert refused["error"]["code"] == -32602 and schema_errors("2025-11-25", "JSONRPCErrorResponse", refused) == []
    assert init["result"]["protocolVersion"] == "2025-06-18"
    assert init["result"]["serverInfo"]["name"] == "sequential-thinking-server"
    assert result["result"]["structuredContent"]["nextThoughtNeeded"] is False
    assert json.loads(result["result"]["content"][0]["text"]) == result["result"]["structuredContent"]
    # 2025-06-18 is a handshake version without its own schema here; the 2025-11-25 one describes it.
    assert schema_errors("2025-11-25", "InitializeResult", init["result"]) == []
    assert schema_errors("2025-11-25", "CallToolResult", result["result"]) == []


def test_a_newer_version_than_the_handshake_knows_gets_2025_11_25() -> None:
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                  "params": {"protocolVersion": "2099-01-01", "capabilities": {},
                             "clientInfo": {"name": "plain", "version": "1"}}}  # fmt: skip
    [answer], _, code = run_session([initialize], QUIET)
    assert code == 0 and answer["result"]["protocolVersion"] == "2025-11-25"


def test_version_and_bad_options() -> None:
    script = console_script()
    shown = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60, check=False)
    assert shown.returncode == 0 and shown.stdout.startswith("ai-mcp-sequential ")
    bad = subprocess.run([script, "--nope"], capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "--nope" in bad.stderr and "Traceback" not in bad.stderr
    zero = subprocess.run([script, "--max-thoughts", "0"], capture_output=True, text=True, timeout=60, check=False)
    assert zero.returncode == 2 and zero.stderr.count("\n") == 1


def test_python_dash_m_is_the_same_program() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "ai_mcp_sequential", "--version"], capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert shown.returncode == 0 and shown.stdout.startswith("ai-mcp-sequential ")
