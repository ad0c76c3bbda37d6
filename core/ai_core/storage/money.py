"""Exact money in SQL on both databases.

PostgreSQL has an exact ``NUMERIC``; SQLite does not (a ``NUMERIC`` column
turns ``0.000000075`` into a float). So :class:`Money` is ``NUMERIC(38, 18)``
on PostgreSQL and canonical decimal *text* on SQLite, and the two SQL
operations money needs, adding to a stored total and summing a column, are
expressions that compile to ``a + b`` / ``SUM(x)`` on PostgreSQL and to
Python-Decimal functions registered on every SQLite connection
(:func:`register_sqlite_functions`). Increments therefore stay single SQL
statements (``total = total + :x``) on both, exact and safe under concurrent
writers, with no read-modify-write in Python.
"""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Any

from sqlalchemy import Numeric, String, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["MONEY_SCALE", "Money", "money_add", "money_sum", "quantize_money", "register_sqlite_functions"]

MONEY_SCALE = 18
"""Decimal places kept. Costs are tokens x (price per million) / 10^6, so 18
places hold prices quoted to 12 decimals per million tokens exactly."""

_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)
_CONTEXT = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN)


def quantize_money(value: Decimal) -> Decimal:
    """``value`` at the stored scale, so what is summed equals what is stored."""
    return value.quantize(_QUANTUM, context=_CONTEXT)


def _to_text(value: Decimal) -> str:
    # Fixed-point text, never exponent notation, so equal amounts are equal strings.
    return format(quantize_money(value), "f")


class Money(TypeDecorator[Decimal]):
    """A Decimal amount: NUMERIC(38, 18) on PostgreSQL, exact decimal text on SQLite."""

    impl = Numeric(38, MONEY_SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(64))
        return dialect.type_descriptor(Numeric(38, MONEY_SCALE, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
        if not amount.is_finite():
            raise ValueError(f"money must be a finite amount, got {amount}")
        if dialect.name == "sqlite":
            return _to_text(amount)
        return quantize_money(amount)

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        if value is None:
            return None
        return quantize_money(Decimal(str(value)) if not isinstance(value, Decimal) else value)


def _money_argument(value: Any) -> Any:
    # A bare Decimal would bind as NUMERIC, which SQLite's driver turns into a float.
    return value if isinstance(value, ClauseElement) else literal(value, Money())


class money_add(FunctionElement[Decimal]):
    """``a + b`` for money columns; exact on SQLite through a registered function."""

    type = Money()
    inherit_cache = True
    name = "money_add"

    def __init__(self, left: Any, right: Any) -> None:
        super().__init__(_money_argument(left), _money_argument(right))


class money_sum(FunctionElement[Decimal]):
    """``SUM(x)`` for money columns (NULLs ignored, no rows -> NULL)."""

    type = Money()
    inherit_cache = True
    name = "money_sum"


@compiles(money_add)
def _add_default(element: money_add, compiler: SQLCompiler, **kw: Any) -> str:
    left, right = list(element.clauses)
    return f"({compiler.process(left, **kw)} + {compiler.process(right, **kw)})"


@compiles(money_add, "sqlite")
def _add_sqlite(element: money_add, compiler: SQLCompiler, **kw: Any) -> str:
    return f"ai_money_add({compiler.process(element.clauses, **kw)})"


@compiles(money_sum)
def _sum_default(element: money_sum, compiler: SQLCompiler, **kw: Any) -> str:
    return f"SUM({compiler.process(element.clauses, **kw)})"


@compiles(money_sum, "sqlite")
def _sum_sqlite(element: money_sum, compiler: SQLCompiler, **kw: Any) -> str:
    return f"ai_money_sum({compiler.process(element.clauses, **kw)})"


def _parse(value: Any) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, float):
        # A float here means a non-money value slipped in; refuse to guess.
        raise ValueError("ai_money_* refuses float input: money is stored as exact text")
    return Decimal(str(value))


def _sqlite_add(left: Any, right: Any) -> str | None:
    a, b = _parse(left), _parse(right)
    if a is None and b is None:
        return None
    total = _CONTEXT.add(a or Decimal(0), b or Decimal(0))
    return _to_text(total)


class _SqliteSum:
    def __init__(self) -> None:
        self.total: Decimal | None = None

    def step(self, value: Any) -> None:
        amount = _parse(value)
        if amount is not None:
            self.total = amount if self.total is None else _CONTEXT.add(self.total, amount)

    def finalize(self) -> str | None:
        return None if self.total is None else _to_text(self.total)


def register_sqlite_functions(dbapi_connection: Any) -> None:
    """Install ``ai_money_add``/``ai_money_sum`` on a raw sqlite3 connection."""
    dbapi_connection.create_function("ai_money_add", 2, _sqlite_add, deterministic=True)
    dbapi_connection.create_aggregate("ai_money_sum", 1, _SqliteSum)
