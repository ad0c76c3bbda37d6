"""Every Python block in docs/plugins.md runs, so the plugin guide cannot rot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_the_guide_has_an_example_of_every_hook() -> None:
    from ai_core import hookspecs

    hooks = [name for name in dir(hookspecs) if name.startswith(("register_", "calculate_"))]
    text = "\n".join(BLOCKS)
    assert hooks and all(f"def {hook}(" in text for hook in hooks), hooks


@pytest.mark.parametrize("source", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_block_runs(source: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AI_CONFIG_FILE", str(tmp_path / "absent.toml"))
    exec(compile(source, f"{DOC}:{source.splitlines()[0]}", "exec"), {"__name__": "docs_example"})
