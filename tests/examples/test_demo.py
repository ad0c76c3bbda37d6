"""The README's first command runs: the demo, a conversation through the whole
pipeline stored in SQLite with its cost, in a fresh process and data directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_runs_end_to_end(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AI_")}
    env.update({"AI_DATA_DIR": str(tmp_path / "data"), "AI_CONFIG_FILE": str(tmp_path / "absent.toml")})
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py")], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    out = result.stdout
    assert "resumed conversation" in out and "stored in sqlite" in out
    assert "total cost $" in out and "cost $unknown" not in out
    assert (tmp_path / "data" / "ai-core.db").exists()
