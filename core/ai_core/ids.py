"""Ids of conversations, messages, calls and events."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

__all__ = ["new_id"]


def new_id() -> str:
    """A random 128-bit id as 32 hex digits: uuid4's entropy, from the operating system's
    random bytes fetched for 256 ids at a time (a system call per id cost more than the
    rest of a cache hit's ids), per thread, and fetched afresh in a forked child."""
    ids: Iterator[str] | None = getattr(_ids, "ids", None)
    if ids is not None:
        found = next(ids, None)
        if found is not None:
            return found
    text = os.urandom(16 * _IDS_PER_FETCH).hex()
    batch = iter([text[i : i + 32] for i in range(0, len(text), 32)])
    _ids.ids = batch
    return next(batch)


_IDS_PER_FETCH = 256
_ids = threading.local()


def _forget_ids() -> None:  # a child must never hand out its parent's ids
    global _ids
    _ids = threading.local()


os.register_at_fork(after_in_child=_forget_ids)
