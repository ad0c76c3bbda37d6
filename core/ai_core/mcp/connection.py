"""One live connection to an MCP server through the official ``mcp`` SDK.

The SDK's :class:`mcp.Client` is an async context manager whose task group
must be entered and left by the same task. A pooled connection outlives the
call that opened it, so each one is owned by a background task (a system task
on trio, a plain task on asyncio) that enters the client, waits to be told to
close, and leaves it: the SDK's shutdown (close stdin, terminate, kill the
process group) always runs in the task that started it, also when the event
loop is torn down at exit. Calls from any task of the same loop go through the
entered session.

The tool list is cached for the life of the connection and forgotten when the
server says it changed: ``notifications/tools/list_changed`` on a handshake-era
connection, a ``subscriptions/listen`` event (opened by the owner task) on a
2026-07-28 one. A server declaring ``tools.listChanged: false`` is listed once.
A 2026 server that cannot be listened to is listed on every request, as before.

Every failure is mapped once, here, onto :class:`ai_core.errors.MCPError`'s
subclasses, naming the server.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import sniffio

from ai_core import errors
from ai_core.mcp.spec import ToolResult

if TYPE_CHECKING:
    import anyio.abc
    import mcp_types

__all__ = ["SDKConnection", "result_from_sdk"]


class SDKConnection:
    """A connected MCP server: ``target`` is what :class:`mcp.Client` accepts
    (an SDK server object, :class:`mcp.StdioServerParameters`, a transport)."""

    def __init__(
        self,
        name: str,
        target: Any,
        *,
        connect_timeout: float = 30.0,
        call_timeout: float = 60.0,
        http_headers: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self._target = target
        self._headers = http_headers
        self.connect_timeout = connect_timeout
        self.call_timeout = call_timeout
        self._client: Any = None
        self._ready = anyio.Event()
        self._close = anyio.Event()
        self._done = anyio.Event()
        self._error: BaseException | None = None
        self.broken = False
        self._garbage: Exception | None = None
        self._open_requests: set[anyio.CancelScope] = set()
        self._scope = anyio.CancelScope()  # the owner task's: cancelled to abandon a handshake
        self._tools: list[mcp_types.Tool] | None = None  # the cached tools/list answer
        self._tools_changes = 0  # bumped by every change notice, so a listing in flight is not cached
        self._tools_cacheable = False  # set once a change would reach us (or none can happen)

    # -- lifetime ------------------------------------------------------------

    async def connect(self) -> None:
        """Start the owner task and wait until the session is initialised."""
        _spawn(self._own)
        try:
            with anyio.fail_after(self.connect_timeout):
                await self._ready.wait()
        except TimeoutError:
            await self.aclose()
            raise errors.MCPConnectionError(
                f"MCP server {self.name!r} did not finish its handshake within {self.connect_timeout:g} s",
                server=self.name,
            ) from None
        except BaseException:  # cancelled while connecting: leave no process behind
            await self.aclose()
            raise
        if self._error is not None:
            await self.aclose()
            raise _connect_error(self.name, self._error)

    async def _own(self) -> None:
        try:
            with self._scope:
                await self._enter_and_wait()
        except Exception as exc:  # reported to whoever waits for the connection
            self._error = exc
        except BaseException as exc:  # cancelled with the event loop: cleanup ran in the SDK
            self._error = exc
            raise
        finally:
            self.broken = True
            self._client = None
            self._ready.set()
            self._done.set()

    async def _enter_and_wait(self) -> None:
        async with AsyncExitStack() as stack:
            from mcp import Client

            target = self._target
            if isinstance(target, str):  # a streamable HTTP URL, with our headers
                import httpx2
                from mcp.client.streamable_http import streamable_http_client

                http = await stack.enter_async_context(
                    httpx2.AsyncClient(headers=self._headers or {}, timeout=httpx2.Timeout(30.0, read=300.0))
                )
                target = _watched(streamable_http_client(target, http_client=http), self._garbage_seen)
            elif _is_stdio(target):
                from mcp.client.stdio import stdio_client

                target = _watched(stdio_client(target, errlog=_errlog()), self._garbage_seen)
            client = await stack.enter_async_context(Client(target, message_handler=self._on_message))
            async with anyio.create_task_group() as tasks:
                from mcp_types.version import MODERN_PROTOCOL_VERSIONS

                tools = client.server_capabilities.tools
                if client.protocol_version in MODERN_PROTOCOL_VERSIONS and tools is not None and tools.list_changed:
                    await tasks.start(self._watch_tools, client)
                else:  # changes arrive as notifications, or the server promised there would be none
                    self._tools_cacheable = True
                self._client = client
                self._ready.set()
                await self._close.wait()
                tasks.cancel_scope.cancel()

    async def _on_message(self, message: Any) -> None:
        from mcp_types import ToolListChangedNotification

        if isinstance(message, ToolListChangedNotification):
            self._forget_tools()

    async def _watch_tools(self, client: Any, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """Listen for tool-list changes (2026-07-28); tools are cached only while the stream is open."""
        from mcp.shared.subscriptions import ToolsListChanged

        started = False
        try:
            with anyio.move_on_after(self.connect_timeout) as waiting:
                async with client.listen(tools_list_changed=True) as stream:
                    waiting.deadline = math.inf  # acknowledged: listen for the life of the connection
                    self._tools_cacheable = stream.honored.tools_list_changed is True
                    task_status.started()
                    started = True
                    async for event in stream:
                        if isinstance(event, ToolsListChanged):
                            self._forget_tools()
        except Exception:  # refused or dropped: list the tools on every request, as without a cache
            pass
        self._tools_cacheable = False
        self._forget_tools()
        if not started:
            task_status.started()

    def _forget_tools(self) -> None:
        self._tools = None
        self._tools_changes += 1

    async def aclose(self) -> None:
        """Close the session and stop the server (bounded; shielded from cancellation)."""
        self._close.set()
        if self._client is None:  # still starting (or never started): stop the handshake itself
            self._scope.cancel()
        with anyio.CancelScope(shield=True), anyio.move_on_after(15):
            await self._done.wait()

    # -- requests ------------------------------------------------------------

    async def list_tools(self) -> list[mcp_types.Tool]:
        """The server's tools: asked once per connection, again after the server says they changed."""
        if self._tools is not None and not self.broken:
            return list(self._tools)
        changes = self._tools_changes
        result = await self._request("tools/list", lambda c: c.list_tools(), self.call_timeout)
        tools = list(result.tools)
        if self._tools_cacheable and changes == self._tools_changes:
            self._tools = tools
        return list(tools)

    async def call_tool(
        self, name: str, arguments: dict[str, Any], *, meta: dict[str, Any] | None = None, limit: float | None = None
    ) -> ToolResult:
        result = await self._request(
            f"tools/call {name!r}",
            lambda c: c.call_tool(name, arguments, meta=meta),
            limit if limit is not None else self.call_timeout,
        )
        return result_from_sdk(result)

    async def list_prompts(self) -> list[mcp_types.Prompt]:
        result = await self._request("prompts/list", lambda c: c.list_prompts(), self.call_timeout)
        return list(result.prompts)

    async def get_prompt(self, name: str, arguments: dict[str, str] | None = None) -> mcp_types.GetPromptResult:
        return await self._request(  # type: ignore[no-any-return]
            f"prompts/get {name!r}", lambda c: c.get_prompt(name, arguments), self.call_timeout
        )

    async def list_resources(self) -> list[mcp_types.Resource]:
        result = await self._request("resources/list", lambda c: c.list_resources(), self.call_timeout)
        return list(result.resources)

    async def read_resource(self, uri: str) -> mcp_types.ReadResourceResult:
        return await self._request(  # type: ignore[no-any-return]
            f"resources/read {uri!r}", lambda c: c.read_resource(uri), self.call_timeout
        )

    @property
    def protocol_version(self) -> str | None:
        client = self._client
        return None if client is None else str(client.protocol_version)

    async def _request(self, what: str, send: Callable[[Any], Awaitable[Any]], seconds: float) -> Any:
        from mcp.shared.exceptions import MCPError as SDKError
        from pydantic import ValidationError

        client = self._client
        if client is None or self.broken:
            raise errors.MCPServerCrashedError(
                f"MCP server {self.name!r} is not connected (it exited or was closed)", server=self.name
            )
        scope = anyio.CancelScope()
        self._open_requests.add(scope)
        try:
            with scope, anyio.fail_after(seconds if seconds and math.isfinite(seconds) else None):
                return await send(client)
            if scope.cancelled_caught:  # garbage arrived: _garbage_seen cancelled the request
                raise errors.MCPProtocolError(
                    f"MCP server {self.name!r} sent something that is not MCP during {what}: {self._garbage}",
                    server=self.name,
                )
            raise errors.MCPServerCrashedError(f"MCP server {self.name!r} stopped answering {what}", server=self.name)
        except TimeoutError:
            self.broken = True  # a hung server: the pool starts a fresh one next time
            raise errors.MCPTimeoutError(
                f"MCP server {self.name!r} did not answer {what} within {seconds:g} s", server=self.name
            ) from None
        except SDKError as exc:
            from mcp_types import CONNECTION_CLOSED

            if exc.code == CONNECTION_CLOSED or self._done.is_set():
                self.broken = True
                raise errors.MCPServerCrashedError(
                    f"MCP server {self.name!r} went away during {what}", server=self.name
                ) from exc
            raise errors.MCPError(
                f"MCP server {self.name!r} refused {what}: {exc.message} (code {exc.code})", server=self.name
            ) from exc
        except ValidationError as exc:
            raise errors.MCPProtocolError(
                f"MCP server {self.name!r} answered {what} with an invalid result: {exc.error_count()} problem(s), "
                f"first: {exc.errors(include_url=False)[0]['msg']}",
                server=self.name,
            ) from exc
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, OSError) as exc:
            self.broken = True
            raise errors.MCPServerCrashedError(
                f"MCP server {self.name!r} went away during {what}", server=self.name
            ) from exc
        finally:
            self._open_requests.discard(scope)

    def _garbage_seen(self, exc: Exception) -> None:
        """The transport read a line that is not JSON-RPC: the connection cannot be
        trusted, so open requests fail now (not at their timeout) and the pool replaces it."""
        self._garbage = exc
        self.broken = True
        for scope in list(self._open_requests):
            scope.cancel()


def _errlog() -> Any:
    """Where a stdio server's stderr goes: ours, when it is a real file (a Jupyter
    kernel's or a test runner's replacement has no descriptor to hand a child)."""
    for stream in (sys.stderr, sys.__stderr__):
        try:
            if stream is not None:
                stream.fileno()
                return stream
        except (AttributeError, OSError, ValueError):
            continue
    return open(os.devnull, "w")


def _is_stdio(target: Any) -> bool:
    return type(target).__name__ == "StdioServerParameters"


@asynccontextmanager
async def _watched(transport: Any, on_garbage: Callable[[Exception], None]) -> AsyncIterator[Any]:
    """``transport``'s streams, with every unparseable message reported to ``on_garbage``."""
    async with transport as (read_stream, write_stream):
        sender, receiver = anyio.create_memory_object_stream[Any](0)

        async def pump() -> None:
            async with sender:
                async for item in read_stream:
                    if isinstance(item, Exception):
                        on_garbage(item)
                    await sender.send(item)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(pump)
            try:
                yield receiver, write_stream
            finally:
                tasks.cancel_scope.cancel()


def result_from_sdk(result: Any) -> ToolResult:
    """An SDK ``CallToolResult`` as core's :class:`ToolResult`: text parts joined,
    other parts (images, resources) described, so a model always gets text."""
    texts: list[str] = []
    for block in result.content or []:
        kind = getattr(block, "type", None)
        if kind == "text":
            texts.append(block.text)
        elif kind == "resource":
            resource = block.resource
            texts.append(getattr(resource, "text", None) or f"[resource {resource.uri}]")
        elif kind == "resource_link":
            texts.append(f"[resource link {block.uri}]")
        elif kind in ("image", "audio"):
            texts.append(f"[{kind} {block.mime_type}, {len(block.data)} base64 characters]")
        else:
            texts.append(f"[{kind} content]")
    structured = result.structured_content
    if not texts and structured is not None:
        import json

        texts.append(json.dumps(structured))
    return ToolResult(
        content="\n".join(texts),
        is_error=bool(result.is_error),
        structured=dict(structured) if isinstance(structured, dict) else None,
    )


def _connect_error(name: str, exc: BaseException) -> errors.MCPError:
    if isinstance(exc, errors.MCPError):
        return exc
    leaf = exc
    while isinstance(leaf, BaseExceptionGroup) and len(leaf.exceptions) == 1:
        leaf = leaf.exceptions[0]
    detail = str(leaf) or type(leaf).__name__
    if isinstance(leaf, OSError) and leaf.strerror:
        detail = f"{leaf.strerror}: {leaf.filename}" if leaf.filename else leaf.strerror
    error = errors.MCPConnectionError(f"cannot connect to MCP server {name!r}: {detail}", server=name)
    error.__cause__ = exc
    return error


def _spawn(func: Callable[[], Awaitable[None]]) -> None:
    """Run ``func`` in the background of the running loop, outliving the caller's task."""
    if sniffio.current_async_library() == "trio":
        import trio

        trio.lowlevel.spawn_system_task(func)
        return
    import asyncio

    task: asyncio.Task[None] = asyncio.get_running_loop().create_task(func())  # type: ignore[arg-type]
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


_BACKGROUND: set[Any] = set()
