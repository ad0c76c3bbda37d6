"""Today's date, cheaply: the pipeline asks for it on every call (model lifecycle, prices in force)."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta

__all__ = ["local_today"]

_day: tuple[float, float, date] = (0.0, 0.0, date.min)
"""Today and the timestamps it spans, [start, end)."""


def local_today() -> date:
    """``date.today()``, converted to local time once a day instead of on every call
    (90 ns instead of 460 ns alone; more inside a turn, where the conversion's
    memory traffic competes with everything else)."""
    global _day
    now = time.time()
    start, end, day = _day
    if start <= now < end:
        return day
    day = date.fromtimestamp(now)
    midnight = datetime.combine(day, datetime.min.time())
    _day = (midnight.timestamp(), (midnight + timedelta(days=1)).timestamp(), day)
    return day
