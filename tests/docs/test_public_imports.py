"""The docs and examples import only ``ai_core``'s public names (and ``ai_core.testing``'s).

A plugin author copies what the docs show; a private import there
(``from ai_core.drivers import ...``) becomes a third-party dependency on
core's internals. Everything a plugin needs is exported from ``ai_core``.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_PACKAGES = ("ai_core", "ai_core.testing")
# Any line of any file that imports from a submodule, whatever the file's syntax.
PRIVATE = re.compile(r"^\s*(?:from\s+(ai_core\.[\w.]+)\s+import\b|import\s+(ai_core\.[\w.]+))", re.MULTILINE)


def sources() -> list[Path]:
    found = [*sorted((ROOT / "docs").rglob("*.md")), *sorted((ROOT / "examples").rglob("*.py"))]
    found += sorted((ROOT / "examples").rglob("*.md"))
    return [path for path in found if "__pycache__" not in path.parts]


def python_of(path: Path) -> Iterator[tuple[int, str]]:
    """(first line, code) of each Python block of a page, or the whole file for a module."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".py":
        yield 1, text
        return
    for match in re.finditer(r"^```python\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE):
        yield text.count("\n", 0, match.start(1)) + 1, match.group(1)


def test_there_is_something_to_scan() -> None:
    names = {path.name for path in sources()}
    assert {"plugins.md", "catalogs.md", "driver.py", "plugin.py"} <= names


@pytest.mark.parametrize("path", sources(), ids=lambda path: str(path.relative_to(ROOT)))
def test_no_private_imports(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    private = [
        f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, match.start()) + 1}: {match.group(0).strip()}"
        for match in PRIVATE.finditer(text)
        if (match.group(1) or match.group(2)) not in PUBLIC_PACKAGES
    ]
    assert not private, "import these from ai_core instead (export them there if they are missing):\n" + "\n".join(
        private
    )


@pytest.mark.parametrize("path", sources(), ids=lambda path: str(path.relative_to(ROOT)))
def test_every_imported_name_is_exported(path: Path) -> None:
    missing = []
    for first_line, code in python_of(path):
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.ImportFrom) and node.module in PUBLIC_PACKAGES:
                exported = set(importlib.import_module(node.module).__all__)
                missing += [
                    f"{path.relative_to(ROOT)}:{first_line + node.lineno - 1}: {node.module}.{alias.name}"
                    for alias in node.names
                    if alias.name not in exported
                ]
    assert not missing, "not in __all__:\n" + "\n".join(missing)


def test_the_scan_catches_a_private_import() -> None:
    def modules(text: str) -> list[str]:
        return [m.group(1) or m.group(2) for m in PRIVATE.finditer(text)]

    assert modules("x = 1\nfrom ai_core.drivers.base import error_for_status\n") == ["ai_core.drivers.base"]
    assert modules("    import ai_core.storage.browse\n") == ["ai_core.storage.browse"]
    assert modules("from ai_core import error_for_status\nfrom ai_core.testing import fake_ai\n") == ["ai_core.testing"]
