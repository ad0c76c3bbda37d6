from servers.fixtures import _openai_server_session, openai_server  # noqa: F401
from support.db_fixtures import database, database_url, db_backend, postgres_server, sqlite_template  # noqa: F401
