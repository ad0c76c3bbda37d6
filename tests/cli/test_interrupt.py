"""Ctrl-C mid-stream: a real process gets a real SIGINT while the local server streams.

``ai chat`` and a script iterating ``conversation.stream()`` must end promptly
with exit status 130 and no traceback, after the stream's cleanup ran on the
sync bridge's loop (shielded work included): the cancellation reaches the async
generator where it runs, instead of ``aclose()`` being called on a generator
that is still running ("asynchronous generator is already running").
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from servers import fixtures as server_fixtures
from servers.fixtures import TEST_API_KEY
from servers.openai_compat import Completion, Fault, OpenAICompatServer

# the shared local server's fixtures, registered in this module
_openai_server_session = server_fixtures._openai_server_session
openai_server = server_fixtures.openai_server

ROOT = Path(__file__).resolve().parents[2]
GENEROUS = 30.0  # seconds: only a hang (or today's 10 s wait) gets near this after the signal


@pytest.fixture
def streaming(openai_server: OpenAICompatServer, monkeypatch: pytest.MonkeyPatch) -> OpenAICompatServer:
    """The server streams text forever, a chunk every 0.1 s (its usual default is restored afterwards)."""
    endless = Completion(text="Once upon a time", chunk_size=4, fault=Fault.endless(after=3, seconds=0.1))
    monkeypatch.setattr(openai_server, "default", endless)
    return openai_server


def _env(server: OpenAICompatServer, tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AI_") or key.startswith("AI_CORE_")}
    env.update(
        {
            "AI_DATA_DIR": str(tmp_path / "data"),
            "AI_CONFIG_FILE": str(tmp_path / "absent.toml"),
            "AI_OPENAI_BASE_URL": server.base_url,
            "AI_OPENAI_API_KEY": TEST_API_KEY,
            "AI_OPENAI_RETRY_ATTEMPTS": "0",
            "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _read_until(child: subprocess.Popen[bytes], marker: bytes, timeout: float = 60.0) -> bytes:
    """Read the child's stdout until ``marker`` shows (text arrives without newlines)."""
    assert child.stdout is not None
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {marker!r} on stdout after {timeout} s; got {seen!r}")
        ready, _, _ = select.select([child.stdout], [], [], min(left, 0.5))
        if ready:
            data = os.read(child.stdout.fileno(), 4096)
            if not data:
                raise AssertionError(f"child exited {child.wait()} first: {child.stderr.read()!r}")  # type: ignore[union-attr]
            seen += data
    return seen


def _interrupt(child: subprocess.Popen[bytes], sig: int = signal.SIGINT) -> tuple[bytes, bytes, float]:
    """SIGINT (or ``sig``), then wait (generously) for the child to exit on its own."""
    child.send_signal(sig)
    started = time.monotonic()
    try:
        out, err = child.communicate(timeout=GENEROUS)
    except subprocess.TimeoutExpired:
        child.kill()
        out, err = child.communicate()
        raise AssertionError(f"still running {GENEROUS} s after SIGINT; stderr: {err.decode()}") from None
    return out, err, time.monotonic() - started


@pytest.mark.parametrize("persist", [False, True], ids=["no-persist", "sqlite"])
def test_ctrl_c_during_ai_chat_exits_130_without_a_traceback(
    streaming: OpenAICompatServer, tmp_path: Path, persist: bool
) -> None:
    args = ["chat", "-m", "openai/gpt-4o-mini", "tell me a story"]
    if not persist:
        args.insert(1, "--no-persist")
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; from ai_core.cli import main; sys.argv[0] = 'ai'; main()", *args],
        env=_env(streaming, tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _read_until(child, b"more more")  # the endless part of the answer is streaming
        _, err, waited = _interrupt(child)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    stderr = err.decode()
    assert child.returncode == 130, stderr
    assert "Traceback" not in stderr and "RuntimeError" not in stderr, stderr
    assert waited < GENEROUS
    if persist:
        import sqlite3

        [database] = (tmp_path / "data").glob("*.db")
        with sqlite3.connect(database) as connection:
            rows = connection.execute("SELECT outcome FROM ai_messages WHERE role = 'assistant'").fetchall()
        assert rows == [("interrupted",)]  # what was delivered is on the ledger


def test_sigterm_during_ai_chat_records_the_stream_and_closes_its_hold(
    streaming: OpenAICompatServer, tmp_path: Path
) -> None:
    import json
    import sqlite3

    env = _env(streaming, tmp_path)
    env["AI_BUDGETS"] = json.dumps([{"limit": "100", "scope": "global"}])
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from ai_core.cli import main; sys.argv[0] = 'ai'; main()",
            "chat",
            "-m",
            "openai/gpt-4o-mini",
            "tell me a story",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _read_until(child, b"more more")
        _, err, _ = _interrupt(child, signal.SIGTERM)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    stderr = err.decode()
    assert child.returncode == 143, stderr  # 128 + SIGTERM, after cleaning up like Ctrl-C
    assert "Traceback" not in stderr, stderr
    [database] = (tmp_path / "data").glob("*.db")
    with sqlite3.connect(database) as connection:
        outcomes = connection.execute("SELECT outcome FROM ai_messages WHERE role = 'assistant'").fetchall()
        holds = connection.execute("SELECT status FROM ai_budget_reservations").fetchall()
    assert outcomes == [("interrupted",)]
    assert holds == [("settled",)]  # charged what was recorded, not left held until its lease


SCRIPT = textwrap.dedent(
    """
    import sys

    import anyio

    from ai_core import AI, TextDelta
    from ai_core.pipeline.middleware import Middleware


    class Watch(Middleware):
        '''Shielded cleanup in the stream: it must finish before the caller sees KeyboardInterrupt.'''

        name = "watch"

        def stream(self, call, call_next):
            return self._stream(call, call_next)

        async def _stream(self, call, call_next):
            try:
                async for event in call_next(call):
                    yield event
            finally:
                with anyio.CancelScope(shield=True):
                    await anyio.sleep(0.3)
                print("cleanup done", flush=True)


    ai = AI(persistence=False, middleware=[Watch()])
    try:
        for event in ai.conversation("openai/gpt-4o-mini").user("hi").stream():
            if isinstance(event, TextDelta) and "more" in event.text:
                print("streaming", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        ai.close()
        sys.exit(130)
    print("the stream ended by itself", flush=True)
    sys.exit(1)
    """
)


def test_ctrl_c_during_a_sync_stream_cancels_it_on_its_loop_first(
    streaming: OpenAICompatServer, tmp_path: Path
) -> None:
    script = tmp_path / "stream_script.py"
    script.write_text(SCRIPT)
    child = subprocess.Popen(
        [sys.executable, str(script)], env=_env(streaming, tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        before = _read_until(child, b"streaming")
        out, err, waited = _interrupt(child)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    stderr = err.decode()
    assert child.returncode == 130, stderr
    assert "Traceback" not in stderr and "already running" not in stderr, stderr
    # The interrupt may cut a print("streaming") short of its newline: look at what follows the markers.
    tail = (before + out).decode().replace("streaming", "").split()
    assert tail == ["cleanup", "done", "interrupted"]  # the cleanup ran before the caller got the interrupt
    assert waited < GENEROUS
