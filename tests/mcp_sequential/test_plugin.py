"""The distribution: its hook, entry point and console script, and a cheap import."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import distribution

import pytest
from mcp import Client

import ai_mcp_sequential.plugin as sequential_plugin
from ai_core.mcp.spec import MCPServerSpec
from ai_core.plugins import PluginRegistry


def test_the_hook_registers_an_sdk_server_that_keeps_conversation_state() -> None:
    from mcp.server.lowlevel import Server

    registry = PluginRegistry(plugins=[("sequential-thinking", sequential_plugin)])
    spec = registry.mcp_servers()["sequential-thinking"]
    assert isinstance(spec, MCPServerSpec)
    assert (spec.tools, spec.transport, spec.conversation_state) == (("sequentialthinking",), "in-process", True)
    assert registry.load_errors == []
    one, two = spec.load_factory()(), spec.load_factory()()
    assert isinstance(one, Server) and one is not two and one.thinking is not two.thinking


@pytest.mark.anyio
async def test_the_registered_factory_serves_the_tool() -> None:
    spec = PluginRegistry(plugins=[("sequential-thinking", sequential_plugin)]).mcp_servers()["sequential-thinking"]
    async with Client(spec.load_factory()()) as client:
        [tool] = (await client.list_tools()).tools
        result = await client.call_tool(
            tool.name, {"thought": "t", "nextThoughtNeeded": False, "thoughtNumber": 2, "totalThoughts": 1}
        )
    assert result.structured_content == {"thoughtNumber": 2, "totalThoughts": 2, "nextThoughtNeeded": False,
                                         "branches": [], "thoughtHistoryLength": 1}  # fmt: skip


def test_entry_point_and_console_script_are_declared() -> None:
    entry_points = distribution("ai-mcp-sequential").entry_points
    by_group = {(e.group, e.name): e.value for e in entry_points}
    assert by_group[("ai_core", "sequential-thinking")] == "ai_mcp_sequential.plugin"
    assert by_group[("console_scripts", "ai-mcp-sequential")] == "ai_mcp_sequential.cli:main"
    requires = distribution("ai-mcp-sequential").requires or []
    assert any(r.replace(" ", "").startswith("mcp>=") for r in requires)


def test_loading_the_plugin_imports_no_sdk() -> None:
    """``ai plugins`` and every ``AI()`` load the entry point: it must stay cheap."""
    code = (
        "import sys, json; import ai_core; before = set(sys.modules); import ai_mcp_sequential.plugin; "
        "print(json.dumps(sorted(m for m in set(sys.modules) - before if m.split('.')[0] in ('mcp', 'mcp_types'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(done.stdout) == []
