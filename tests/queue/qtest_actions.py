"""The agent actions the queue tests' workers import (``[queue] actions = ["qtest_actions"]``).

``send_followup_email`` leaves an ``action-<action id>-<pid>-<n>`` file in ``$QTEST_DIR``
each time it starts, blocks while ``$QTEST_DIR/block-action`` exists (so a test can kill
the worker mid-action), then returns ``sent to <to>``.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from ai_core.actions import action


@action("send_followup_email", description="Send a follow-up e-mail.")
def send_followup_email(to: str, subject: str, action_id: str) -> str:
    folder = Path(os.environ.get("QTEST_DIR", "."))
    (folder / f"action-{action_id}-{os.getpid()}-{uuid.uuid4().hex[:6]}").touch()
    deadline = time.monotonic() + 120
    while (folder / "block-action").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return f"sent to {to}"
