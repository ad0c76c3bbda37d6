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

import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Any, cast

from sqlalchemy.dialects.sqlite import base as sqlite_types
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement, sqltypes
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["Prepared", "RawTransaction"]


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    positional: bool

    def __post_init__(self) -> None:
        # One C call fetches every value; Python then touches only the values a type converts.
        object.__setattr__(self, "_pick", _picker(self.names))
        converted = tuple((i, p) for i, p in enumerate(self.processors) if p is not None)
        object.__setattr__(self, "_converted", converted)

    def params(self, values: Mapping[str, Any]) -> Any:
        picked = self._pick(values)  # type: ignore[attr-defined]
        if self._converted:  # type: ignore[attr-defined]
            picked = list(picked)
            for index, processor in self._converted:  # type: ignore[attr-defined]
                value = picked[index]
                if value is not None:
                    picked[index] = processor(value)
        return tuple(picked) if self.positional else dict(zip(self.names, picked, strict=True))


def _picker(names: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A function fetching ``names`` from a mapping as a tuple, in one C call."""
    if not names:
        return lambda values: ()
    get = operator.itemgetter(*names)
    if len(names) == 1:
        return lambda values: (get(values),)
    return get  # type: ignore[return-value]


def _processor(bind_type: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """The bind processor of ``bind_type``; for SQLite's timestamps and dates, an
    equivalent one in C (``isoformat``): the same text SQLAlchemy stores; for JSON,
    the empty list and object without the encoder."""
    processor: Callable[[Any], Any] | None = bind_type._cached_bind_processor(dialect)
    if dialect.name == "sqlite":
        impl = dialect.type_descriptor(bind_type)
        if type(impl) is sqlite_types.DATETIME and impl._storage_format == sqlite_types.DATETIME._storage_format:
            return _sqlite_datetime
        if isinstance(impl, sqlite_types.DATE) and impl._storage_format == sqlite_types.DATE._storage_format:
            return _sqlite_date
        if isinstance(impl, sqltypes.JSON) and processor is not None and dialect._json_serializer is None:
            return partial(_sqlite_json, processor)
    return processor


_last_datetime: tuple[Any, Any] = (None, None)


def _sqlite_datetime(value: Any) -> Any:
    global _last_datetime
    last, text = _last_datetime
    if value is last:  # the rows of one write share one timestamp object
        return text
    if type(value) is datetime:
        text = value.replace(tzinfo=None).isoformat(" ", "microseconds")
        _last_datetime = (value, text)
        return text
    return _DATETIME_FALLBACK(value)


def _sqlite_json(encode: Callable[[Any], Any], value: Any) -> Any:
    if not value and type(value) in (list, dict):  # a new conversation's tags and metadata
        return "[]" if type(value) is list else "{}"
    return encode(value)


def _sqlite_date(value: Any) -> Any:
    if type(value) is date:
        return value.isoformat()
    return _DATE_FALLBACK(value)


_SQLITE = sqlite_dialect()
_DATETIME_FALLBACK: Callable[[Any], Any] = sqlite_types.DATETIME().bind_processor(_SQLITE)  # type: ignore[assignment]
_DATE_FALLBACK: Callable[[Any], Any] = sqlite_types.DATE().bind_processor(_SQLITE)  # type: ignore[assignment]


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
            processors = tuple(_processor(compiled.binds[name].type, dialect) for name in names)
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
        params = [compiled.params(row) for row in rows]
        if params:  # the driver would still prepare and step the statement for nothing
            self.cursor.executemany(compiled.sql, params)

    def returned(self, prepared: Prepared, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Execute a statement with RETURNING and fetch its rows."""
        return list(self.execute(prepared, values).fetchall())
