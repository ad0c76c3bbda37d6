"""``ai mcp list | call | test | serve``."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ai_core import MCPServerSpec, ToolResult, ToolSpec, builtin, plugins
from ai_core.cli import cli
from ai_core.drivers import fake_plugin
from ai_core.hookspecs import hookimpl
from ai_core.plugins import PluginRegistry

BAD_SERVERS = Path(__file__).parent / "bad_servers.py"


class PlainServer:
    """core's in-process protocol (not an SDK server)."""

    async def list_tools(self) -> list[ToolSpec]:
        return [ToolSpec(name="hello", description="Says hello.\nMore lines.")]

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        return ToolResult(content=f"hello {arguments.get('who', 'you')}")

    async def aclose(self) -> None:
        pass


class PlainPlugin:
    @hookimpl
    def register_mcp_servers(self, register: Any) -> None:
        register(MCPServerSpec(name="plain", factory=PlainServer, transport="in-process", description="a plain one"))


@pytest.fixture
def config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    monkeypatch.setenv("AI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AI_PERSISTENCE", "off")
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
        [mcp.servers.ok]
        command = {json.dumps(sys.executable)}
        args = [{json.dumps(str(BAD_SERVERS))}, "ok"]

        [mcp.servers.missing]
        command = "/no/such/server"

        [mcp.servers.quits]
        command = {json.dumps(sys.executable)}
        args = ["-c", "pass"]
        """
    )
    monkeypatch.setenv("AI_CONFIG_FILE", str(path))
    registry = PluginRegistry(plugins=[("core", builtin), ("fake", fake_plugin), ("plain", PlainPlugin())])
    monkeypatch.setattr(plugins, "_default", registry)
    yield path


def test_list_shows_every_server_with_its_tools_or_its_error(config: Path) -> None:
    result = CliRunner().invoke(cli, ["mcp", "list", "--json"])
    assert result.exit_code == 0, result.output
    servers = {s["name"]: s for s in json.loads(result.stdout)["servers"]}
    assert [t["name"] for t in servers["ok"]["tools"]] == ["work", "pid"]
    assert servers["ok"]["transport"] == "stdio" and servers["ok"]["source"] == "config"
    assert servers["plain"]["source"] == "plugin" and servers["plain"]["tools"][0]["name"] == "hello"
    assert "command not found" in servers["missing"]["error"]
    text = CliRunner().invoke(cli, ["mcp", "list"]).stdout
    assert "plain [in-process, plugin] a plain one\n  hello: Says hello.\n" in text


def test_call_prints_the_result(config: Path) -> None:
    result = CliRunner().invoke(cli, ["mcp", "call", "plain", "hello", '{"who": "Ada"}'])
    assert (result.exit_code, result.stdout) == (0, "hello Ada\n")
    result = CliRunner().invoke(cli, ["mcp", "call", "ok", "work", '{"text": "x"}', "--json"])
    assert json.loads(result.stdout)["content"] == "worked: x"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["mcp", "call", "plain", "hello", "{nope"], "ARGUMENTS is not valid JSON"),
        (["mcp", "call", "plain", "hello", "[1]"], "must be a JSON object"),
        (["mcp", "call", "nowhere", "x"], "unknown MCP server 'nowhere'"),
        (["mcp", "test", "nowhere"], "unknown MCP server nowhere"),
        (["mcp", "serve", "plain"], "not an mcp SDK server"),
    ],
)
def test_bad_input_is_one_line(config: Path, args: list[str], words: str) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code != 0
    assert words in result.output and "Traceback" not in result.output


def test_test_reports_every_failure_not_only_the_first(config: Path) -> None:
    result = CliRunner().invoke(cli, ["mcp", "test"])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("FAIL missing: MCPConnectionError") and "command not found" in lines[0]
    assert lines[1] == "ok   ok: 2 tools"
    assert lines[2] == "ok   plain: 1 tool"
    assert lines[3].startswith("FAIL quits: MCPConnectionError")
    assert "2 of 4 servers failed" in result.stderr
    assert CliRunner().invoke(cli, ["mcp", "test", "ok", "plain"]).exit_code == 0


@pytest.mark.anyio
async def test_serve_runs_a_plugin_sdk_server_over_stdio_for_any_mcp_client(tmp_path: Path) -> None:
    from mcp import Client, StdioServerParameters
    from mcp.client.stdio import stdio_client

    from ai_core.plugins import default_registry

    if "sequential-thinking" not in default_registry().mcp_servers():
        pytest.skip("the ai-mcp-sequential plugin (sequential-thinking) is not installed")
    ai = Path(sys.executable).with_name("ai")
    env = {"AI_PERSISTENCE": "off", "AI_DATA_DIR": str(tmp_path), "DISABLE_THOUGHT_LOGGING": "true"}
    env["AI_CONFIG_FILE"] = str(tmp_path / "absent.toml")
    params = StdioServerParameters(command=str(ai), args=["mcp", "serve", "sequential-thinking"], env=env)
    # errlog given: the SDK's default is the sys.stderr of when it was first imported (maybe CliRunner's)
    async with Client(stdio_client(params, errlog=sys.__stderr__)) as client:
        tools = await client.list_tools()
        assert [t.name for t in tools.tools] == ["sequentialthinking"]
        arguments = {"thought": "t", "nextThoughtNeeded": False, "thoughtNumber": 1, "totalThoughts": 1}
        result = await client.call_tool("sequentialthinking", arguments)
    assert not result.is_error and json.loads(result.content[0].text)["thoughtNumber"] == 1
