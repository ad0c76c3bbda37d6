"""The declarative base every table of ai-core's schema hangs off.

One ``MetaData`` with a naming convention, so Alembic migrations name
constraints the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import MetaData, Table
from sqlalchemy.orm import DeclarativeBase

__all__ = ["Base", "metadata", "table_of"]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class Base(DeclarativeBase):
    metadata = metadata


def table_of(model: type[Base]) -> Table:
    """The ``Table`` a declarative model maps to.

    SQLAlchemy's stubs type ``Model.__table__`` as a ``FromClause`` (a model
    may map any selectable), but every model here maps a plain ``Table``, and
    Core statements such as ``insert()`` and the dialect helpers need one.
    """
    return cast(Table, model.__table__)
