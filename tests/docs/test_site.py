"""The documentation site builds with ``mkdocs build --strict``, and its navigation lists every page.

Strict means any warning fails: a link to a missing page or anchor, a page in
docs/ that the ``nav`` of mkdocs.yml leaves out, a ``nav`` line whose file does
not exist.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
CONFIG = ROOT / "mkdocs.yml"


def nav_files() -> list[str]:
    """The files the ``nav`` of mkdocs.yml names, in order (``  - Title: page.md`` lines)."""
    text = CONFIG.read_text(encoding="utf-8")
    nav = text[text.index("\nnav:") :]
    return re.findall(r"^\s+- [^:\n]+:\s*(\S+\.md)\s*$", nav, flags=re.MULTILINE)


def test_the_nav_lists_every_page_and_only_pages_that_exist() -> None:
    pages = sorted(path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md"))
    listed = nav_files()
    assert listed[0] == "index.md"
    missing = sorted(set(pages) - set(listed))
    assert not missing, f"add a line under `nav:` in mkdocs.yml (and a link in docs/index.md) for: {missing}"
    absent = sorted(set(listed) - set(pages))
    assert not absent, f"mkdocs.yml's nav names pages docs/ does not have: {absent}"
    assert len(listed) == len(set(listed))


def test_the_index_links_every_page() -> None:
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\(([\w/-]+\.md)(?:#[\w-]+)?\)", index))
    assert linked == set(nav_files()) - {"index.md"}


def test_the_index_example_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AI_CONFIG_FILE", str(tmp_path / "absent.toml"))
    [block] = re.findall(r"```python\n(.*?)```", (DOCS / "index.md").read_text("utf-8"), re.DOTALL)
    exec(compile(block, f"{DOCS / 'index.md'}", "exec"), {"__name__": "docs_example"})


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs", reason="the docs site needs mkdocs (python3 dev.py setup installs it)")
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", CONFIG, "--site-dir", tmp_path]
    result = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, timeout=300, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stderr
    built = {path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("index.html")}
    for page in nav_files():
        stem = page.removesuffix(".md")
        assert ("index.html" if stem == "index" else f"{stem}/index.html") in built, page
