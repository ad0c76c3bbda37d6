"""MCP servers over stdio that misbehave on purpose, built with the SDK.

    python bad_servers.py ok|crash|hang|garbage|pid

``ok`` answers; ``crash`` exits in the middle of a tool call; ``hang`` never
answers a tool call; ``garbage`` writes a line that is not JSON-RPC instead of
the answer; ``pid`` answers with its process id (to look for orphans).
"""

from __future__ import annotations

import os
import sys

import anyio
from mcp.server.mcpserver import MCPServer

server = MCPServer("misbehaving")
KIND = sys.argv[1] if len(sys.argv) > 1 else "ok"


@server.tool()
async def work(text: str = "") -> str:
    """Does the work, or misbehaves."""
    if KIND == "crash":
        os._exit(3)
    if KIND == "hang":
        await anyio.sleep_forever()
    if KIND == "garbage":
        sys.stdout.write("this is not json-rpc\n{\"jsonrpc\": \"2.0\", \"id\": 999999, \"result\": 42}\n")
        sys.stdout.flush()
        await anyio.sleep_forever()
    return f"worked: {text}"


@server.tool()
def pid() -> str:
    """The server's process id."""
    return str(os.getpid())


if __name__ == "__main__":
    anyio.run(server.run_stdio_async)
