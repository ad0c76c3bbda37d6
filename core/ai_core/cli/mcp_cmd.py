"""``ai mcp``: list, call, test and serve MCP servers.

Servers are the ones an ``AI`` knows: ``[mcp.servers.NAME]`` in the config file
and plugins' (``register_mcp_servers``). Every server is started (or reached)
through the official ``mcp`` SDK, exactly as a conversation would.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ai_core.app import AI


@click.group()
def mcp() -> None:
    """List, call, test and serve MCP servers."""


def _ai() -> AI:
    from ai_core.app import AI

    return AI(persistence=False)


def _run(func: Any, *args: Any) -> Any:
    import anyio

    return anyio.run(func, *args)


@mcp.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def list_servers(as_json: bool) -> None:
    """Every configured and plugin server with its tools (each server is started
    to list them; one that fails is shown with its error)."""

    async def collect() -> list[dict[str, Any]]:
        ai = _ai()
        try:
            rows = []
            for name, entry in sorted(ai._mcp.entries().items()):
                row: dict[str, Any] = {
                    "name": name,
                    "source": entry.source,
                    "transport": entry.transport,
                    "description": entry.description,
                    "tools": [],
                    "error": None,
                }
                try:
                    server = await ai._mcp.get(name)
                    row["tools"] = [{"name": t.tool, "description": t.description} for t in await server.list_tools()]
                except Exception as exc:
                    row["error"] = f"{type(exc).__name__}: {exc}"
                rows.append(row)
            return rows
        finally:
            await ai.aclose()

    rows = _run(collect)
    if as_json:
        click.echo(json.dumps({"servers": rows}, indent=2))
        return
    if not rows:
        click.echo("no MCP servers: add [mcp.servers.NAME] to the config file or install a plugin that has one")
        return
    for row in rows:
        click.echo(f"{row['name']} [{row['transport']}, {row['source']}] {row['description']}".rstrip())
        if row["error"]:
            click.echo(f"  error: {row['error']}")
        for tool in row["tools"]:
            first = (tool["description"] or "").strip().splitlines()
            click.echo(f"  {tool['name']}" + (f": {first[0]}" if first else ""))


@mcp.command("call")
@click.argument("server")
@click.argument("tool")
@click.argument("arguments", default="{}")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (content, is_error, structured).")
def call(server: str, tool: str, arguments: str, as_json: bool) -> None:
    """Call TOOL of SERVER with ARGUMENTS, a JSON object; exit status 1 if the tool reports an error."""
    try:
        parsed = json.loads(arguments)
    except json.JSONDecodeError as exc:
        raise click.UsageError(
            f"ARGUMENTS is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(parsed, dict):
        raise click.UsageError(f"ARGUMENTS must be a JSON object, not {type(parsed).__name__}")

    async def run() -> Any:
        ai = _ai()
        try:
            connected = await ai._mcp.get(server)
            return await connected.call_tool(tool, parsed)
        finally:
            await ai.aclose()

    result = _run(run)
    if as_json:
        payload = {"content": result.content, "is_error": result.is_error, "structured": result.structured}
        click.echo(json.dumps(payload, indent=2))
    else:
        click.echo(result.content)
    if result.is_error:
        sys.exit(1)


@mcp.command("test")
@click.argument("names", nargs=-1)
def test(names: tuple[str, ...]) -> None:
    """Start each server (or only NAMES), list its tools, and report every failure,
    not only the first; exit status 1 if any failed."""

    async def check() -> list[tuple[str, str | None, int]]:
        ai = _ai()
        try:
            known = ai._mcp.entries()
            unknown = [n for n in names if n not in known]
            if unknown:
                raise click.UsageError(
                    f"unknown MCP server {', '.join(unknown)} (known: {', '.join(sorted(known)) or 'none'})"
                )
            outcomes: list[tuple[str, str | None, int]] = []
            for name in names or sorted(known):
                try:
                    server = await ai._mcp.get(name)
                    count = len(await server.list_tools())
                    outcomes.append((name, None, count))
                except Exception as exc:
                    outcomes.append((name, f"{type(exc).__name__}: {exc}", 0))
            return outcomes
        finally:
            await ai.aclose()

    outcomes = _run(check)
    if not outcomes:
        click.echo("no MCP servers to test")
        return
    for name, error, count in outcomes:
        click.echo(f"FAIL {name}: {error}" if error else f"ok   {name}: {count} tool{'s' if count != 1 else ''}")
    failed = sum(1 for _, error, _ in outcomes if error)
    if failed:
        click.echo(f"{failed} of {len(outcomes)} server{'s' if len(outcomes) != 1 else ''} failed", err=True)
        sys.exit(1)


@mcp.command("serve")
@click.argument("name")
def serve(name: str) -> None:
    """Run plugin server NAME over stdio, for any MCP client (Claude Desktop, another SDK)."""
    from ai_core import errors
    from ai_core.mcp.pool import is_sdk_server
    from ai_core.mcp.spec import MCPServerSpec

    ai = _ai()
    entry = ai._mcp.entry(name)
    target = entry.target
    if isinstance(target, MCPServerSpec):
        target = target.load_factory()()
    if not is_sdk_server(target):
        raise errors.ConfigurationError(
            f"MCP server {name!r} is not an mcp SDK server object ({entry.transport}, from {entry.source}); "
            "only those can be served over stdio"
        )
    _run(_serve_stdio, target)


async def _serve_stdio(server: Any) -> None:
    from mcp.server import Server
    from mcp.server.stdio import stdio_server

    lowlevel = server if isinstance(server, Server) else server._lowlevel_server
    async with stdio_server() as (read_stream, write_stream):
        await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())
