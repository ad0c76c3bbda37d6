"""Tools a conversation can run itself: Python functions and MCP server tools.

When a model asks for tools that are all runnable here, the conversation runs
them and calls the model again with the results, up to ``AI_TOOL_ROUNDS``
rounds. Tools that are only declared (a bare :class:`ToolSpec`) are returned to
the caller in ``response.tool_calls`` instead.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Callable
from typing import Any

import anyio.to_thread
from pydantic import ValidationError, create_model

from ai_core import errors
from ai_core.mcp.spec import MCPServer, ToolResult
from ai_core.types import Message, ToolCallPart, ToolResultPart, ToolSpec

__all__ = ["FunctionTool", "ToolBox", "tool_from_function"]


class FunctionTool:
    """A Python function exposed as a tool; arguments are validated by pydantic."""

    def __init__(self, func: Callable[..., Any], *, name: str | None = None, description: str | None = None) -> None:
        self.func = func
        signature = inspect.signature(func)
        fields: dict[str, Any] = {}
        for param in signature.parameters.values():
            annotation = param.annotation if param.annotation is not inspect.Parameter.empty else Any
            default = param.default if param.default is not inspect.Parameter.empty else ...
            fields[param.name] = (annotation, default)
        self._model = create_model(f"{func.__name__}_arguments", **fields)
        schema = self._model.model_json_schema()
        schema.pop("title", None)
        self.spec = ToolSpec(
            name=name or func.__name__,
            description=description or inspect.getdoc(func) or "",
            parameters=schema,
        )

    async def run(self, arguments: dict[str, Any]) -> ToolResult:
        try:
            values = self._model.model_validate(arguments)
        except ValidationError as exc:
            return ToolResult(content=f"invalid arguments: {exc.errors(include_url=False)}", is_error=True)
        kwargs = {name: getattr(values, name) for name in type(values).model_fields}
        try:
            if inspect.iscoroutinefunction(self.func):
                result = await self.func(**kwargs)
            else:
                result = await anyio.to_thread.run_sync(lambda: self.func(**kwargs))
        except Exception as exc:  # the model sees the failure and can recover
            return ToolResult(content=f"{type(exc).__name__}: {exc}", is_error=True)
        return ToolResult(content=result if isinstance(result, str) else json.dumps(result, default=str))


def tool_from_function(func: Callable[..., Any]) -> FunctionTool:
    return FunctionTool(func)


class ToolBox:
    """The runnable tools of one conversation, by name."""

    def __init__(self) -> None:
        self.specs: dict[str, ToolSpec] = {}
        self._functions: dict[str, FunctionTool] = {}
        self._mcp: dict[str, tuple[str, MCPServer]] = {}

    def add_spec(self, spec: ToolSpec) -> None:
        self.specs[spec.name] = spec

    def add_function(self, tool: FunctionTool) -> None:
        self.specs[tool.spec.name] = tool.spec
        self._functions[tool.spec.name] = tool

    async def add_mcp_server(self, server_name: str, server: MCPServer) -> None:
        for spec in await server.list_tools():
            self.specs[spec.name] = spec
            self._mcp[spec.name] = (server_name, server)

    def runnable(self, calls: list[ToolCallPart]) -> bool:
        return bool(calls) and all(c.name in self._functions or c.name in self._mcp for c in calls)

    async def run(
        self, calls: list[ToolCallPart], emit: Callable[[str, str | None, bool, float], None]
    ) -> list[Message]:
        """Run each call; a failing tool becomes an error result, not an exception."""
        results: list[Message] = []
        for call in calls:
            started = time.perf_counter()
            server: str | None = None
            if call.name in self._functions:
                result = await self._functions[call.name].run(call.arguments)
            elif call.name in self._mcp:
                server, mcp = self._mcp[call.name]
                try:
                    result = await mcp.call_tool(call.name, call.arguments)
                except errors.AIError as exc:
                    result = ToolResult(content=str(exc), is_error=True)
            else:
                raise errors.ToolLoopError(f"model called unknown tool {call.name!r}")
            emit(call.name, server, result.is_error, (time.perf_counter() - started) * 1000)
            results.append(
                Message(
                    role="tool",
                    parts=[
                        ToolResultPart(
                            tool_call_id=call.id, name=call.name, content=result.content, is_error=result.is_error
                        )
                    ],
                )
            )
        return results
