"""Process lifetime: no thread at import, no hang at exit, events drained at exit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import time
    from ai_core import AI, ResponseGenerated
    ai = AI(persistence=False)

    @ai.on(ResponseGenerated)
    def slow(event):
        time.sleep(0.3)
        print("listener ran", flush=True)

    print(ai.conversation("fake/echo").user("hi").send().text, flush=True)
    # no ai.close(): exit must neither hang nor lose the pending event
    """
)


def run(code: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AI_CORE_PLUGINS": "fake"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)


def test_exit_without_close_does_not_hang_and_drains_events() -> None:
    result = run(SCRIPT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["Echo: hi", "listener ran"]


def test_import_starts_no_thread_and_imports_no_http_library() -> None:
    code = textwrap.dedent(
        """
        import sys, threading
        import ai_core
        ai_core.AI, ai_core.Message  # touching the facade still must not import HTTP code
        print(threading.active_count())
        print(sorted(m for m in ("httpx", "httpx2", "aiohttp", "sqlalchemy", "ai_openai") if m in sys.modules))
        """
    )
    result = run(code)
    assert result.returncode == 0, result.stderr
    threads, modules = result.stdout.splitlines()
    assert threads == "1"
    assert modules == "[]"


def test_an_asyncio_program_never_imports_trio() -> None:
    """trio is an optional backend: importing it costs an asyncio program 50 ms and megabytes."""
    code = textwrap.dedent(
        """
        import asyncio, sys
        from ai_core import AI

        async def main():
            async with AI(persistence=False) as ai:
                await ai.conversation("fake/echo").user("hi").asend()
                async for _ in ai.conversation("fake/echo").user("hi").astream():
                    pass

        asyncio.run(main())
        print("trio" in sys.modules)
        """
    )
    result = run(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
