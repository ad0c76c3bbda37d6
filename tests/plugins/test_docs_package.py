"""The OpenAI-compatible package docs/plugins.md shows, built from the page, installed from wheels and called.

The files are taken from the page exactly (each block follows a
``<!-- file: PATH -->`` marker), built into a wheel, installed with ai-core's
wheel into a fresh virtual environment and driven through ``ai`` against the
local OpenAI-compatible server. The same environment, with no package at all,
serves a provider made from a config-file section.

Fast for a packaging test: ai-core's wheel is reused when tests/packaging has
built one in this session, and uv installs offline when its cache has every
dependency (PyPI is asked only otherwise).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from servers.fixtures import TEST_API_KEY, _openai_server_session, openai_server  # noqa: F401
from servers.openai_compat import Completion, OpenAICompatServer, Usage

pytestmark = pytest.mark.network_packaging

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "plugins.md"
FILE_BLOCK = re.compile(r"<!-- file: (\S+) -->\n```\w*\n(.*?)^```", flags=re.DOTALL | re.MULTILINE)


def page_files() -> dict[str, str]:
    return dict(FILE_BLOCK.findall(PAGE.read_text(encoding="utf-8")))


def _uv() -> str:
    try:
        from uv import find_uv_bin
    except ImportError:
        pytest.fail("the packaging tests need uv (pip install uv)")
    return str(find_uv_bin())


def run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, timeout=600, check=False)


def build_wheel(project: Path, out: Path) -> Path:
    before = set(out.glob("*.whl"))
    built = run(_uv(), "build", "--wheel", "--out-dir", out, project)
    assert built.returncode == 0, built.stderr
    [wheel] = set(out.glob("*.whl")) - before
    return wheel


def core_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/packaging's wheel of this checkout if this session built one, else a new one."""
    for found in sorted(tmp_path_factory.getbasetemp().glob("wheels*/ai_core-*.whl")):
        return found
    return build_wheel(ROOT / "core", tmp_path_factory.mktemp("core-wheel"))


def test_the_package_is_at_most_25_lines() -> None:
    files = page_files()
    assert sorted(files) == ["ai_nimbus/__init__.py", "ai_nimbus/data/catalog.toml", "pyproject.toml"]
    assert sum(len(text.splitlines()) for text in files.values()) <= 25


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    source = tmp_path_factory.mktemp("ai-nimbus")
    for name, text in page_files().items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(text)
    wheels = [core_wheel(tmp_path_factory), build_wheel(source, tmp_path_factory.mktemp("nimbus-wheel"))]
    path = tmp_path_factory.mktemp("venv-nimbus") / "venv"
    made = run(_uv(), "venv", "--quiet", "--python", sys.executable, path)
    assert made.returncode == 0, made.stderr
    install = [_uv(), "pip", "install", "--quiet", "--python", path / "bin" / "python", *wheels]
    if run(*install, "--offline").returncode != 0:
        installed = run(*install)
        assert installed.returncode == 0, installed.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AI_", "VIRTUAL_ENV", "PYTHON", "NIMBUS"))}
    env |= {"AI_DATA_DIR": str(path / "data"), "AI_CONFIG_FILE": str(path / "absent.toml")}
    return {"path": path, "env": env}


def ai(venv: dict[str, Any], *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run(venv["path"] / "bin" / "ai", *args, env={**venv["env"], **env})


def test_installed_listed_and_checked(venv: dict[str, Any]) -> None:
    listed = ai(venv, "plugins", "--json")
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert data["load_errors"] == []
    nimbus = {p["name"]: p for p in data["plugins"]}["nimbus"]
    assert (nimbus["distribution"], nimbus["version"], nimbus["module"]) == ("ai-nimbus", "0.1.0", "ai_nimbus")
    [provider] = nimbus["providers"]
    assert provider["default_base_url"] == "https://api.nimbus.example/v1"
    assert provider["api_key_env"] == ["NIMBUS_API_KEY"]
    assert "reasoning" not in provider["capabilities"] and "batch" not in provider["capabilities"]
    assert nimbus["models"] == nimbus["priced_models"] == ["nimbus/nimbus-large"]
    checked = ai(venv, "plugins", "--check", "nimbus")
    assert (checked.returncode, checked.stdout) == (0, "1 plugin checked: no problems\n"), checked.stderr


def test_the_documented_package_talks_to_a_compatible_server(
    venv: dict[str, Any],
    openai_server: OpenAICompatServer,  # noqa: F811
) -> None:
    openai_server.api_keys = {TEST_API_KEY}
    openai_server.reply(Completion(text="hello from nimbus", usage=Usage(prompt_tokens=12, completion_tokens=7)))
    chat = ai(
        venv, "chat", "-m", "nimbus/nimbus-large", "--no-persist", "hello",
        AI_NIMBUS_BASE_URL=openai_server.base_url, NIMBUS_API_KEY=TEST_API_KEY,
    )  # fmt: skip
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout == "hello from nimbus\n"
    assert "[nimbus/nimbus-large] 12 in, 7 out tokens; cost 0.000100 USD" in chat.stderr  # 12 x 2.50 + 7 x 10.00
    assert openai_server.requests[-1].headers["authorization"] == f"Bearer {TEST_API_KEY}"

    keyless = ai(
        venv, "chat", "-m", "nimbus/nimbus-large", "--no-persist", "hi", AI_NIMBUS_BASE_URL=openai_server.base_url
    )
    assert keyless.returncode == 1 and "AI_NIMBUS_API_KEY or NIMBUS_API_KEY" in keyless.stderr
    assert len(openai_server.requests) == 1  # refused before sending


def test_a_provider_from_the_config_file_with_only_core_installed(
    venv: dict[str, Any],
    openai_server: OpenAICompatServer,  # noqa: F811
) -> None:
    config = venv["path"] / "config.toml"
    config.write_text(
        f'[providers.lab]\ndialect = "openai-chat"\nbase_url = "{openai_server.base_url}"\nmodels = ["llama"]\n\n'
        '[[providers.lab.prices]]\nmodel = "llama"\neffective_from = 2025-01-01\ninput = "1"\noutput = "2"\n'
    )
    env = {"AI_CONFIG_FILE": str(config), "AI_CORE_PLUGINS": "none"}
    data = json.loads(ai(venv, "plugins", "--json", **env).stdout)
    assert [p["name"] for p in data["plugins"]] == ["core", "config:lab"] and data["load_errors"] == []
    openai_server.reply(Completion(text="hello from the lab", usage=Usage(prompt_tokens=10, completion_tokens=10)))
    chat = ai(venv, "chat", "-m", "lab/llama", "--no-persist", "hi", **env)
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout == "hello from the lab\n" and "cost 0.000030 USD" in chat.stderr
    assert "authorization" not in openai_server.requests[-1].headers
