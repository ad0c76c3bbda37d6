"""Table views: what a page shows in a table is also exactly what it exports.

A :class:`TableView` names its columns and their kind once; the HTML template,
the CSV export and the JSON export all read it, so the three cannot disagree.
Money is exact text everywhere (``money_text``: plain digits, never an
exponent, never a float).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ai_core.storage.browse import money_text

__all__ = ["Column", "TableView", "cell_text", "to_csv", "to_json"]


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    kind: str = "text"
    """``text``, ``int``, ``money``, ``percent``, ``ms``, ``time``, ``date`` or ``link`` (to a conversation)."""


@dataclass
class TableView:
    name: str
    title: str
    columns: Sequence[Column]
    rows: Sequence[dict[str, Any]]
    total: dict[str, Any] | None = None
    note: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def cell_text(value: Any, kind: str) -> str:
    """A value as exported (and, for money, as shown): exact, plain, no float money."""
    if value is None:
        return ""
    if kind == "money" or isinstance(value, Decimal):
        return money_text(Decimal(value)) or "0"
    if kind == "percent":
        return f"{float(value) * 100:.2f}"
    if kind == "ms":
        return f"{float(value):.1f}"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def _json_value(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind in ("int",) and isinstance(value, int):
        return value
    if kind in ("percent", "ms") and isinstance(value, (int, float)):
        return value
    if isinstance(value, bool):
        return value
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return cell_text(value, kind)


def to_json(table: TableView) -> str:
    payload = {
        "table": table.name,
        "columns": [c.key for c in table.columns],
        "rows": [{c.key: _json_value(row.get(c.key), c.kind) for c in table.columns} for row in table.rows],
        "total": (
            {c.key: _json_value(table.total.get(c.key), c.kind) for c in table.columns if c.key in table.total}
            if table.total is not None
            else None
        ),
    }
    return json.dumps(payload, indent=2, ensure_ascii=False)


def to_csv(table: TableView) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.key for c in table.columns])
    for row in table.rows:
        writer.writerow([_csv_safe(cell_text(row.get(c.key), c.kind)) for c in table.columns])
    if table.total is not None:
        writer.writerow(
            [
                _csv_safe(cell_text(table.total.get(c.key), c.kind))
                if c.key in table.total
                else ("total" if i == 0 else "")
                for i, c in enumerate(table.columns)
            ]
        )
    return out.getvalue()


def _csv_safe(text: str) -> str:
    """Keep a spreadsheet from running a cell as a formula (CSV injection)."""
    if (text and text[0] in "=+@\t\r") or (text.startswith("-") and not _is_number(text)):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True
