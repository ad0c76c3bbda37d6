"""Run a subprocess as a user that file permissions apply to.

Root ignores ``chmod`` (CAP_DAC_OVERRIDE), so a test of a read-only directory
or an unwritable key file that runs as root drops to ``nobody`` for the
program under test; any other user is already bound by permissions. Files the
program must reach are made in a directory that user can enter and own.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

__all__ = ["demote", "give_away", "permissions_apply", "shared_directory"]

NOBODY = 65534


def _is_root() -> bool:
    return os.geteuid() == 0


@functools.cache
def _nobody_can_run_python() -> bool:
    done = subprocess.run(
        [sys.executable, "-c", "import ai_core.cli"], preexec_fn=_drop, capture_output=True, check=False, timeout=120
    )
    return done.returncode == 0


def _drop() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def permissions_apply() -> None:
    """Skip (with the reason) when neither we nor a demoted child would be bound by permissions."""
    if _is_root() and not _nobody_can_run_python():
        pytest.skip(f"running as root and uid {NOBODY} cannot run {sys.executable}: cannot test file permissions")


def demote() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child ``nobody`` when we are root; None otherwise."""
    return _drop if _is_root() else None


def give_away(*paths: Path) -> None:
    """Hand ``paths`` (recursively) to the user a demoted child runs as."""
    if not _is_root():
        return
    for path in paths:
        for item in [path, *path.rglob("*")] if path.is_dir() else [path]:
            os.lchown(item, NOBODY, NOBODY)


@contextmanager
def shared_directory(prefix: str = "ai-core-perm-") -> Iterator[Path]:
    """A fresh directory under the system temp dir that a demoted child can enter and write."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)
    give_away(root)
    try:
        yield root
    finally:
        for item in [root, *root.rglob("*")]:
            if item.is_dir() and not item.is_symlink():
                item.chmod(0o700)
        shutil.rmtree(root, ignore_errors=True)
