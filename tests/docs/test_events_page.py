"""docs/events.md names every event and every field of each."""

from __future__ import annotations

import re
from pathlib import Path

from ai_core.events.types import event_types

PAGE = (Path(__file__).resolve().parents[2] / "docs" / "events.md").read_text("utf-8")


def test_every_event_and_field_is_documented() -> None:
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `(\w+)` \|.*$", PAGE, re.MULTILINE)}
    missing = []
    for event in event_types():
        row = rows.get(event.__name__)
        if row is None or f"`{event.name}`" not in row:
            missing.append(event.__name__)
            continue
        missing += [
            f"{event.__name__}.{field}"
            for field in event.model_fields
            if field not in ("id", "occurred_at") and f"`{field}`" not in row
        ]
    assert missing == []
