"""A streamable HTTP MCP server (built with the SDK, run by uvicorn on 127.0.0.1), reached by URL with headers."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from mcp.server.mcpserver import Context, MCPServer

from ai_core import AI, FakeDriver
from ai_core.errors import MCPConnectionError
from ai_core.types import ToolCallPart, ToolResultPart

pytestmark = pytest.mark.anyio
TOKEN = "Bearer mcp-http-test-token-0123456789"


def build_server() -> MCPServer:
    server: MCPServer = MCPServer("remote")

    @server.tool()
    def whoami(ctx: Context) -> str:
        """Says whether the request carried the expected Authorization header."""
        headers = {k.lower(): v for k, v in (ctx.headers or {}).items()}
        return "authorised" if headers.get("authorization") == TOKEN else "anonymous"

    @server.tool()
    def add(a: int, b: int) -> int:
        """Adds."""
        return a + b

    return server


@pytest.fixture(scope="module")
def http_url() -> Iterator[str]:
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        build_server().streamable_http_app(), host="127.0.0.1", port=port, log_level="error", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "the MCP HTTP server did not start"
    yield f"http://127.0.0.1:{port}/mcp"
    server.should_exit = True
    thread.join(timeout=10)


async def test_tools_over_streamable_http_with_headers(http_url: str) -> None:
    fake = FakeDriver.scripted(
        [
            [
                ToolCallPart(id="a", name="remote__whoami", arguments={}),
                ToolCallPart(id="b", name="remote__add", arguments={"a": 20, "b": 22}),
            ],
            "done",
        ]
    )
    servers: dict[str, Any] = {"remote": {"url": http_url, "headers": {"Authorization": TOKEN}}}
    async with AI(persistence=False, drivers={"fake": fake}, mcp_servers=servers) as ai:
        conv = ai.conversation("fake/echo").mcp("remote")
        assert (await conv.user("go").asend()).text == "done"
        assert ai._mcp.entry("remote").transport == "streamable-http"
        assert TOKEN not in repr(ai._mcp.entry("remote"))  # headers are secrets
    got = {p.tool_call_id: p.content for m in conv.messages for p in m.parts if isinstance(p, ToolResultPart)}
    assert got == {"a": "authorised", "b": "42"}


async def test_without_the_header_the_server_sees_no_token(http_url: str) -> None:
    async with AI(persistence=False, mcp_servers={"remote": {"url": http_url}}) as ai:
        server = await ai._mcp.get("remote")
        assert (await server.call_tool("whoami", {})).content == "anonymous"


async def test_an_unreachable_url_is_a_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    async with AI(persistence=False, mcp_servers={"gone": {"url": f"http://127.0.0.1:{port}/mcp"}}) as ai:
        with pytest.raises(MCPConnectionError, match="'gone'"):
            await ai._mcp.get("gone")
