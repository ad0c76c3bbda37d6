"""What ai-core's client and the npm reference server say on the wire, validated against the
published MCP schema of the protocol version they negotiated (../shared/specs/mcp-schema-*.json)."""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from ai_core import AI, FakeDriver, ToolCallPart

pytestmark = pytest.mark.anyio

TEE = Path(__file__).parent / "wire_tee.py"
RESULTS = {
    "initialize": "InitializeResult",
    "tools/list": "ListToolsResult",
    "tools/call": "CallToolResult",
    "prompts/get": "GetPromptResult",
    "resources/read": "ReadResourceResult",
}


@cache
def schema(version: str) -> dict[str, Any]:
    name = f"mcp-schema-{version}.json"
    for parent in Path(__file__).resolve().parents:
        for candidate in (parent / "shared" / "specs" / name, parent.parent / "shared" / "specs" / name):
            if candidate.is_file():
                return json.loads(candidate.read_text("utf-8"))  # type: ignore[no-any-return]
    pytest.skip(f"{name} not found in ../shared/specs next to the repository")


def problems(version: str, definition: str, value: Any) -> list[str]:
    document = schema(version)
    validator = jsonschema.Draft202012Validator({**document, "$ref": f"#/$defs/{definition}"})
    errors = validator.iter_errors(value)
    return [f"{definition}: {error.message[:200]} at {list(error.absolute_path)}" for error in errors]


async def test_the_traffic_matches_the_negotiated_schema(everything_command: dict[str, Any], tmp_path: Path) -> None:
    log = tmp_path / "wire.log"
    command = [str(TEE), str(log), str(everything_command["command"]), *everything_command["args"]]  # type: ignore[misc]
    fake = FakeDriver.scripted([[ToolCallPart(id="a", name="everything__get-sum", arguments={"a": 1, "b": 2})], "done"])
    servers = {"everything": {"command": sys.executable, "args": command}}
    async with AI(persistence=False, drivers={"fake": fake}, mcp_servers=servers) as ai:
        conv = ai.conversation("fake/echo").mcp("everything", tools=["get-sum"])
        conv.mcp_prompt("everything", "simple-prompt").mcp_resource(
            "everything", "demo://resource/static/document/features.md"
        )
        await conv.user("add").asend()

    lines = [(line[0], json.loads(line[2:])) for line in log.read_text("utf-8").splitlines()]
    methods: dict[Any, str] = {}
    version: str | None = None
    checked: list[str] = []
    found: list[str] = []
    for direction, message in lines:
        if direction == "c" and "method" in message and "id" in message:
            methods[message["id"]] = message["method"]
        method = methods.get(message.get("id"))
        if method == "initialize" and direction == "s":
            version = message["result"]["protocolVersion"]
        if version is None:
            continue  # the discovery probe before the handshake (a newer revision's), and the handshake request
        if direction == "c":
            kind = "ClientRequest" if "id" in message and "method" in message else "ClientNotification"
            if "method" in message:
                found += problems(version, kind, message)
                found += problems(version, "JSONRPCMessage", message)
                checked.append(message["method"])
        elif "result" in message and method in RESULTS:
            found += problems(version, RESULTS[method], message["result"])
            checked.append(f"{method} result")
    assert version == "2025-11-25"  # what the reference server speaks; its file is the one that applies
    assert {"tools/list", "tools/call", "prompts/get", "resources/read", "tools/call result"} <= set(checked)
    assert not found, "\n".join(found)
