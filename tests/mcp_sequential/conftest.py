"""Databases for the end-to-end suite (SQLite and a real PostgreSQL 15)."""

from support.db_fixtures import database, database_url, db_backend, postgres_server, sqlite_template  # noqa: F401
