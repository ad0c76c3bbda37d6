"""What ``register_mcp_servers`` registers, and what core needs of a server."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ai_core.types import ToolSpec

__all__ = ["MCPServer", "MCPServerSpec", "ToolResult"]


@dataclass(frozen=True)
class ToolResult:
    content: str
    is_error: bool = False
    structured: dict[str, Any] | None = None


@runtime_checkable
class MCPServer(Protocol):
    """A connected MCP server (in-process or over stdio)."""

    async def list_tools(self) -> list[ToolSpec]: ...

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> ToolResult: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class MCPServerSpec:
    """A named MCP server. ``factory`` (or an import string) builds it when a
    conversation first uses it: an ``mcp`` SDK server object (``MCPServer``, the
    low-level ``Server``), connected in-process through the SDK, or an object
    with the :class:`MCPServer` protocol.

    ``conversation_state=True`` opts in to conversation data: every
    ``tools/call`` made for a conversation carries request ``_meta``
    ``{"ai_core": {"conversation_id": ..., "earlier_calls": [...]}}`` (see
    docs/mcp.md). Off by default, so no server learns about conversations
    unless it asks to.
    """

    name: str
    factory: Callable[[], Any] | str
    description: str = ""
    transport: str = "stdio"
    tools: tuple[str, ...] = field(default=())
    conversation_state: bool = False

    def load_factory(self) -> Callable[[], Any]:
        if callable(self.factory):
            return self.factory
        import importlib

        module_name, _, attr = self.factory.partition(":")
        target: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
        return target  # type: ignore[no-any-return]
