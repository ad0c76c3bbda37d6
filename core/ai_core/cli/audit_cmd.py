"""``ai audit``: verify and export the hash-chained audit trail of model calls.

``ai audit verify`` walks the chain and exits 1, naming each broken record, when
a row was changed, deleted or reordered; it prints the head hash to keep
elsewhere and pass back with ``--expect-head``. ``ai audit export --since DATE``
writes the records as JSON lines (each with ``prev_hash`` and ``hash``, so the
export can be verified on its own).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import click

__all__ = ["audit"]


def _open() -> Any:
    from ai_core.config import load_settings
    from ai_core.storage.database import Database

    return Database.open(settings=load_settings())


@click.group(name="audit")
def audit() -> None:
    """Verify and export the audit trail of model calls (AI_AUDIT=on records it)."""


@audit.command("verify")
@click.option("--expect-head", default=None, help="Fail unless the chain ends at this hash (kept from an earlier run).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify(expect_head: str | None, as_json: bool) -> None:
    """Check every record's hash and link; exit 1 if any row was changed, deleted or reordered."""
    from ai_core.security.audit import AuditTrail

    database = _open()
    try:
        report = AuditTrail(database).verify(expect_head=expect_head)
    finally:
        database.close()
    if as_json:
        payload = {
            "ok": report.ok,
            "records": report.records,
            "head_seq": report.head_seq,
            "head_hash": report.head_hash,
            "problems": report.problems,
        }
        click.echo(json.dumps(payload, indent=2))
    else:
        for problem in report.problems:
            click.echo(f"BROKEN: {problem}")
        state = "intact" if report.ok else f"BROKEN ({len(report.problems)} problems)"
        click.echo(f"{report.records} records, chain {state}; head {report.head_seq} {report.head_hash}")
    if not report.ok:
        raise SystemExit(1)


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value) if "T" in value or " " in value else None
        if parsed is None:
            day = date.fromisoformat(value)
            parsed = datetime(day.year, day.month, day.day)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD) or time (YYYY-MM-DDTHH:MM)") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@audit.command("export")
@click.option("--since", default=None, help="Only records from this date or time on (UTC unless it says).")
@click.option(
    "--output", "-o", type=click.File("w", encoding="utf-8"), default="-", help="File to write (default: stdout)."
)
def export(since: str | None, output: Any) -> None:
    """Write audit records as JSON lines, oldest first."""
    from ai_core.security.audit import AuditTrail

    start = _since(since)
    database = _open()
    try:
        for record in AuditTrail(database).export(since=start):
            output.write(json.dumps(record, sort_keys=True) + "\n")
    finally:
        database.close()
