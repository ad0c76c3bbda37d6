"""ai-mcp-sequential's hook: the ``sequential-thinking`` MCP server, in process.

Nothing heavy at import: the server (and the ``mcp`` SDK) is imported when a conversation first
uses it, through the factory's import string.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ai_core import hookimpl

__all__ = ["SERVER_NAME", "register_mcp_servers"]

SERVER_NAME = "sequential-thinking"


@hookimpl
def register_mcp_servers(register: Callable[[Any], None]) -> None:
    """Register ``sequential-thinking``: an SDK server object, connected in memory, whose
    thought history is kept per conversation (``conversation_state``)."""
    from ai_core import MCPServerSpec

    register(
        MCPServerSpec(
            name=SERVER_NAME,
            factory="ai_mcp_sequential.server:create_server",
            transport="in-process",
            description="Sequential thinking: numbered thoughts with revisions and branches",
            tools=("sequentialthinking",),
            conversation_state=True,
        )
    )
