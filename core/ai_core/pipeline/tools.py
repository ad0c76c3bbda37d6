"""Tools a conversation can run itself: Python functions and MCP server tools.

When a model asks for tools that are runnable here, the conversation runs
them and calls the model again with the results, up to ``AI_TOOL_ROUNDS``
rounds. Tools that are only declared (a bare :class:`ToolSpec`) are returned to
the caller in ``response.tool_calls`` instead.

Each call is approved first (:mod:`ai_core.mcp.approval`), runs within its
timeout, and whatever it raises becomes an error result the model reads: one
failing call never stops the others of the same turn.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from pydantic import ValidationError, create_model

from ai_core import errors
from ai_core.mcp.approval import ToolApprover, ToolCallRequest, decide
from ai_core.mcp.conversation_meta import conversation_meta, earlier_calls
from ai_core.mcp.names import namespaced
from ai_core.mcp.pending import PendingCall
from ai_core.mcp.spec import ToolResult
from ai_core.types import Message, ToolCallPart, ToolResultPart, ToolSpec

if TYPE_CHECKING:
    from ai_core.events.dispatcher import EventDispatcher
    from ai_core.mcp.servers import ConnectedServer

__all__ = ["FunctionTool", "ToolBox", "ToolRun", "tool_from_function"]


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


@dataclass
class ToolRun:
    """What running one model answer's tool calls produced."""

    results: list[Message] = field(default_factory=list)
    deferred: list[PendingCall] = field(default_factory=list)


@dataclass
class RunContext:
    conversation_id: str
    history: Sequence[Message]
    events: EventDispatcher
    approvers: Sequence[ToolApprover | Callable[..., Any]] = ()
    user: str | None = None
    tenant: str | None = None


class ToolBox:
    """The runnable tools of one conversation, by the name the model sees."""

    def __init__(self) -> None:
        self.specs: dict[str, ToolSpec] = {}
        self._functions: dict[str, FunctionTool] = {}
        self._mcp: dict[str, tuple[ConnectedServer, str]] = {}
        self.owners: dict[str, tuple[str | None, str]] = {}
        """Model-facing name -> (MCP server or None, the tool's own name)."""
        self.interrupted: ToolRun | None = None

    def add_spec(self, spec: ToolSpec) -> None:
        self._claim(spec.name, f"the declared tool {spec.name!r}")
        self.specs[spec.name] = spec

    def add_function(self, tool: FunctionTool) -> None:
        self._claim(tool.spec.name, f"the function tool {tool.spec.name!r}")
        self.specs[tool.spec.name] = tool.spec
        self._functions[tool.spec.name] = tool
        self.owners[tool.spec.name] = (None, tool.spec.name)

    async def add_mcp_server(
        self, server_name: str, server: ConnectedServer, allow: Sequence[str] | None = None
    ) -> None:
        """Offer ``server``'s tools as ``server__tool``; with ``allow``, only those
        (a name the server does not have is refused here, before any model call)."""
        tools = await server.list_tools()
        if allow is not None:
            have = {t.tool for t in tools}
            missing = [name for name in allow if name not in have]
            if missing:
                raise errors.ConfigurationError(
                    f"MCP server {server_name!r} has no tool {', '.join(map(repr, missing))} "
                    f"(it has: {', '.join(sorted(have)) or 'none'})"
                )
            tools = [t for t in tools if t.tool in allow]
        for tool in tools:
            name = namespaced(server_name, tool.tool)
            self._claim(name, f"tool {tool.tool!r} of MCP server {server_name!r}")
            parameters = dict(tool.input_schema)
            parameters.setdefault("type", "object")
            self.specs[name] = ToolSpec(name=name, description=tool.description, parameters=parameters)
            self._mcp[name] = (server, tool.tool)
            self.owners[name] = (server_name, tool.tool)

    def _claim(self, name: str, what: str) -> None:
        if name in self.specs:
            raise errors.ConfigurationError(f"two tools would both be offered as {name!r}; {what} is the second")

    def check_offered(self, names: Sequence[str]) -> None:
        """Refuse (before any provider call) a tool choice naming a tool nobody offers."""
        for name in names:
            if self.specs and name not in self.specs:
                message = (
                    f"tool {name!r} is offered to the model but no server or function has it "
                    f"(offered: {', '.join(sorted(self.specs))})"
                )
                problem = {"loc": ("tool_choice",), "msg": message, "type": "value_error", "input": name}
                raise errors.RequestValidationError(message, errors=[problem])

    def _runs(self, name: str) -> bool:
        return name in self._functions or name in self._mcp

    @property
    def runs_tools(self) -> bool:
        """Whether this conversation runs any tool itself (a function's, an MCP server's)."""
        return bool(self._functions or self._mcp)

    def runnable(self, calls: list[ToolCallPart]) -> bool:
        """True when this conversation answers every call itself: each is a tool it
        runs, or a name nobody declared (answered with an error); a call to a
        declared-only tool hands the whole answer to the caller."""
        return (
            bool(calls)
            and bool(self._functions or self._mcp)
            and all(self._runs(c.name) or c.name not in self.specs for c in calls)
        )

    async def run(self, calls: list[ToolCallPart], context: RunContext) -> ToolRun:
        """Approve and run each call in order; every failure becomes an error result.

        Cancelled part-way, it leaves in :attr:`interrupted` the results so far plus
        a "not run" result for each call left, for the caller to store: the
        conversation then answers every call and stays valid to send again."""
        outcome = ToolRun()
        self.interrupted = None
        try:
            await self._run_each(calls, context, outcome)
        except BaseException:
            answered = {m.parts[0].tool_call_id for m in outcome.results if isinstance(m.parts[0], ToolResultPart)}
            left = [c for c in calls if c.id not in answered]  # deferred ones too: nobody will decide them
            stopped = [_result_message(c, ToolResult("not run: the turn was cancelled", is_error=True)) for c in left]
            self.interrupted = ToolRun(results=[*outcome.results, *stopped])
            raise
        return outcome

    async def _run_each(self, calls: list[ToolCallPart], context: RunContext, outcome: ToolRun) -> None:
        for call in calls:
            server_name, tool = self.owners.get(call.name, (None, call.name))
            _emit_requested(context, call, server_name, tool if call.name in self.owners else None)
            started = time.perf_counter()
            result, label = await self._decide_and_run(call, server_name, tool, context, outcome)
            duration = (time.perf_counter() - started) * 1000
            _emit_completed(
                context,
                call,
                server_name,
                tool if call.name in self.owners else None,
                label,
                result.is_error if result else False,
                duration,
            )
            if result is not None:
                outcome.results.append(_result_message(call, result))

    async def _decide_and_run(
        self, call: ToolCallPart, server_name: str | None, tool: str, context: RunContext, outcome: ToolRun
    ) -> tuple[ToolResult | None, str]:
        if not self._runs(call.name):
            offered = ", ".join(sorted(n for n in self.specs if self._runs(n)))
            return ToolResult(f"no tool named {call.name!r} here; available: {offered}", is_error=True), "unknown_tool"
        request = ToolCallRequest(
            conversation_id=context.conversation_id,
            call_id=call.id,
            name=call.name,
            tool=tool,
            server=server_name,
            arguments=dict(call.arguments),
            user=context.user,
            tenant=context.tenant,
        )
        approval = await decide(request, context.approvers)
        if approval.decision == "deny":
            reason = f": {approval.reason}" if approval.reason else ""
            return ToolResult(f"the call was denied{reason}", is_error=True), "denied"
        if approval.decision == "defer":
            outcome.deferred.append(
                PendingCall(
                    conversation_id=context.conversation_id,
                    call_id=call.id,
                    name=call.name,
                    tool=tool,
                    server=server_name,
                    arguments=dict(call.arguments),
                    reason=approval.reason,
                )
            )
            return None, "deferred"
        history = [*context.history, *outcome.results]
        result = await self.execute(call, context.conversation_id, history)
        return result, "error" if result.is_error else "ok"

    async def execute(self, call: ToolCallPart, conversation_id: str, history: Sequence[Message]) -> ToolResult:
        """Run one approved call; never raises (except cancellation)."""
        try:
            if call.name in self._functions:
                return await self._functions[call.name].run(call.arguments)
            server, tool = self._mcp[call.name]
            meta = None
            if server.conversation_state:
                meta = conversation_meta(conversation_id, earlier_calls(history, server.name, self.owners))
            return await server.call_tool(tool, dict(call.arguments), meta=meta)
        except errors.AIError as exc:
            return ToolResult(content=f"{type(exc).__name__}: {exc}", is_error=True)
        except Exception as exc:  # whatever a server or tool raises, the model is told, the turn goes on
            return ToolResult(content=f"the tool failed: {type(exc).__name__}: {exc}", is_error=True)


def _result_message(call: ToolCallPart, result: ToolResult) -> Message:
    return Message(
        role="tool",
        parts=[ToolResultPart(tool_call_id=call.id, name=call.name, content=result.content, is_error=result.is_error)],
    )


def _emit_requested(context: RunContext, call: ToolCallPart, server: str | None, server_tool: str | None) -> None:
    from ai_core.events.types import AgentActionRequested

    if context.events.wants(AgentActionRequested):
        context.events.emit(
            AgentActionRequested(
                conversation_id=context.conversation_id,
                call_id=call.id,
                tool=call.name,
                server=server,
                server_tool=server_tool if server else None,
            )
        )


def _emit_completed(
    context: RunContext,
    call: ToolCallPart,
    server: str | None,
    server_tool: str | None,
    outcome: str,
    is_error: bool,
    duration_ms: float,
) -> None:
    from ai_core.events.types import AgentActionCompleted, ToolCalled

    events = context.events
    if outcome in ("ok", "error") and events.wants(ToolCalled):
        events.emit(
            ToolCalled(
                conversation_id=context.conversation_id,
                tool=call.name,
                server=server,
                is_error=is_error,
                duration_ms=duration_ms,
            )
        )
    if events.wants(AgentActionCompleted):
        events.emit(
            AgentActionCompleted(
                conversation_id=context.conversation_id,
                call_id=call.id,
                tool=call.name,
                server=server,
                server_tool=server_tool if server else None,
                outcome=outcome,
                is_error=is_error or outcome in ("denied", "unknown_tool"),
                duration_ms=duration_ms,
            )
        )
