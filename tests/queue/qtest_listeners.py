"""A plugin whose listener the queue tests watch, in the test process and in real worker processes.

``on_response`` (ResponseGenerated) leaves a ``started-<event id>-<pid>-<n>`` file in
``$QTEST_DIR`` each time it starts, blocks while ``$QTEST_DIR/block`` exists (so a
test can kill the worker mid-task), then records its effect: through the delivery's
transaction on a worker (a row in ``qtest_effects``), in ``LOCAL_CALLS`` in process.
``on_model_synced`` is async (ModelSynced, emitted by the sync-models job) and records
the anyio backend it ran on. ``on_action_completed`` records each agent action's
``AgentActionCompleted`` (kind ``action:<outcome>``), to count them.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import text

from ai_core import hookimpl
from ai_core.events.listener import Listener
from ai_core.events.types import AgentActionCompleted, ModelSynced, ResponseGenerated
from ai_core.queue import delivery_connection

LOCAL_CALLS: list[str] = []

EFFECTS = "CREATE TABLE IF NOT EXISTS qtest_effects (event_id VARCHAR(64), pid INTEGER, kind VARCHAR(32))"


def _record(event_id: str, kind: str) -> None:
    conn = delivery_connection()
    if conn is None:
        LOCAL_CALLS.append(event_id)
        return
    conn.execute(text(EFFECTS))
    conn.execute(text("INSERT INTO qtest_effects VALUES (:e, :p, :k)"), {"e": event_id, "p": os.getpid(), "k": kind})


def on_response(event: ResponseGenerated) -> None:
    folder = Path(os.environ.get("QTEST_DIR", "."))
    (folder / f"started-{event.id}-{os.getpid()}-{uuid.uuid4().hex[:6]}").touch()
    deadline = time.monotonic() + 120
    while (folder / "block").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    if (folder / "fail").exists():
        raise RuntimeError("qtest: told to fail")
    _record(event.id, "response")


async def on_model_synced(event: ModelSynced) -> None:
    import sniffio

    _record(event.id, f"synced:{sniffio.current_async_library()}")


def on_action_completed(event: AgentActionCompleted) -> None:
    if event.action_id:  # not the tool loop's own event for the call
        _record(event.action_id, f"action:{event.outcome}")


@hookimpl
def register_listeners(register: Any) -> None:
    register(Listener(events=ResponseGenerated, handler=on_response, name="qtest-response"))
    register(Listener(events=ModelSynced, handler=on_model_synced, name="qtest-synced"))
    register(Listener(events=AgentActionCompleted, handler=on_action_completed, name="qtest-action-completed"))
