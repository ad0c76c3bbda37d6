"""The Python blocks of the capability pages run, so the docs cannot rot.

docs/plugins.md has its own test (tests/plugins/test_docs_examples.py). Each
page listed here has every ```python block executed in a fresh namespace,
offline, with a throwaway data directory.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = [
    "ledger.md",
    "budgets.md",
    "prices.md",
    "events.md",
    "webhooks.md",
    "notifications.md",
    "observability.md",
    "mcp.md",
    "sequential-thinking.md",
    "scale.md",
    "batches.md",
    "queue.md",
    "security.md",
    "memory.md",
    "actions.md",
]
BLOCKS = [
    (page, index, source)
    for page in PAGES
    if (DOCS / page).exists()
    for index, source in enumerate(re.findall(r"```python\n(.*?)```", (DOCS / page).read_text("utf-8"), re.DOTALL))
]


def test_every_listed_page_exists() -> None:
    assert [page for page in PAGES if not (DOCS / page).exists()] == []


@pytest.mark.parametrize(("page", "index", "source"), BLOCKS, ids=[f"{p}-{i}" for p, i, _ in BLOCKS])
def test_block_runs(page: str, index: int, source: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AI_CONFIG_FILE", str(tmp_path / "absent.toml"))
    monkeypatch.delenv("AI_DATABASE_URL", raising=False)
    exec(compile(source, f"{DOCS / page}:block{index}", "exec"), {"__name__": "docs_example"})
