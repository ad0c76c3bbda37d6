"""The sequential-thinking MCP server, built on the official SDK's low-level ``Server``.

:func:`create_server` returns an ``mcp.server.lowlevel.Server``: ai-core connects to it in process
(over the SDK's in-memory transport), :func:`serve_stdio` runs it over stdio for any MCP client.
The SDK speaks both protocol eras: the ``initialize`` handshake (up to 2025-11-25) and the
2026-07-28 per-request envelope, whichever the client asks for.

Each connection (each ``Server.run`` and each in-process ``Client``) gets its own session history,
used by calls that name no conversation; calls from ai-core name theirs in the request ``_meta``
(see :mod:`ai_mcp_sequential.conversations`).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import mcp.types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server

from ai_mcp_sequential.conversations import SequentialThinking
from ai_mcp_sequential.schema import ANNOTATIONS, DESCRIPTION, INPUT_SCHEMA, OUTPUT_SCHEMA, TITLE
from ai_mcp_sequential.thinking import TOOL_NAME, ThoughtData, ThoughtHistory, format_thought

__all__ = [
    "SERVER_NAME",
    "SequentialThinkingServer",
    "Session",
    "create_server",
    "log_to_stderr",
    "serve_stdio",
    "tool",
]

SERVER_NAME = "sequential-thinking-server"


def _version() -> str:
    try:
        return version("ai-mcp-sequential")
    except PackageNotFoundError:  # pragma: no cover - a source tree without metadata
        return "unknown"


@dataclass
class Session:
    """What one connection keeps: its own history, for calls that name no conversation."""

    history: ThoughtHistory


class SequentialThinkingServer(Server[Session]):
    """The SDK's low-level server, with the tool's state at hand as :attr:`thinking`."""

    thinking: SequentialThinking


def tool() -> types.Tool:
    """The ``sequentialthinking`` tool as ``tools/list`` gives it."""
    return types.Tool(
        name=TOOL_NAME,
        title=TITLE,
        description=DESCRIPTION,
        input_schema=INPUT_SCHEMA,
        output_schema=OUTPUT_SCHEMA,
        annotations=types.ToolAnnotations.model_validate(ANNOTATIONS),
        execution=types.ToolExecution(task_support="forbidden"),
    )


def log_to_stderr(data: ThoughtData) -> None:
    """The reference's log line: the thought drawn in a box on stderr."""
    print(format_thought(data), file=sys.stderr, flush=True)


def create_server(
    *,
    max_conversations: int = 1024,
    max_thoughts: int = 10_000,
    on_thought: Callable[[ThoughtData], None] | None = None,
    thinking: SequentialThinking | None = None,
) -> SequentialThinkingServer:
    """A new sequential-thinking server with its own conversation histories.

    :param max_conversations: conversation histories kept (least recently used dropped).
    :param max_thoughts: thoughts kept per history; ``thoughtHistoryLength`` keeps counting.
    :param on_thought: called with each accepted thought (:func:`log_to_stderr` logs like the
        reference); None, the default in process, logs nothing.
    :param thinking: share the state of an existing :class:`SequentialThinking` instead.
    """
    state = (
        thinking
        if thinking is not None
        else SequentialThinking(max_conversations=max_conversations, max_thoughts=max_thoughts, on_thought=on_thought)
    )

    @asynccontextmanager
    async def session(_: Server[Session]) -> AsyncIterator[Session]:
        yield Session(history=state.new_history())

    async def list_tools(
        ctx: ServerRequestContext[Session], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[tool()])

    async def call_tool(
        ctx: ServerRequestContext[Session], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        meta: Any = params.meta if params.meta is not None else ctx.meta
        outcome = state.call(params.name, params.arguments, meta=meta, session=ctx.lifespan_context.history)
        content: list[types.ContentBlock] = [types.TextContent(text=outcome.text)]
        if outcome.is_error:
            return types.CallToolResult(content=content, is_error=True)
        return types.CallToolResult(content=content, structured_content=outcome.structured)

    server = SequentialThinkingServer(
        SERVER_NAME,
        version=_version(),
        title=TITLE,
        lifespan=session,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )
    server.thinking = state
    return server


async def serve_stdio(server: Server[Session] | None = None) -> None:
    """Serve over this process's stdin and stdout until the client closes stdin."""
    from mcp.server.stdio import stdio_server

    if server is None:
        server = create_server(on_thought=log_to_stderr)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())
