"""What :class:`ai_core.PluginRegistry` reports: the inventory behind ``ai plugins --json``.

Kept apart from :mod:`ai_core.plugins` so that loading plugins (``ai --help``)
does not pay for building these pydantic models; they load when an inventory
is asked for or a plugin fails.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = [
    "ListenerEntry",
    "LoadError",
    "MCPServerEntry",
    "MiddlewareEntry",
    "PluginInfo",
    "PluginProblem",
    "ProviderEntry",
]


class LoadError(BaseModel):
    """A plugin that could not be imported or registered, and was skipped."""

    name: str = Field(description="entry-point name (or the name a test gave)")
    distribution: str | None = None
    version: str | None = None
    module: str | None = None
    phase: str = Field("import", description="'import', 'not installed', 'register', or the hook that raised")
    error: str

    def __str__(self) -> str:
        dist = f"{self.distribution} {self.version}" if self.distribution else "unknown distribution"
        return f"{self.name} ({dist}) failed at {self.phase}: {self.error}"


class ProviderEntry(BaseModel):
    name: str
    driver: str
    description: str = ""
    capabilities: list[str] = []
    default_model: str | None = None
    default_base_url: str | None = None
    api_key_env: list[str] = []


class MCPServerEntry(BaseModel):
    name: str
    transport: str
    description: str = ""
    tools: list[str] = []


class MiddlewareEntry(BaseModel):
    name: str
    order: int
    type: str


class ListenerEntry(BaseModel):
    name: str
    events: list[str]
    is_async: bool
    per_instance: bool = False
    """Made for each ``AI`` instance whose settings enable it, which also choose its events
    (``events`` is then every event: what it registered with)."""


class PluginInfo(BaseModel):
    """Everything one loaded plugin provides, as ``ai plugins --json`` prints it."""

    name: str = Field(description="entry-point name")
    distribution: str | None = None
    version: str | None = None
    module: str | None = None
    hooks: list[str] = []
    providers: list[ProviderEntry] = []
    models: list[str] = Field([], description="qualified ids, provider/model")
    priced_models: list[str] = []
    mcp_servers: list[MCPServerEntry] = []
    middleware: list[MiddlewareEntry] = []
    listeners: list[ListenerEntry] = []
    cost_calculators: list[str] = []
    cli_commands: list[str] = []


class PluginProblem(BaseModel):
    """One thing ``ai plugins --check`` found wrong with a plugin."""

    plugin: str = Field(description="the plugin's name (entry point, or config:NAME)")
    problem: str

    def __str__(self) -> str:
        return f"{self.plugin}: {self.problem}"
