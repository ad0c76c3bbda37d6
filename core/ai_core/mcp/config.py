"""External MCP servers from configuration: ``[mcp.servers.NAME]``.

The keys are the ones MCP clients already use (Claude Desktop, the SDKs)::

    [mcp]
    call_timeout = 60          # seconds one tool call may take
    connect_timeout = 30       # seconds to start a server and finish its handshake

    [mcp.servers.everything]
    command = "npx"
    args = ["-y", "@modelcontextprotocol/server-everything"]
    env = { DEBUG = "0" }

    [mcp.servers.search]
    url = "https://mcp.example.com/mcp"
    headers = { Authorization = "Bearer ..." }

The same mappings are accepted at run time: ``AI(mcp_servers={"name": {...}})``.
Environment values and headers are secrets (keys, tokens): they never appear in
a repr, a log line or an error.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = ["MCPServerConfig", "MCPSettings", "check_server_name"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


def check_server_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(
            f"MCP server name {name!r} must be 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit"
        )
    return name


class MCPServerConfig(BaseModel):
    """One external server: a stdio command or a streamable HTTP URL."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, SecretStr] = Field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    description: str = ""
    timeout: float | None = Field(None, gt=0, description="seconds one tool call may take (default: mcp.call_timeout)")

    @model_validator(mode="after")
    def _one_transport(self) -> MCPServerConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either command (stdio) or url (streamable HTTP), not both or neither")
        if self.url is not None:
            if not self.url.startswith(("http://", "https://")):
                raise ValueError("url must start with http:// or https://")
            if self.args or self.env or self.cwd:
                raise ValueError("args, env and cwd belong to a command, not a url")
        if self.command is not None and self.headers:
            raise ValueError("headers belong to a url, not a command")
        if self.command is not None and not self.command.strip():
            raise ValueError("command must not be empty")
        return self

    @property
    def transport(self) -> str:
        return "stdio" if self.command is not None else "streamable-http"

    def plain_env(self) -> dict[str, str]:
        return {k: v.get_secret_value() for k, v in self.env.items()}

    def plain_headers(self) -> dict[str, str]:
        return {k: v.get_secret_value() for k, v in self.headers.items()}


class MCPSettings(BaseModel):
    """The ``[mcp]`` table."""

    model_config = ConfigDict(extra="forbid")

    servers: dict[str, MCPServerConfig] = Field(default_factory=dict)
    call_timeout: float = Field(60.0, gt=0, description="seconds one tool call may take")
    connect_timeout: float = Field(30.0, gt=0, description="seconds to start a server and finish its handshake")

    @field_validator("servers", mode="after")
    @classmethod
    def _names(cls, value: dict[str, MCPServerConfig]) -> dict[str, MCPServerConfig]:
        for name in value:
            check_server_name(name)
        return value


def server_config(name: str, value: Any) -> MCPServerConfig:
    """A run-time server given as a mapping (``AI(mcp_servers=...)``)."""
    from pydantic import ValidationError

    from ai_core import errors

    try:
        check_server_name(name)
        return value if isinstance(value, MCPServerConfig) else MCPServerConfig.model_validate(value)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "server"
        raise errors.ConfigurationError(
            f"MCP server {name!r}: {where}: {str(first['msg']).removeprefix('Value error, ')}"
        ) from None
    except ValueError as exc:
        raise errors.ConfigurationError(str(exc)) from None
