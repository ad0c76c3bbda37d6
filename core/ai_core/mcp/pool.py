"""The MCP servers one ``AI`` instance knows, and its pool of live connections.

Servers come from three places; a name given at run time wins over the config
file, which wins over a plugin:

* ``AI(mcp_servers={"name": {...}})`` (a mapping like ``[mcp.servers.NAME]``,
  an :class:`MCPServerSpec`, an SDK server object, or an object with core's
  :class:`MCPServer` protocol), or ``ai.add_mcp_server(name, ...)``;
* ``[mcp.servers.NAME]`` in the config file;
* plugins, through ``register_mcp_servers``.

A server is connected the first time it is used, once per event loop (an SDK
session belongs to the loop it was opened on), and reused; one that crashed
or hung is replaced on next use. :meth:`MCPPool.aclose` closes them all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import sniffio

from ai_core import errors
from ai_core.mcp.config import MCPServerConfig, server_config
from ai_core.mcp.servers import ConnectedServer, ProtocolServer, SDKServer
from ai_core.mcp.spec import MCPServerSpec

if TYPE_CHECKING:
    from ai_core.services import Services

__all__ = ["MCPPool", "ServerEntry", "is_sdk_server"]


@dataclass(frozen=True)
class ServerEntry:
    """A known server, before it is connected."""

    name: str
    source: str  # "run-time", "config" or "plugin"
    transport: str
    description: str
    target: Any  # MCPServerConfig, MCPServerSpec, or a server object
    conversation_state: bool = False


def is_sdk_server(obj: Any) -> bool:
    """An ``mcp`` SDK server object (``MCPServer``/``FastMCP`` or the low-level ``Server``)."""
    if not any(cls.__module__.startswith("mcp.") for cls in type(obj).__mro__):
        return False  # no SDK class in its ancestry: no need to import the SDK to know
    from mcp.server import Server
    from mcp.server.mcpserver import MCPServer

    return isinstance(obj, Server | MCPServer)


class MCPPool:
    def __init__(self, services: Services, servers: Mapping[str, Any] | None = None) -> None:
        self.services = services
        self._runtime: dict[str, ServerEntry] = {}
        self._live: dict[tuple[str, int], tuple[Any, ConnectedServer]] = {}
        self._locks: dict[tuple[str, int], anyio.Lock] = {}
        for name, server in (servers or {}).items():
            self.add(name, server)

    # -- what is known ---------------------------------------------------------

    def add(self, name: str, server: Any, *, conversation_state: bool = False) -> None:
        """Make ``server`` known as ``name`` for this instance (see the module docstring)."""
        if isinstance(server, MCPServerSpec):
            entry = ServerEntry(
                name,
                "run-time",
                server.transport,
                server.description,
                server,
                server.conversation_state or conversation_state,
            )
        elif isinstance(server, Mapping | MCPServerConfig):
            config = server_config(name, server)
            entry = ServerEntry(name, "run-time", config.transport, config.description, config)
        elif is_sdk_server(server) or hasattr(server, "call_tool"):
            entry = ServerEntry(name, "run-time", "in-process", "", server, conversation_state)
        else:
            raise errors.ConfigurationError(
                f"MCP server {name!r}: give a mapping with command/args/env or url/headers, an MCPServerSpec, "
                f"an mcp SDK server or an object with call_tool, not {type(server).__name__}"
            )
        self._runtime[name] = entry

    def entries(self) -> dict[str, ServerEntry]:
        """Every known server by name, in the precedence order of the module docstring."""
        found: dict[str, ServerEntry] = {}
        for spec in self.services.registry.mcp_servers().values():
            found[spec.name] = ServerEntry(
                spec.name, "plugin", spec.transport, spec.description, spec, spec.conversation_state
            )
        for name, config in self.services.settings.mcp.servers.items():
            found[name] = ServerEntry(name, "config", config.transport, config.description, config)
        found.update(self._runtime)
        return found

    def entry(self, name: str) -> ServerEntry:
        entry = self.entries().get(name)
        if entry is None:
            known = ", ".join(sorted(self.entries())) or "none configured or installed"
            raise errors.ConfigurationError(f"unknown MCP server {name!r} (known: {known})")
        return entry

    # -- connections -----------------------------------------------------------

    async def get(self, name: str) -> ConnectedServer:
        """The connected server ``name`` for the running event loop."""
        loop = _loop_token()
        key = (name, id(loop))
        live = self._live.get(key)
        if live is not None and live[0] is loop and not live[1].broken:
            return live[1]
        lock = self._locks.setdefault(key, anyio.Lock())
        async with lock:
            live = self._live.get(key)
            if live is not None and live[0] is loop and not live[1].broken:
                return live[1]
            if live is not None:  # crashed or hung: replace it
                del self._live[key]
                with anyio.move_on_after(5, shield=True):
                    try:
                        await live[1].aclose()
                    except Exception:
                        pass
            server = await self._connect(self.entry(name))
            self._live[key] = (loop, server)
            return server

    async def _connect(self, entry: ServerEntry) -> ConnectedServer:
        settings = self.services.settings.mcp
        target = entry.target
        if isinstance(target, MCPServerConfig):
            return await _external(
                entry.name, target, settings.connect_timeout, target.timeout or settings.call_timeout
            )
        if isinstance(target, MCPServerSpec):
            try:
                target = target.load_factory()()
            except Exception as exc:
                raise errors.MCPConnectionError(
                    f"cannot create MCP server {entry.name!r}: {type(exc).__name__}: {exc}", server=entry.name
                ) from exc
        if is_sdk_server(target):
            from ai_core.mcp.connection import SDKConnection

            connection = SDKConnection(
                entry.name, target, connect_timeout=settings.connect_timeout, call_timeout=settings.call_timeout
            )
            await connection.connect()
            return SDKServer(connection, transport="in-process", conversation_state=entry.conversation_state)
        if not (callable(getattr(target, "list_tools", None)) and callable(getattr(target, "call_tool", None))):
            raise errors.MCPConnectionError(
                f"MCP server {entry.name!r} is a {type(target).__name__}: neither an mcp SDK server "
                "nor an object with list_tools/call_tool/aclose",
                server=entry.name,
            )
        connect = getattr(target, "connect", None)
        if connect is not None:
            try:
                await connect()
            except Exception as exc:
                raise errors.MCPConnectionError(
                    f"cannot connect to MCP server {entry.name!r}: {type(exc).__name__}: {exc}", server=entry.name
                ) from exc
        return ProtocolServer(
            entry.name, target, conversation_state=entry.conversation_state, call_timeout=settings.call_timeout
        )

    async def aclose(self) -> None:
        """Close every connection of the running loop (others end with their loop)."""
        try:
            loop: Any = _loop_token()
        except Exception:
            loop = None
        live, self._live = self._live, {}
        self._locks.clear()
        for owner, server in live.values():
            if owner is not loop and isinstance(server, SDKServer):
                continue  # its loop is another thread's: its owner task ends with that loop
            try:
                await server.aclose()
            except Exception:  # a server that died already has nothing to close
                pass


def _loop_token() -> Any:
    """The running event loop (asyncio) or run (trio)."""
    if sniffio.current_async_library() == "trio":
        import trio

        return trio.lowlevel.current_root_task()
    import asyncio

    return asyncio.get_running_loop()


async def _external(name: str, config: MCPServerConfig, connect_timeout: float, call_timeout: float) -> ConnectedServer:
    try:
        import mcp  # noqa: F401
    except ImportError:
        raise errors.ConfigurationError(f"MCP server {name!r} needs the mcp SDK: pip install 'ai-core[mcp]'") from None
    from ai_core.mcp.connection import SDKConnection

    target: Any
    headers: dict[str, str] | None = None
    if config.command is not None:
        from mcp import StdioServerParameters

        from ai_core.mcp.guard import guarded_command

        env = config.plain_env()
        try:
            command, args = guarded_command(config.command, config.args, env.get("PATH", os.environ.get("PATH")))
        except FileNotFoundError:
            raise errors.MCPConnectionError(
                f"cannot start MCP server {name!r}: command not found: {config.command}", server=name
            ) from None
        target = StdioServerParameters(command=command, args=args, env=env or None, cwd=config.cwd)
    else:
        target = config.url
        headers = config.plain_headers()
    connection = SDKConnection(
        name, target, connect_timeout=connect_timeout, call_timeout=call_timeout, http_headers=headers
    )
    await connection.connect()
    return SDKServer(connection, transport=config.transport)
