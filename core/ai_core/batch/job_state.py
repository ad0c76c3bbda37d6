"""Read and write a provider batch job's row (``ai_batch_jobs``), one short transaction each."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ai_core.storage.database import Database

__all__ = ["JobState", "job_id", "load_job", "save_job"]

FINISHED = frozenset({"done"})
"""Job states after which the same name starts a new provider batch for the items still pending (until
every result is written, a job whose batch failed or expired is collected again, never resubmitted)."""


def job_id(name: str) -> str:
    return hashlib.sha256(f"ai-core provider batch\0{name}".encode()).hexdigest()[:32]


@dataclass
class JobState:
    id: str
    name: str
    provider: str
    status: str
    items_digest: str
    item_count: int
    input_file_id: str | None = None
    batch_id: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


_FIELDS = (
    "id", "name", "provider", "status", "items_digest", "item_count", "input_file_id", "batch_id",
    "output_file_id", "error_file_id",
)  # fmt: skip


async def load_job(database: Database, name: str) -> JobState | None:
    return await database.run(_load, database, job_id(name))


def _load(database: Database, key: str) -> JobState | None:
    from sqlalchemy import select

    from ai_core.batch.tables import BatchJob
    from ai_core.storage.base import table_of

    table = table_of(BatchJob)
    with database.read() as conn:
        row = conn.execute(select(*(table.c[name] for name in _FIELDS)).where(table.c.id == key)).first()
    return JobState(**row._mapping) if row is not None else None


async def save_job(database: Database, state: JobState) -> None:
    """Insert or update the job's row; durable when this returns."""
    await database.run(_save, database, state)


def _save(database: Database, state: JobState) -> None:
    from sqlalchemy import insert, update

    from ai_core.batch.tables import BatchJob
    from ai_core.storage.base import table_of
    from ai_core.storage.columns import utcnow

    table = table_of(BatchJob)
    values: dict[str, Any] = {name: getattr(state, name) for name in _FIELDS}
    now = utcnow()
    with database.write() as conn:
        changed = conn.execute(update(table).where(table.c.id == state.id).values(**values, updated_at=now))
        if not changed.rowcount:
            conn.execute(insert(table).values(**values, created_at=now, updated_at=now))
