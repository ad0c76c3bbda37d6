"""The MCP part of the conversation builder: servers, allow lists, approvers,
prompts and resources, and deciding deferred calls.

:class:`ai_core.ConversationBuilder` inherits these methods; they live here so
the builder module keeps one job.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from ai_core import errors
from ai_core.mcp.attachments import MCPAttachment, resolve_attachments

if TYPE_CHECKING:
    from ai_core.app import AI
    from ai_core.mcp.pending import PendingCall
    from ai_core.pipeline.tools import RunContext, ToolBox
    from ai_core.types import ChatResponse, Message, StreamEvent

__all__ = ["MCPConversation"]

_CHOICES = ("auto", "none", "required")


class MCPConversation:
    _ai: AI
    _mcp_names: list[str]
    _mcp_allow: dict[str, tuple[str, ...] | None]
    _approvers: list[Callable[..., Any]]
    _pending: list[Any]
    _history: list[Message]
    _params: dict[str, Any]
    _user_id: str | None
    _tenant: str | None

    if TYPE_CHECKING:

        @property
        def id(self) -> str: ...  # provided by the builder

    def _init_mcp(self) -> None:
        self._mcp_names = []
        self._mcp_allow = {}
        self._approvers = []

    # -- fluent setters ----------------------------------------------------

    def mcp(self, name: str, *, tools: Sequence[str] | None = None) -> Any:
        """Give the model the tools of MCP server ``name`` (named ``name__tool``);
        ``tools`` is an allow list of the server's own tool names (a name it does
        not have is refused before any model call)."""
        self._ai._mcp.entry(name)  # unknown: ConfigurationError naming the known ones
        if isinstance(tools, str):
            raise errors.ConfigurationError("tools= takes a list of tool names, not one string")
        if name not in self._mcp_names:
            self._mcp_names.append(name)
        if tools is None:
            self._mcp_allow.setdefault(name, None)
        else:
            earlier = self._mcp_allow.get(name) or ()
            self._mcp_allow[name] = tuple(dict.fromkeys((*earlier, *tools)))
        return self

    def approver(self, check: Callable[..., Any]) -> Any:
        """Decide each tool call of this conversation before it runs: ``check(request)``
        (plain or ``async``) returns :class:`ai_core.Approval` (approve, deny with a
        reason the model reads, or defer until :meth:`approve`/:meth:`deny`),
        ``"approve"``/``"deny"``/``"defer"``, a bool, or None (no opinion)."""
        self._approvers.append(check)
        return self

    def mcp_prompt(self, server: str, name: str, arguments: dict[str, str] | None = None) -> Any:
        """Queue the messages of prompt ``name`` of MCP server ``server`` (fetched when sent)."""
        self._ai._mcp.entry(server)
        self._pending.append(
            MCPAttachment(server=server, prompt=name, arguments={k: str(v) for k, v in (arguments or {}).items()})
        )
        return self

    def mcp_resource(self, server: str, uri: str) -> Any:
        """Queue the contents of resource ``uri`` of MCP server ``server`` as a user message (read when sent)."""
        self._ai._mcp.entry(server)
        self._pending.append(MCPAttachment(server=server, uri=uri))
        return self

    # -- deferred calls ----------------------------------------------------

    async def aapprove(self, call_id: str) -> ChatResponse | None:
        """Run the deferred call ``call_id``; when it was the turn's last, continue
        the turn and return the model's answer, else None."""
        from ai_core.mcp.resume import decide_pending

        return await decide_pending(self, call_id, approve=True)  # type: ignore[arg-type]

    def approve(self, call_id: str) -> ChatResponse | None:
        return self._ai._bridge.call(self.aapprove, call_id)

    async def adeny(self, call_id: str, reason: str = "") -> ChatResponse | None:
        """Answer the deferred call ``call_id`` with a denial (the model reads ``reason``);
        continue the turn as :meth:`aapprove` does."""
        from ai_core.mcp.resume import decide_pending

        return await decide_pending(self, call_id, approve=False, reason=reason)  # type: ignore[arg-type]

    def deny(self, call_id: str, reason: str = "") -> ChatResponse | None:
        return self._ai._bridge.call(self.adeny, call_id, reason)

    async def apending_calls(self) -> list[PendingCall]:
        """Tool calls of this conversation awaiting approve()/deny() (from storage)."""
        return await self._ai._mcp_pending.list(self.id)

    def pending_calls(self) -> list[PendingCall]:
        return self._ai._bridge.call(self.apending_calls)

    # -- used by the builder and the runner ----------------------------------

    def _attachments_waiting(self) -> bool:
        """Whether an MCP prompt or resource added to the next turn is still to be fetched."""
        return any(isinstance(item, MCPAttachment) for item in self._pending)

    async def _resolve_mcp(self) -> None:
        if self._attachments_waiting():
            self._pending = await resolve_attachments(self._ai._mcp, self._pending)

    def _stream_after_resolving(self, stream: Callable[[], AsyncIterator[StreamEvent]]) -> AsyncIterator[StreamEvent]:
        """``stream()`` itself when nothing waits to be fetched (closing it closes the
        turn's stream at once), else the same after fetching prompts and resources."""
        if not self._attachments_waiting():
            return stream()
        return self._resolved_stream(stream)

    async def _resolved_stream(self, stream: Callable[[], AsyncIterator[StreamEvent]]) -> AsyncIterator[StreamEvent]:
        await self._resolve_mcp()
        async with aclosing(stream()) as events:  # type: ignore[type-var]
            async for event in events:
                yield event

    async def _add_mcp_tools(self, box: ToolBox) -> None:
        for name in self._mcp_names:
            await box.add_mcp_server(name, await self._ai._mcp.get(name), self._mcp_allow.get(name))
        choice = self._params.get("tool_choice")
        if isinstance(choice, str) and choice not in _CHOICES:
            box.check_offered([choice])

    def _run_context(self) -> RunContext:
        from ai_core.pipeline.tools import RunContext

        registry = self._ai.services.registry
        plugin_approvers = registry.tool_approvers()
        return RunContext(
            conversation_id=self.id,
            history=list(self._history),
            events=self._ai.services.events,
            approvers=[*plugin_approvers, *self._approvers],
            user=self._user_id,
            tenant=self._tenant,
        )
