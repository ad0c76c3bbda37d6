"""Stdio MCP servers die with the process that started them.

The SDK stops a server when its connection closes, also on cancellation; what
it cannot handle is our own process vanishing (SIGKILL, a crash, an interpreter
exit that never closes the ``AI``). On Linux the server command is therefore
started through a tiny launcher that asks the kernel for ``PR_SET_PDEATHSIG``
(SIGKILL when the parent goes) and then ``exec``\\ s the real command, which
keeps that setting. Elsewhere the command runs as given.
"""

from __future__ import annotations

import os
import sys

__all__ = ["guarded_command"]

_LAUNCHER = (
    "import ctypes,os,signal,sys\n"
    "ctypes.CDLL(None).prctl(1,signal.SIGKILL)\n"  # PR_SET_PDEATHSIG
    "os.getppid()==int(sys.argv[1]) or sys.exit(70)\n"  # the parent died before prctl took effect
    "try:os.execvp(sys.argv[2],sys.argv[2:])\n"
    "except OSError as e:sys.stderr.write(f'cannot run {sys.argv[2]}: {e.strerror}\\n');sys.exit(127)\n"
)


def guarded_command(command: str, args: list[str], path: str | None = None) -> tuple[str, list[str]]:
    """``(command, args)`` to spawn so the server cannot outlive this process.

    Raises :class:`FileNotFoundError` when ``command`` is not found on ``path``
    (the server's PATH), so a typo is reported as such, not as a closed connection.
    """
    import shutil

    if shutil.which(command, path=path) is None:
        raise FileNotFoundError(2, "command not found", command)
    if not sys.platform.startswith("linux") or os.environ.get("AI_MCP_NO_GUARD"):
        return command, list(args)
    return sys.executable, ["-I", "-S", "-c", _LAUNCHER, str(os.getpid()), command, *args]
