"""Child processes the tests signal: wait for them, and say where one hung."""

from __future__ import annotations

import signal
import subprocess
import time
from typing import Any

__all__ = ["exit_or_stacks"]


def exit_or_stacks(child: subprocess.Popen[Any], what: str, timeout: float = 60.0) -> None:
    """Read the child's pipes to the end (a child blocked on a full pipe never exits) and wait
    for it; if it does not exit in time, fail with every thread's stack (the child must have
    called ``faulthandler.register(signal.SIGUSR1, all_threads=True)``)."""
    try:
        child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGUSR1)
        time.sleep(1)
        child.kill()
        stderr = child.communicate()[1]
        text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr
        raise AssertionError(f"no exit {timeout:g} s after {what}; stacks:\n{text[-20000:]}") from None
