"""Helpers for the sequential-thinking suites: the npm reference server, ours, the MCP schemas.

Both servers run over stdio behind ``wiretap.py``, which logs every JSON-RPC line each way, so a
test can check the raw messages against the MCP schema of the protocol version they negotiated.
"""

from __future__ import annotations

import json
import shutil
import sys
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
REFERENCE_BIN = ROOT / "tests" / "servers" / "npm" / "node_modules" / ".bin" / "mcp-server-sequential-thinking"
WIRETAP = HERE / "wiretap.py"
QUIET = {"DISABLE_THOUGHT_LOGGING": "true"}


def reference_command() -> list[str]:
    if shutil.which("node") is None:
        pytest.skip("node is not installed (needed by mcp-server-sequential-thinking)")
    if not REFERENCE_BIN.exists():
        pytest.skip(f"{REFERENCE_BIN} is missing: run `npm install` in tests/servers/npm")
    return [str(REFERENCE_BIN)]


def console_script() -> str:
    script = shutil.which("ai-mcp-sequential", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the ai-mcp-sequential console script is not installed (python3 dev.py setup)")
    return script


def ours_command() -> list[str]:
    return [sys.executable, "-m", "ai_mcp_sequential"]


@cache
def _schema(version: str) -> dict[str, Any]:
    for parent in ROOT.parents:
        path = parent / "shared" / "specs" / f"mcp-schema-{version}.json"
        if path.is_file():
            return json.loads(path.read_text("utf-8"))  # type: ignore[no-any-return]
    raise FileNotFoundError(f"mcp-schema-{version}.json not found in ../shared/specs next to the repository")


def schema_errors(version: str, name: str, message: Any) -> list[str]:
    """What is wrong with ``message`` as the schema's ``$defs/name`` of protocol ``version``."""
    from jsonschema import Draft202012Validator

    schema = _schema(version)
    validator = Draft202012Validator({**schema, "$ref": f"#/$defs/{name}"})
    return [f"{name} {list(e.absolute_path)}: {e.message[:300]}" for e in validator.iter_errors(message)]


_RESULTS = {
    "initialize": "InitializeResult",
    "server/discover": "DiscoverResult",
    "tools/list": "ListToolsResult",
    "tools/call": "CallToolResult",
}
_REQUESTS = {
    "initialize": "InitializeRequest",
    "server/discover": "DiscoverRequest",
    "tools/list": "ListToolsRequest",
    "tools/call": "CallToolRequest",
}


@dataclass
class Wire:
    """The lines one stdio session carried, as the wiretap logged them."""

    path: Path

    def messages(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text("utf-8").splitlines()]

    def results(self, method: str) -> list[dict[str, Any]]:
        """The server's results to the client's ``method`` requests, in order."""
        asked = {
            m["message"]["id"]
            for m in self.messages()
            if m["from"] == "client" and m["message"].get("method") == method
        }
        return [
            m["message"]["result"]
            for m in self.messages()
            if m["from"] == "server" and m["message"].get("id") in asked and "result" in m["message"]
        ]

    def protocol_version(self) -> str:
        for entry in self.messages():
            message = entry["message"]
            if entry["from"] == "server" and "protocolVersion" in message.get("result", {}):
                return str(message["result"]["protocolVersion"])
            if entry["from"] == "client" and message.get("method") == "tools/list":
                meta = (message.get("params") or {}).get("_meta") or {}
                if "io.modelcontextprotocol/protocolVersion" in meta:
                    return str(meta["io.modelcontextprotocol/protocolVersion"])
        raise AssertionError("no protocol version on the wire")

    def schema_problems(self) -> list[str]:
        """Every message checked against the schema of the negotiated version.

        The SDK client's ``server/discover`` probe (and the reference's refusal of it) belong to
        2026-07-28 whatever is negotiated afterwards.
        """
        negotiated = self.protocol_version()
        messages = self.messages()
        assert messages, "nothing was logged"
        methods: dict[Any, str] = {}
        problems: list[str] = []
        for entry in messages:
            message = entry["message"]
            method = message.get("method", methods.get(message.get("id"), ""))
            version = "2026-07-28" if method == "server/discover" else negotiated
            if "method" in message and "id" in message:
                methods[message["id"]] = message["method"]
                problems += schema_errors(version, "JSONRPCRequest", message)
                if message["method"] in _REQUESTS:
                    problems += schema_errors(version, _REQUESTS[message["method"]], message)
            elif "method" in message:
                problems += schema_errors(version, "JSONRPCNotification", message)
            elif "error" in message:
                problems += schema_errors(version, "JSONRPCErrorResponse", message)
            else:
                problems += schema_errors(version, "JSONRPCResultResponse", message)
                name = _RESULTS.get(methods.get(message.get("id"), ""))
                if name is not None:
                    problems += schema_errors(version, name, message["result"])
        return problems


def tapped(command: list[str], log: Path, env: dict[str, str] | None = None) -> Any:
    """StdioServerParameters running ``command`` behind the wiretap (log at ``log``)."""
    from mcp import StdioServerParameters

    return StdioServerParameters(
        command=sys.executable, args=[str(WIRETAP), str(log), *command], env={**QUIET, **(env or {})}
    )


def stdio_client_to(
    command: list[str], log: Path, *, mode: str = "auto", errlog: Any = None
) -> AbstractAsyncContextManager[Any]:
    from mcp import Client
    from mcp.client.stdio import stdio_client

    params = tapped(command, log)
    if errlog is None:
        return Client(params, mode=mode)
    return Client(stdio_client(params, errlog=errlog), mode=mode)
