"""The hot write path: statements compiled once, run on the raw DB-API cursor.

Every turn writes two short transactions. Through SQLAlchemy's Connection each
statement pays for coercion, cache-key building and result wrapping, which
costs several times what SQLite itself needs. So the conversation store's
writes are SQLAlchemy Core statements compiled once per dialect (their SQL
text, parameter order and SQLAlchemy's own bind processors, so Money, JSON
and dates are stored exactly as the ORM stores them) and executed on the
pooled DB-API connection inside :meth:`Database.raw_write`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["Prepared", "RawTransaction"]


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    positional: bool

    def params(self, values: Mapping[str, Any]) -> Any:
        processed = [
            value if processor is None or value is None else processor(value)
            for value, processor in zip((values[name] for name in self.names), self.processors, strict=True)
        ]
        return tuple(processed) if self.positional else dict(zip(self.names, processed, strict=True))


class Prepared:
    """A statement (or a per-dialect factory of one) compiled on first use per dialect."""

    def __init__(self, statement: ClauseElement | Callable[[str], ClauseElement]) -> None:
        self._statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            statement = self._statement(dialect.name) if callable(self._statement) else self._statement
            # compile() is typed as the base Compiled; DML and SELECT always give an SQLCompiler.
            compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
            names = tuple(compiled.positiontup) if compiled.positiontup is not None else tuple(compiled.binds)
            processors = tuple(compiled.binds[name].type._cached_bind_processor(dialect) for name in names)
            found = _Compiled(str(compiled), names, processors, compiled.positiontup is not None)
            self._compiled[dialect.name] = found
        return found


class RawTransaction:
    """A DB-API cursor inside a transaction :meth:`Database.raw_write` opened."""

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        self.cursor = cursor
        self.dialect = dialect

    def execute(self, prepared: Prepared, values: Mapping[str, Any]) -> Any:
        compiled = prepared.compiled(self.dialect)
        self.cursor.execute(compiled.sql, compiled.params(values))
        return self.cursor

    def executemany(self, prepared: Prepared, rows: Iterable[Mapping[str, Any]]) -> None:
        compiled = prepared.compiled(self.dialect)
        self.cursor.executemany(compiled.sql, [compiled.params(row) for row in rows])

    def returned(self, prepared: Prepared, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Execute a statement with RETURNING and fetch its rows."""
        return list(self.execute(prepared, values).fetchall())
