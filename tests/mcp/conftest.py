"""Fixtures for the MCP suites: real servers (npm's everything over stdio, SDK servers in
process and over streamable HTTP, misbehaving scripts), an ``AI`` wired to them, and databases."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from servers.fixtures import _openai_server_session, openai_server  # noqa: F401
from support.db_fixtures import database, database_url, db_backend, postgres_server, sqlite_template  # noqa: F401

HERE = Path(__file__).parent
EVERYTHING = HERE.parent / "servers" / "npm" / "node_modules" / ".bin" / "mcp-server-everything"


@pytest.fixture(scope="session")
def everything_command() -> dict[str, object]:
    """``[mcp.servers.everything]`` for the npm reference server (skips, naming it, when not installed)."""
    if not EVERYTHING.exists():
        pytest.skip(f"mcp-server-everything is not installed ({EVERYTHING}); run npm install in tests/servers/npm")
    return {"command": str(EVERYTHING), "args": ["stdio"]}


def _script_server(kind: str) -> dict[str, object]:
    return {"command": sys.executable, "args": [str(HERE / "bad_servers.py"), kind], "timeout": 3}


@pytest.fixture(scope="session")
def script_server() -> object:
    """``script_server(kind)``: ``[mcp.servers.X]`` for a stdio server from tests/mcp/bad_servers.py
    (``ok``, ``crash``, ``hang``, ``garbage``), with a 3 s call timeout."""
    return _script_server
