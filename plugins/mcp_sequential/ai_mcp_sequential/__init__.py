"""ai-mcp-sequential: the sequential-thinking MCP server for ai-core.

The names below import lazily, so the plugin's entry point stays cheap (no ``mcp`` import until
a server is built).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ai_mcp_sequential.conversations import SequentialThinking
    from ai_mcp_sequential.server import SequentialThinkingServer, create_server, serve_stdio
    from ai_mcp_sequential.thinking import TOOL_NAME, ThoughtData, ThoughtHistory, ToolOutcome

__all__ = [
    "TOOL_NAME",
    "SequentialThinking",
    "SequentialThinkingServer",
    "ThoughtData",
    "ThoughtHistory",
    "ToolOutcome",
    "create_server",
    "serve_stdio",
]

_EXPORTS = {
    "SequentialThinking": "ai_mcp_sequential.conversations",
    "SequentialThinkingServer": "ai_mcp_sequential.server",
    "create_server": "ai_mcp_sequential.server",
    "serve_stdio": "ai_mcp_sequential.server",
    "TOOL_NAME": "ai_mcp_sequential.thinking",
    "ThoughtData": "ai_mcp_sequential.thinking",
    "ThoughtHistory": "ai_mcp_sequential.thinking",
    "ToolOutcome": "ai_mcp_sequential.thinking",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ai_mcp_sequential' has no attribute {name!r}")
    return getattr(import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
