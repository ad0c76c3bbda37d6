"""The files of ``ai batch``: input lines to items, results to output lines, and
what an existing output file says is done.

The output file is the record of progress: one line per finished item, written
and flushed as it finishes, so an interrupted run leaves every finished item
in it (a last line cut by a crash is dropped and its item run again: the
ledger, not this file, keeps that from being paid twice).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ai_core import errors
from ai_core.batch.items import BatchItem, BatchResult, item_id_of, parse_item

__all__ = ["DoneRecord", "OutputWriter", "read_done", "read_items"]


def _line_error(number: int, raw_id: str | None, message: str) -> BatchResult:
    return BatchResult.failed(raw_id or f"line-{number}", errors.RequestValidationError(f"line {number}: {message}"))


def read_items(path: Path) -> Iterator[BatchItem | BatchResult]:
    """Each non-blank line of ``path`` as an item, or as the error result that
    says, in one line, why it cannot be one (named ``line-N`` without an id)."""
    seen: dict[str, int] = {}
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield _line_error(number, None, "not UTF-8 text")
                continue
            try:
                data: Any = json.loads(text)
            except json.JSONDecodeError as exc:
                yield _line_error(number, None, f"not valid JSON ({exc.msg} at column {exc.colno})")
                continue
            except ValueError as exc:  # e.g. a number too long to convert
                yield _line_error(number, None, f"not valid JSON ({exc})")
                continue
            if not isinstance(data, dict):
                yield _line_error(number, None, f"expected a JSON object, got {type(data).__name__}")
                continue
            raw_id = item_id_of(data)
            try:
                item = parse_item(data)
            except errors.AIError as exc:
                yield _line_error(number, raw_id, str(exc))
                continue
            first = seen.get(item.id)
            if first is not None:
                yield _line_error(number, None, f"id {item.id!r} was already used on line {first}")
                continue
            seen[item.id] = number
            yield item


@dataclass
class DoneRecord:
    """What an existing output file holds: the ids finished, and which of them failed."""

    done: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    valid_bytes: int = 0
    """The length of the whole lines: anything after (a line cut by a crash) is dropped."""


def read_done(path: Path) -> DoneRecord:
    record = DoneRecord()
    if not path.exists():
        return record
    offset = 0
    with path.open("rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                break  # cut off mid-write: that item is not done
            offset += len(raw)
            record.valid_bytes = offset
            try:
                data = json.loads(raw)
            except ValueError:
                continue
            if isinstance(data, dict) and isinstance(data.get("id"), str):
                record.done.add(data["id"])
                if data.get("error"):
                    record.failed.add(data["id"])
                else:
                    record.failed.discard(data["id"])
    return record


class OutputWriter:
    """Appends one JSON line per result and flushes it, so a killed run loses none it wrote."""

    def __init__(self, path: Path, done: DoneRecord, *, drop: set[str] | None = None) -> None:
        self.path = path
        if drop:
            _rewrite_without(path, drop)
        elif path.exists() and path.stat().st_size != done.valid_bytes:
            with path.open("r+b") as handle:  # drop a line cut off by a crash
                handle.truncate(done.valid_bytes)
        self._handle: IO[str] = path.open("a", encoding="utf-8")

    def write(self, result: BatchResult) -> None:
        self._handle.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def _rewrite_without(path: Path, ids: set[str]) -> None:
    """Rewrite ``path`` without the lines of ``ids`` (atomically: a new file, then rename)."""
    temporary = path.with_name(path.name + ".tmp")
    with path.open("rb") as source, temporary.open("wb") as target:
        for raw in source:
            if not raw.endswith(b"\n"):
                break
            try:
                data = json.loads(raw)
            except ValueError:
                data = None
            if isinstance(data, dict) and data.get("id") in ids:
                continue
            target.write(raw)
        target.flush()
        os.fsync(target.fileno())
    os.replace(temporary, path)
