"""new_id(): 128 random bits as 32 hex digits, never repeated across threads or a fork."""

from __future__ import annotations

import os
import re
import threading

import pytest

from ai_core.ids import new_id


def test_ids_are_32_hex_digits_and_distinct() -> None:
    ids = [new_id() for _ in range(5000)]  # several fetches of the operating system's random bytes
    assert all(re.fullmatch(r"[0-9a-f]{32}", one) for one in ids)
    assert len(set(ids)) == len(ids)


def test_threads_never_share_ids() -> None:
    found: list[list[str]] = []

    def take() -> None:
        found.append([new_id() for _ in range(600)])

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [one for ids in found for one in ids]
    assert len(set(every)) == len(every) == 2400


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_a_forked_child_does_not_repeat_its_parent_s_ids() -> None:
    new_id()  # the parent holds a batch of ids not yet handed out
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent
        os.close(read)
        os.write(write, "".join(new_id() for _ in range(10)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read()
    os.waitpid(pid, 0)
    parent = "".join(new_id() for _ in range(10))
    assert len(child) == 320 and child != parent
    assert not {child[i : i + 32] for i in range(0, 320, 32)} & {parent[i : i + 32] for i in range(0, 320, 32)}
