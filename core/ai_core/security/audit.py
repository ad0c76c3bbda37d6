"""The audit trail: an append-only, hash-chained record of every model call.

Each record's ``payload`` is canonical JSON (sorted keys, no spaces) of who
asked (user, tenant), what was called (provider, model, conversation, call
id), SHA-256 hashes of the request as sent and of the answer, the policy
decisions and redactions applied, the outcome and the cost. Its ``hash`` is
``sha256(prev_hash + "\\n" + payload)``: changing, deleting or reordering any
row breaks the chain from there on, which :func:`verify` reports.

Ordering concurrent writers: the head row of the chain (``ai_call_audit_head``)
is read and updated in the same transaction as the insert. On PostgreSQL the
read is ``SELECT ... FOR UPDATE``, so writers queue on that row lock; on SQLite
every write transaction is ``BEGIN IMMEDIATE`` (one writer at a time, across
processes too). ``(chain, seq)`` is the primary key, so even a writer that
bypassed the lock could not fork the chain: its insert would fail.

Limits: an attacker with write access can rewrite the whole chain from a
point on. Anchor it: ``ai audit verify`` prints the head hash; keep it
elsewhere (a log shipper, a ticket) and pass it back with ``--expect-head``.
Deleting the newest rows is caught by the head row unless it is rewritten
too, which the anchor catches.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, select, update

from ai_core.security.tables import AuditHead, AuditRecord
from ai_core.storage.base import table_of
from ai_core.storage.columns import as_utc
from ai_core.storage.fastsql import Prepared

if TYPE_CHECKING:
    from ai_core.storage.database import Database
    from ai_core.storage.fastsql import RawTransaction

__all__ = ["GENESIS", "AuditTrail", "VerifyReport", "canonical", "chain_hash"]

GENESIS = "0" * 64
DEFAULT_CHAIN = "calls"


def canonical(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def chain_hash(prev_hash: str, payload: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{payload}".encode()).hexdigest()


@dataclass
class VerifyReport:
    records: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _head_init(dialect: str) -> Any:
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:
        from sqlalchemy.dialects.postgresql import insert as dialect_insert  # type: ignore[assignment]
    return dialect_insert(table_of(AuditHead)).on_conflict_do_nothing()


def _head_lock(dialect: str) -> Any:
    head = table_of(AuditHead)
    query = select(head.c.seq, head.c.hash).where(head.c.chain == bindparam("b_chain"))
    return query if dialect == "sqlite" else query.with_for_update()  # SQLite: the writer lock orders writers


_HEAD_INIT = Prepared(_head_init)
_HEAD_LOCK = Prepared(_head_lock)
_INSERT = Prepared(insert(table_of(AuditRecord)))
_HEAD_MOVE = Prepared(
    update(table_of(AuditHead))
    .where(table_of(AuditHead).c.chain == bindparam("b_chain"))
    .values(seq=bindparam("b_seq"), hash=bindparam("b_hash"))
)

_COLUMNS = (
    ("user_id", "user"),
    ("tenant", "tenant"),
    ("provider", "provider"),
    ("model", "model"),
    ("outcome", "outcome"),
)


class AuditTrail:
    """Append to, verify and export one chain of an open database."""

    def __init__(self, database: Database, chain: str = DEFAULT_CHAIN) -> None:
        self.database = database
        self.chain = chain

    # -- writing ---------------------------------------------------------------

    async def aappend(self, entry: Mapping[str, Any]) -> tuple[int, str]:
        """:meth:`append` off the event loop, through the database's write batching
        (on SQLite, concurrent calls' records share one transaction with the ledger's writes)."""
        return await self.database.write_job(lambda tx: self.append_in(tx, entry))

    def append(self, entry: Mapping[str, Any]) -> tuple[int, str]:
        """Add one record (``entry`` needs ``provider``, ``model``, ``outcome``); return its seq and hash."""
        with self.database.raw_write() as tx:
            return self.append_in(tx, entry)

    def append_in(self, tx: RawTransaction, entry: Mapping[str, Any]) -> tuple[int, str]:
        """Append inside the write transaction ``tx``: lock the head, insert, move the head."""
        occurred = entry.get("occurred_at") or datetime.now(UTC)
        tx.execute(_HEAD_INIT, {"chain": self.chain, "seq": 0, "hash": GENESIS})
        seq, prev = tx.execute(_HEAD_LOCK, {"b_chain": self.chain}).fetchone()
        seq = int(seq) + 1
        payload = canonical({**entry, "chain": self.chain, "seq": seq, "occurred_at": occurred.isoformat()})
        digest = chain_hash(str(prev), payload)
        tx.execute(
            _INSERT,
            {
                "chain": self.chain,
                "seq": seq,
                "occurred_at": occurred,
                "user_id": entry.get("user"),
                "tenant": entry.get("tenant"),
                "provider": str(entry["provider"]),
                "model": str(entry["model"]),
                "outcome": str(entry["outcome"]),
                "payload": payload,
                "prev_hash": prev,
                "hash": digest,
            },
        )
        tx.execute(_HEAD_MOVE, {"b_chain": self.chain, "b_seq": seq, "b_hash": digest})
        return seq, digest

    # -- reading -----------------------------------------------------------------

    def verify(self, *, expect_head: str | None = None) -> VerifyReport:
        """Walk the chain in order; every break is a problem naming its record."""
        report = VerifyReport()
        expected_seq, prev = 1, GENESIS
        records = table_of(AuditRecord)
        with self.database.read() as conn:
            rows = conn.execute(select(records).where(records.c.chain == self.chain).order_by(records.c.seq)).mappings()
            for row in rows:
                report.records += 1
                seq = int(row["seq"])
                if seq != expected_seq:
                    report.problems.append(f"record {expected_seq} is missing (next is {seq}): rows were deleted")
                if row["prev_hash"] != prev:
                    report.problems.append(f"record {seq}: does not follow the record before it (deleted or reordered)")
                if chain_hash(row["prev_hash"], row["payload"]) != row["hash"]:
                    report.problems.append(f"record {seq}: its content was changed (hash mismatch)")
                report.problems += _column_problems(seq, row)
                expected_seq, prev = seq + 1, row["hash"]
            head = table_of(AuditHead)
            stored = conn.execute(select(head.c.seq, head.c.hash).where(head.c.chain == self.chain)).first()
        report.head_seq, report.head_hash = expected_seq - 1, prev
        if stored is not None and (int(stored.seq) != report.head_seq or stored.hash != prev):
            report.problems.append(
                f"the chain head says record {stored.seq} is the last, the table ends at {report.head_seq}: "
                "the newest records were deleted"
            )
        if expect_head is not None and expect_head != prev:
            report.problems.append(f"the head hash is {prev}, not the expected {expect_head}")
        return report

    def export(self, since: datetime | None = None) -> Iterator[dict[str, Any]]:
        """Records from ``since`` on, oldest first, each its payload plus ``prev_hash`` and ``hash``."""
        records = table_of(AuditRecord)
        query = select(records.c.payload, records.c.prev_hash, records.c.hash).where(records.c.chain == self.chain)
        if since is not None:
            query = query.where(records.c.occurred_at >= since)
        with self.database.read() as conn:
            for row in conn.execute(query.order_by(records.c.seq)):
                yield {**json.loads(row.payload), "prev_hash": row.prev_hash, "hash": row.hash}


def _column_problems(seq: int, row: Any) -> list[str]:
    try:
        payload = json.loads(row["payload"])
    except ValueError:
        return [f"record {seq}: its payload is not JSON"]
    problems = [
        f"record {seq}: column {column} was changed ({row[column]!r}, recorded {payload.get(key)!r})"
        for column, key in _COLUMNS
        if row[column] != payload.get(key)
    ]
    occurred = as_utc(row["occurred_at"])
    try:
        recorded = datetime.fromisoformat(str(payload.get("occurred_at")))
    except ValueError:
        recorded = None
    if occurred is None or recorded is None or occurred != recorded:
        problems.append(f"record {seq}: column occurred_at was changed")
    if payload.get("seq") != seq:
        problems.append(f"record {seq}: its number was changed (recorded {payload.get('seq')})")
    return problems
