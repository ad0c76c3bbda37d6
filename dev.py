#!/usr/bin/env python3
"""Developer entry point; needs only Python 3.11+ and pip.

    python3 dev.py demo        # the main job: a conversation through the whole pipeline
    python3 dev.py test [ARGS] # the whole test suite, on 2 workers (ARGS go to pytest; -n 0: serial)
    python3 dev.py typecheck   # mypy over core and the typed plugins (config in pyproject.toml)
    python3 dev.py lint        # ruff check and ruff format --check over all the Python
    python3 dev.py bench NAME  # a benchmark from benchmarks/
    python3 dev.py setup       # just (re)build .venv

The first run makes .venv (with uv, from PyPI, for speed) and installs every
workspace package editable plus the test tools; later runs reuse it unless a
pyproject.toml changed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
STAMP = VENV / ".ai-core-installed"
# The packages kept mypy-clean (CI runs `dev.py typecheck`).
TYPECHECKED = [
    "core/ai_core",
    "plugins/openai/ai_openai",
    "plugins/xai/ai_xai",
    "plugins/ollama/ai_ollama",
    "plugins/gemini/ai_gemini",
    "plugins/mcp_sequential/ai_mcp_sequential",
]
# What `dev.py lint` holds to ruff's rules and format (CI runs it).
LINTED = ["core", "plugins", "tests", "benchmarks", "examples", "dev.py"]
PACKAGES = ["core", *sorted(str(p.parent.relative_to(ROOT)) for p in (ROOT / "plugins").glob("*/pyproject.toml"))]
DEV_TOOLS = [
    "pytest>=8.2",
    "pytest-xdist>=3.6",
    "hypothesis>=6.100",
    "trio>=0.25",
    "jsonschema>=4.22",
    "pyyaml>=6.0",
    "ruff>=0.5",
    "mypy>=1.10",
    "build>=1.2",
    "psycopg[binary]>=3.1",
    "openai>=1.40",
    "mcp>=1.10",
    "mkdocs>=1.6",
    "genai-prices>=0.2.3",
    "aiosmtpd>=1.4",
    "opentelemetry-sdk>=1.30",
    "redis>=5",
    "dramatiq[redis]>=2.0",
    "starlette>=0.40",
    "uvicorn>=0.30",
    "jinja2>=3.1.4",
    "selenium>=4.20",
]


BENCH_TOOLS = ["httpx>=0.27"]
"""What only the benchmarks compare against (``import httpx`` in bench_startup; openai 3 no
longer brings it), installed by ``dev.py bench`` and not by setup: CI's test environment stays
without a library ai-core does not depend on."""


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for name in [*PACKAGES, "."]:
        digest.update((ROOT / name / "pyproject.toml").read_bytes())
    digest.update(" ".join(DEV_TOOLS).encode())
    return digest.hexdigest()


def setup(force: bool = False) -> None:
    if not force and STAMP.exists() and STAMP.read_text() == _fingerprint():
        return
    if not PY.exists():
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    uv = BIN / "uv"
    if not uv.exists():
        subprocess.run([PY, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "uv>=0.4"], check=True)
    editable = [arg for package in PACKAGES for arg in ("-e", str(ROOT / package))]
    print("installing ai-core, its plugins and the test tools into .venv ...", flush=True)
    subprocess.run([uv, "pip", "install", "--quiet", "--python", PY, *editable, *DEV_TOOLS], check=True)
    STAMP.write_text(_fingerprint())


def _workers(args: list[str]) -> list[str]:
    """pytest-xdist options for ``dev.py test``, unless ``args`` choose their own (``-n 0`` runs serially).

    Two workers by default (CI's machine has two cores; the suite also waits on servers and
    subprocesses, so ``AI_TEST_WORKERS`` may ask for more). Each worker starts its own servers
    (tests/support), and ``worksteal`` keeps a module's tests together while it balances the load.
    """
    chosen = any(a.startswith(("-n", "--numprocesses", "--dist", "--pdb", "--trace")) for a in args)
    if chosen or "no:xdist" in args:
        return []
    return ["-n", os.environ.get("AI_TEST_WORKERS", "2"), "--dist", "worksteal"]


def run(*args: str | Path) -> int:
    return subprocess.run([str(a) for a in args], cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if command == "setup":
        setup(force=True)
        return 0
    if command == "demo":
        setup()
        return run(PY, ROOT / "examples" / "demo.py", *rest)
    if command == "test":
        setup()
        return run(PY, "-m", "pytest", *_workers(rest), *rest)
    if command == "typecheck":
        setup()
        return run(PY, "-m", "mypy", *TYPECHECKED, *rest)
    if command == "lint":
        setup()
        return run(BIN / "ruff", "check", *LINTED) or run(BIN / "ruff", "format", "--check", *LINTED)
    if command == "bench":
        setup()
        subprocess.run([BIN / "uv", "pip", "install", "--quiet", "--python", PY, *BENCH_TOOLS], check=True)
        if not rest:
            print("benchmarks:", ", ".join(p.stem for p in sorted((ROOT / "benchmarks").glob("bench_*.py"))))
            return 2
        name = rest[0] if rest[0].startswith("bench_") else f"bench_{rest[0]}"
        return run(PY, ROOT / "benchmarks" / f"{name.removesuffix('.py')}.py", *rest[1:])
    print(__doc__)
    return 0 if command in ("help", "-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
