"""Build every distribution's wheel and install them, not editable, into fresh venvs.

Slow (a minute or two): one module, session-scoped venvs, uv for speed. Only PyPI
is contacted (dependencies); everything else runs on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.network_packaging

ROOT = Path(__file__).resolve().parents[2]
DISTRIBUTIONS = [ROOT / "core", *sorted(p for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").is_file())]
ACME = ROOT / "examples" / "acme_provider"


def _uv() -> str:
    try:
        from uv import find_uv_bin
    except ImportError:
        pytest.fail("the packaging tests need uv (pip install uv)")
    return str(find_uv_bin())


def run(*args: str | Path, env: dict[str, str] | None = None, timeout: float = 600, **kw: Any) -> str:
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, env=env, timeout=timeout, check=False, **kw
    )
    if result.returncode != 0:
        raise AssertionError(f"{args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout


def build_wheel(project: Path, out: Path) -> Path:
    before = set(out.glob("*.whl"))
    run(_uv(), "build", "--wheel", "--out-dir", out, project)
    [wheel] = set(out.glob("*.whl")) - before
    return wheel


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every distribution in the repository, plus the example and a broken plugin."""
    out = tmp_path_factory.mktemp("wheels")
    built = {project.name: build_wheel(project, out) for project in [*DISTRIBUTIONS, ACME]}
    broken = tmp_path_factory.mktemp("broken-src")
    (broken / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [build-system]
            requires = ["hatchling>=1.25"]
            build-backend = "hatchling.build"

            [project]
            name = "ai-broken-example"
            version = "6.6.6"
            dependencies = ["ai-core"]

            [project.entry-points.ai_core]
            broken = "ai_broken_example.plugin"

            [tool.hatch.build.targets.wheel]
            packages = ["ai_broken_example"]
            """
        )
    )
    (broken / "ai_broken_example").mkdir()
    (broken / "ai_broken_example" / "__init__.py").write_text("")
    (broken / "ai_broken_example" / "plugin.py").write_text("raise ImportError('this plugin is broken on purpose')\n")
    built["broken"] = build_wheel(broken, out)
    return built


class Venv:
    def __init__(self, path: Path) -> None:
        self.path = path
        run(_uv(), "venv", "--quiet", "--python", sys.executable, path)
        self.python = path / "bin" / "python"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AI_", "VIRTUAL_ENV", "PYTHON"))},
            "AI_DATA_DIR": str(path / "data"),
            "AI_CONFIG_FILE": str(path / "absent.toml"),
        }

    def install(self, *wheels: Path) -> None:
        run(_uv(), "pip", "install", "--quiet", "--python", self.python, *wheels)

    def ai(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.path / "bin" / "ai"), *args],
            capture_output=True, text=True, timeout=120, env={**self.env, **(env or {})}, check=False,
        )  # fmt: skip

    def plugins_json(self) -> dict[str, Any]:
        result = self.ai("plugins", "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def core_and_openai(wheels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Venv:
    venv = Venv(tmp_path_factory.mktemp("venv-openai") / "venv")
    venv.install(wheels["core"], wheels["openai"])
    return venv


@pytest.fixture(scope="session")
def with_third_parties(wheels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Venv:
    venv = Venv(tmp_path_factory.mktemp("venv-acme") / "venv")
    venv.install(wheels["core"], wheels["openai"], wheels["acme_provider"], wheels["broken"])
    return venv


def test_every_distribution_builds_a_wheel(wheels: dict[str, Path]) -> None:
    names = {re.split(r"-\d", w.name)[0] for w in wheels.values()}
    assert {"ai_core", "ai_openai", "ai_xai", "ai_gemini", "ai_ollama", "ai_mcp_sequential"} <= names


def test_core_and_openai_list_exactly_what_is_installed(core_and_openai: Venv) -> None:
    data = core_and_openai.plugins_json()
    by_name = {p["name"]: p for p in data["plugins"]}
    assert sorted(by_name) == ["core", "fake", "openai"]
    assert data["load_errors"] == []
    assert (by_name["openai"]["distribution"], by_name["openai"]["version"]) == ("ai-openai", "0.1.0")
    assert by_name["core"]["distribution"] == by_name["fake"]["distribution"] == "ai-core"
    assert [p["name"] for p in by_name["openai"]["providers"]] == ["openai"]


def test_installed_from_wheels_not_editable(core_and_openai: Venv) -> None:
    where = run(core_and_openai.python, "-c", "import ai_core, ai_openai; print(ai_core.__file__, ai_openai.__file__)")
    assert str(core_and_openai.path) in where and str(ROOT) not in where


def test_the_cli_works_from_wheels(core_and_openai: Venv) -> None:
    helped = core_and_openai.ai("--help")
    assert helped.returncode == 0 and "plugins" in helped.stdout
    models = core_and_openai.ai("models", "--provider", "fake")
    assert models.stdout.startswith("fake/echo")
    chat = core_and_openai.ai("chat", "-m", "fake/echo", "--no-persist", "hello wheels")
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout == "Echo: hello wheels\n"
    assert "cost" in chat.stderr


def test_enabled_set_limits_what_loads(core_and_openai: Venv) -> None:
    only_fake = json.loads(core_and_openai.ai("plugins", "--json", env={"AI_CORE_PLUGINS": "fake"}).stdout)
    assert [p["name"] for p in only_fake["plugins"]] == ["core", "fake"]
    none = json.loads(core_and_openai.ai("plugins", "--json", env={"AI_CORE_PLUGINS": "none"}).stdout)
    assert [p["name"] for p in none["plugins"]] == ["core"]


def test_broken_plugin_is_reported_and_everything_else_works(with_third_parties: Venv) -> None:
    data = with_third_parties.plugins_json()
    assert sorted(p["name"] for p in data["plugins"]) == ["acme", "core", "fake", "openai"]
    [error] = data["load_errors"]
    assert (error["name"], error["distribution"], error["version"]) == ("broken", "ai-broken-example", "6.6.6")
    assert "this plugin is broken on purpose" in error["error"]
    plain = with_third_parties.ai("plugins")
    assert plain.returncode == 0 and "Load errors (1):" in plain.stdout
    assert with_third_parties.ai("plugins", "--strict").returncode == 1
    chat = with_third_parties.ai("chat", "-m", "fake/echo", "--no-persist", "still fine")
    assert chat.stdout == "Echo: still fine\n"


@pytest.fixture
def acme_server(with_third_parties: Venv) -> Iterator[str]:
    """The example's own server double, run from the venv's ``acme-server`` script."""
    process = subprocess.Popen(
        [str(with_third_parties.path / "bin" / "acme-server"), "--port", "0"],
        stdout=subprocess.PIPE, text=True, env=with_third_parties.env,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+", first)
        assert match, first
        yield match.group(0)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_example_plugin_end_to_end(with_third_parties: Venv, acme_server: str, tmp_path: Path) -> None:
    acme = {p["name"]: p for p in with_third_parties.plugins_json()["plugins"]}["acme"]
    assert acme["distribution"] == "acme-ai-provider"
    assert acme["middleware"] == [{"name": "acme-client-tag", "order": 600, "type": "AcmeClientTag"}]
    assert acme["cli_commands"] == ["acme-status"]

    audit = tmp_path / "audit.jsonl"
    env = {"AI_ACME_API_KEY": "test-key", "AI_ACME_BASE_URL": acme_server, "ACME_AUDIT_LOG": str(audit)}
    chat = with_third_parties.ai("chat", "-m", "acme/rocket-1", "--no-persist", "hello from a wheel", env=env)
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout == "Acme says: hello from a wheel\n"
    assert "[acme/rocket-1] 4 in, 6 out tokens; cost 0.000056 USD" in chat.stderr
    [line] = [json.loads(x) for x in audit.read_text().splitlines()]  # the listener ran before exit
    assert line["streamed"] is True and line["tokens"] == 10

    models = with_third_parties.ai("models", "--provider", "acme")
    assert models.stdout.splitlines()[0].startswith("acme/rocket-1  Rocket 1")
    status = with_third_parties.ai("acme-status", env=env)
    assert status.stdout == f"acme: Acme Chat v1 at {acme_server}\n"
    missing_key = with_third_parties.ai("chat", "-m", "acme/rocket-1", "--no-persist", "hi")
    assert missing_key.returncode == 1 and "AI_ACME_API_KEY" in missing_key.stderr
