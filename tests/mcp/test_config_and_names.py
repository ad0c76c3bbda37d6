"""``[mcp.servers.NAME]`` in the config file, run-time servers, and the names the model sees."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ai_core import AI
from ai_core.errors import ConfigurationError
from ai_core.mcp.names import namespaced

RULE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config.toml"
    monkeypatch.setenv("AI_CONFIG_FILE", str(path))
    return path


def test_servers_from_the_config_file(config_file: Path) -> None:
    config_file.write_text(
        """
        [mcp]
        call_timeout = 12

        [mcp.servers.local]
        command = "python3"
        args = ["-m", "server"]
        env = { API_TOKEN = "tok-secret-123456" }

        [mcp.servers.remote]
        url = "https://mcp.example.com/mcp"
        headers = { Authorization = "Bearer hdr-secret-123456" }
        """
    )
    with AI(persistence=False) as ai:
        entries = ai._mcp.entries()
        assert (entries["local"].transport, entries["local"].source) == ("stdio", "config")
        assert (entries["remote"].transport, entries["remote"].source) == ("streamable-http", "config")
        assert ai.settings.mcp.call_timeout == 12
        shown = repr(ai.settings.mcp)
        assert "tok-secret-123456" not in shown and "hdr-secret-123456" not in shown


def test_run_time_servers_win_over_the_config_file(config_file: Path) -> None:
    config_file.write_text('[mcp.servers.s]\ncommand = "from-file"\n')
    with AI(persistence=False, mcp_servers={"s": {"url": "http://127.0.0.1:1/mcp"}}) as ai:
        assert ai._mcp.entry("s").source == "run-time"
        ai.add_mcp_server("t", {"command": "x"})
        assert ai._mcp.entry("t").transport == "stdio"


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ('[mcp.servers.s]\nargs = ["x"]\n', "either command"),
        ('[mcp.servers.s]\ncommand = "x"\nurl = "http://h/mcp"\n', "not both"),
        ('[mcp.servers.s]\nurl = "ftp://h"\n', "http:// or https://"),
        ('[mcp.servers.s]\ncommand = "x"\nheaders = { A = "b" }\n', "headers belong to a url"),
        ('[mcp.servers."bad name"]\ncommand = "x"\n', "must be 1-64 letters"),
        ('[mcp.servers.s]\ncommand = "x"\ncolour = "red"\n', "colour"),
    ],
)
def test_a_bad_server_table_is_one_line_naming_it(config_file: Path, table: str, words: str) -> None:
    config_file.write_text(table)
    with pytest.raises(ConfigurationError) as caught:
        AI(persistence=False)
    message = str(caught.value)
    assert "\n" not in message and "mcp" in message and words in message


def test_a_bad_run_time_server_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"'s'.*either command"):
        AI(persistence=False, mcp_servers={"s": {"args": []}})
    with pytest.raises(ConfigurationError, match="not int"):
        AI(persistence=False, mcp_servers={"s": 42})


def test_readable_names_stay_readable() -> None:
    assert namespaced("everything", "get-sum") == "everything__get-sum"
    assert namespaced("docs", "search") != namespaced("web", "search")


@given(st.text(min_size=1, max_size=80), st.text(min_size=1, max_size=120))
def test_every_name_fits_the_providers_rule_and_is_stable(server: str, tool: str) -> None:
    name = namespaced(server, tool)
    assert RULE.match(name), name
    assert name == namespaced(server, tool)


@given(st.lists(st.tuples(st.text(min_size=1, max_size=70), st.text(min_size=1, max_size=70)), min_size=2, unique=True))
def test_distinct_pairs_get_distinct_names(pairs: list[tuple[str, str]]) -> None:
    names = [namespaced(server, tool) for server, tool in pairs]
    assert len(set(names)) == len(names)
