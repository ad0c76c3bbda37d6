"""Exact money sums that stay fast on SQLite.

On SQLite a money column is fixed-point text with 18 decimals
(:mod:`ai_core.storage.money`), and ``money_sum`` adds it in a Python aggregate:
exact, but a Python call per row. A dashboard sums hundreds of thousands of
rows per page, so here the text is split in SQL into its integer part and two
9-digit halves of its fraction, each summed by SQLite's own integer ``SUM``
(no float, no overflow below ~10^9 rows), and joined again as a ``Decimal``.
Rows this cannot read (a negative amount, text without a point) are counted
too, and a query that met any falls back to ``money_sum``. PostgreSQL sums
its exact ``NUMERIC`` natively.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Integer, String, case, cast, func, literal_column, type_coerce
from sqlalchemy.sql import ColumnElement

from ai_core.storage.money import Money, money_sum, quantize_money

if TYPE_CHECKING:
    from sqlalchemy import Select
    from sqlalchemy.engine import Connection

__all__ = [
    "OddAmounts",
    "exact_sum_columns",
    "exact_sum_text",
    "fallback_columns",
    "odd_amount",
    "read_sum",
    "summed_rows",
]

_BILLION = Decimal(10) ** 9


def exact_sum_columns(column: ColumnElement[Any], dialect: str, prefix: str = "") -> list[ColumnElement[Any]]:
    """The select columns that sum ``column`` exactly: read them back with :func:`read_sum`."""
    if dialect != "sqlite":
        return [money_sum(column).label(f"{prefix}money_sum")]
    column = type_coerce(column, String())  # the stored text, so literals bind as text, not as money
    # Fixed-point text with 18 decimals: the parts sit at fixed places from the end.
    integer = cast(func.substr(column, 1, func.length(column) - 19), Integer)
    high = cast(func.substr(column, -18, 9), Integer)
    low = cast(func.substr(column, -9), Integer)
    odd = case(((func.substr(column, -19, 1) != ".") | (func.substr(column, 1, 1) == "-"), 1), else_=0)
    return [
        func.sum(integer).label(f"{prefix}money_int"),
        func.sum(high).label(f"{prefix}money_hi"),
        func.sum(low).label(f"{prefix}money_lo"),
        func.sum(odd).label(f"{prefix}money_odd"),
    ]


def read_sum(row: Any, prefix: str = "") -> Decimal | None:
    """The exact total from a row selected with :func:`exact_sum_columns` (None: no amounts)."""
    mapping = row._mapping
    if f"{prefix}money_sum" in mapping:
        value = mapping[f"{prefix}money_sum"]
        return None if value is None else quantize_money(Decimal(value))
    integer = mapping[f"{prefix}money_int"]
    if integer is None:
        return None
    if mapping[f"{prefix}money_odd"]:
        raise OddAmounts
    total = Decimal(integer) + Decimal(mapping[f"{prefix}money_hi"]) / _BILLION
    total += Decimal(mapping[f"{prefix}money_lo"]) / (_BILLION * _BILLION)
    return quantize_money(total)


class OddAmounts(Exception):
    """A summed row held an amount the fast path cannot read: sum with ``money_sum``."""


def fallback_columns(column: ColumnElement[Any], prefix: str = "") -> Sequence[ColumnElement[Any]]:
    """``money_sum`` for a query that met :class:`OddAmounts`."""
    return [money_sum(column).label(f"{prefix}money_sum")]


def summed_rows(
    conn: Connection, dialect: str, column: ColumnElement[Any], build: Callable[[Sequence[Any]], Select[Any]]
) -> list[tuple[Any, Decimal]]:
    """Run ``build(sum columns)`` and pair each row with its exact money total (0 for none).

    On SQLite the three summed parts are joined as one integer of 10^-18 units and read
    as a ``Decimal`` from text (exact at any size, no context rounding): a page reads
    thousands of these."""
    result = conn.execute(build(exact_sum_columns(column, dialect)))
    names = list(result.keys())
    rows = result.all()
    if "money_sum" in names:
        at = names.index("money_sum")
        return [(row, quantize_money(Decimal(row[at])) if row[at] is not None else Decimal(0)) for row in rows]
    whole, high, low, odd = (names.index(f"money_{part}") for part in ("int", "hi", "lo", "odd"))
    if any(row[odd] for row in rows):
        rows = conn.execute(build(fallback_columns(column))).all()
        return [(row, read_sum(row) or Decimal(0)) for row in rows]
    return [
        (row, Decimal(f"{row[whole] * 10**18 + row[high] * 10**9 + row[low]}E-18"))
        if row[whole] is not None
        else (row, Decimal(0))
        for row in rows
    ]


def odd_amount(column: ColumnElement[Any]) -> ColumnElement[bool]:
    """SQLite: an amount :func:`exact_sum_text` cannot add (negative, or not fixed-point text)."""
    column = type_coerce(column, String())
    return (func.substr(column, -19, 1) != ".") | (func.substr(column, 1, 1) == "-")


def exact_sum_text(column: ColumnElement[Any], dialect: str, *, odd: bool = False) -> ColumnElement[Any]:
    """The exact sum of ``column`` as one SQL expression, stored-money typed: ``NUMERIC`` summed
    on PostgreSQL; on SQLite the three integer parts summed natively and written back as the
    fixed-point text money is stored as (what ``money_sum`` gives, without a Python call per
    row), or ``money_sum`` itself where a row has an :func:`odd_amount` (``odd``)."""
    if dialect != "sqlite" or odd:
        return money_sum(column)
    text = type_coerce(column, String())
    integer = func.sum(cast(func.substr(text, 1, func.length(text) - 19), Integer))
    high = func.sum(cast(func.substr(text, -18, 9), Integer))
    low = func.sum(cast(func.substr(text, -9), Integer))
    billion: ColumnElement[int] = literal_column("1000000000", Integer)
    high_carried = high + low // billion
    total = func.printf("%d.%09d%09d", integer + high_carried // billion, high_carried % billion, low % billion)
    return type_coerce(total, Money())
