"""Databases (SQLite and a real PostgreSQL 15) and the local OpenAI wire server, for the
end-to-end suite."""

from servers.fixtures import _openai_server_session, openai_server  # noqa: F401
from support.db_fixtures import database, database_url, db_backend, postgres_server, sqlite_template  # noqa: F401
