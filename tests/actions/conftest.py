from support.db_fixtures import database, database_url, db_backend, postgres_server, sqlite_template  # noqa: F401
