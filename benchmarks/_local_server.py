"""The benchmarks' server: tests/servers/openai_compat.py in its own process,
so only the client's CPU is counted."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVER = ROOT / "tests" / "servers" / "openai_compat.py"


def start_server(chunks: int = 1, coalesce: bool = False) -> tuple[subprocess.Popen[str], str]:
    """Start the server; return the process and its base URL (``http://127.0.0.1:PORT/v1``)."""
    command = [sys.executable, str(SERVER), "--text-chunks", str(chunks), "--chunk-size", "4"]
    if coalesce:
        command.append("--coalesce")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        process.kill()
        raise RuntimeError(f"server did not start: {url!r}")
    return process, url


@contextmanager
def running_server(chunks: int = 1, coalesce: bool = False) -> Iterator[str]:
    process, url = start_server(chunks, coalesce)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(10)
