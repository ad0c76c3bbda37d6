from support.db_fixtures import database, database_url, db_backend, postgres_server  # noqa: F401
