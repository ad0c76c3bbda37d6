"""Alembic migrations of ai-core's schema, shipped in the wheel.

Applied automatically to the embedded SQLite database when it is opened, and
by ``ai db upgrade`` to a server database. :data:`HEAD` names the newest
revision so opening a current database needs no Alembic import at all.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["HEAD", "SCRIPT_LOCATION"]

HEAD = "0010"
SCRIPT_LOCATION = Path(__file__).parent
