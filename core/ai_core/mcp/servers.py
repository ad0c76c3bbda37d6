"""One interface over the two kinds of connected server.

* :class:`SDKServer`: anything reached through the ``mcp`` SDK (a stdio command,
  a streamable HTTP URL, an SDK server object registered by a plugin and
  connected in-process).
* :class:`ProtocolServer`: a plain Python object with core's
  :class:`ai_core.MCPServer` protocol (``list_tools``/``call_tool``/``aclose``).

Both answer tool listings as :class:`ServerTool` (the server's own names, any
characters MCP allows) and tool calls as :class:`ToolResult`.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import anyio

from ai_core import errors
from ai_core.mcp.connection import SDKConnection
from ai_core.mcp.spec import ToolResult

__all__ = ["ConnectedServer", "ProtocolServer", "SDKServer", "ServerTool"]


@dataclass(frozen=True)
class ServerTool:
    server: str
    tool: str
    description: str = ""
    input_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


class ConnectedServer:
    """What the pool hands out."""

    name: str
    transport: str
    conversation_state: bool = False
    call_timeout: float = 60.0

    @property
    def broken(self) -> bool:
        """True once the connection is unusable (crashed, hung): the pool replaces it."""
        return False

    async def list_tools(self) -> list[ServerTool]:
        raise NotImplementedError

    async def call_tool(
        self, tool: str, arguments: dict[str, Any], *, meta: dict[str, Any] | None = None, limit: float | None = None
    ) -> ToolResult:
        raise NotImplementedError

    async def list_prompts(self) -> list[Any]:
        raise errors.MCPError(f"MCP server {self.name!r} has no prompts", server=self.name)

    async def get_prompt(self, name: str, arguments: dict[str, str] | None = None) -> Any:
        raise errors.MCPError(f"MCP server {self.name!r} has no prompts", server=self.name)

    async def list_resources(self) -> list[Any]:
        raise errors.MCPError(f"MCP server {self.name!r} has no resources", server=self.name)

    async def read_resource(self, uri: str) -> Any:
        raise errors.MCPError(f"MCP server {self.name!r} has no resources", server=self.name)

    async def aclose(self) -> None:
        raise NotImplementedError


class SDKServer(ConnectedServer):
    def __init__(self, connection: SDKConnection, *, transport: str, conversation_state: bool = False) -> None:
        self.connection = connection
        self.name = connection.name
        self.transport = transport
        self.conversation_state = conversation_state
        self.call_timeout = connection.call_timeout

    @property
    def broken(self) -> bool:
        return self.connection.broken

    async def list_tools(self) -> list[ServerTool]:
        return [
            ServerTool(
                server=self.name,
                tool=tool.name,
                description=tool.description or tool.title or "",
                input_schema=dict(tool.input_schema or {"type": "object", "properties": {}}),
            )
            for tool in await self.connection.list_tools()
        ]

    async def call_tool(
        self, tool: str, arguments: dict[str, Any], *, meta: dict[str, Any] | None = None, limit: float | None = None
    ) -> ToolResult:
        return await self.connection.call_tool(tool, arguments, meta=meta, limit=limit)

    async def list_prompts(self) -> list[Any]:
        return await self.connection.list_prompts()

    async def get_prompt(self, name: str, arguments: dict[str, str] | None = None) -> Any:
        return await self.connection.get_prompt(name, arguments)

    async def list_resources(self) -> list[Any]:
        return await self.connection.list_resources()

    async def read_resource(self, uri: str) -> Any:
        return await self.connection.read_resource(uri)

    async def aclose(self) -> None:
        await self.connection.aclose()


class ProtocolServer(ConnectedServer):
    """Core's in-process protocol: errors it raises are tool errors, timeouts apply."""

    def __init__(self, name: str, obj: Any, *, conversation_state: bool = False, call_timeout: float = 60.0) -> None:
        self.name = name
        self.obj = obj
        self.transport = "in-process"
        self.conversation_state = conversation_state
        self.call_timeout = call_timeout
        try:
            self._takes_meta = "meta" in inspect.signature(obj.call_tool).parameters
        except (TypeError, ValueError):
            self._takes_meta = False

    async def list_tools(self) -> list[ServerTool]:
        specs = await self._guard("tools/list", self.obj.list_tools(), self.call_timeout)
        return [
            ServerTool(server=self.name, tool=s.name, description=s.description, input_schema=dict(s.parameters))
            for s in specs
        ]

    async def call_tool(
        self, tool: str, arguments: dict[str, Any], *, meta: dict[str, Any] | None = None, limit: float | None = None
    ) -> ToolResult:
        call = (
            self.obj.call_tool(tool, arguments, meta=meta) if self._takes_meta else self.obj.call_tool(tool, arguments)
        )
        result = await self._guard(f"tools/call {tool!r}", call, limit or self.call_timeout)
        if isinstance(result, ToolResult):
            return result
        if isinstance(result, str):
            return ToolResult(content=result)
        raise errors.MCPProtocolError(
            f"MCP server {self.name!r} answered tools/call {tool!r} with a {type(result).__name__}, not a ToolResult",
            server=self.name,
        )

    async def get_prompt(self, name: str, arguments: dict[str, str] | None = None) -> Any:
        if not hasattr(self.obj, "get_prompt"):
            return await super().get_prompt(name, arguments)
        return await self._guard(f"prompts/get {name!r}", self.obj.get_prompt(name, arguments or {}), self.call_timeout)

    async def read_resource(self, uri: str) -> Any:
        if not hasattr(self.obj, "read_resource"):
            return await super().read_resource(uri)
        return await self._guard(f"resources/read {uri!r}", self.obj.read_resource(uri), self.call_timeout)

    async def _guard(self, what: str, awaitable: Any, seconds: float) -> Any:
        try:
            with anyio.fail_after(seconds):
                return await awaitable
        except TimeoutError:
            raise errors.MCPTimeoutError(
                f"MCP server {self.name!r} did not answer {what} within {seconds:g} s", server=self.name
            ) from None

    async def aclose(self) -> None:
        await self.obj.aclose()
