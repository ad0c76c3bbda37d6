"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect

from ai_core.errors import ConfigurationError
from ai_core.migrations import HEAD
from ai_core.storage import migrate
from ai_core.storage.database import Database
from ai_core.storage.models import metadata


def test_head_constant_matches_the_scripts() -> None:
    assert migrate.head() == HEAD


def test_migrated_schema_matches_the_models(database: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []
    assert migrate.current(database) == HEAD


def test_every_design_table_exists(database: Database) -> None:
    names = set(inspect(database.engine).get_table_names())
    design = {
        "ai_providers",
        "ai_accounts",
        "ai_provider_models",
        "ai_provider_model_costs",
        "ai_conversations",
        "ai_messages",
        "ai_conversation_participants",
        "ai_usage_analytics",
        "ai_cost_tracking",
        "ai_model_performance",
        "ai_audit_log",
    }
    assert design <= names


def test_sqlite_is_migrated_on_open(tmp_path) -> None:
    database = Database.open(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        assert migrate.current(database) == HEAD
        journal = database.engine.connect().exec_driver_sql("PRAGMA journal_mode").scalar()
        assert journal == "wal"
    finally:
        database.close()


def test_default_database_lives_in_the_data_dir(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AI_DATABASE_URL", raising=False)
    monkeypatch.setenv("AI_DATA_DIR", str(tmp_path / "data"))
    with Database.open() as database:
        assert database.url.database == str(tmp_path / "data" / "ai-core.db")
    assert (tmp_path / "data" / "ai-core.db").exists()


@pytest.mark.postgres
def test_server_database_must_be_upgraded_explicitly(postgres_server) -> None:
    name = postgres_server.create_database()
    url = postgres_server.url(name)
    try:
        with pytest.raises(ConfigurationError, match="ai db upgrade"):
            Database.open(url)
        with Database.open(url, migrate=True) as database:
            assert migrate.current(database) == HEAD
        Database.open(url).close()  # now current: opens without touching the schema
    finally:
        create_engine(url).dispose()
        postgres_server.drop_database(name)


def test_unsupported_url_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="unsupported database"):
        Database.open("mysql://user:pw@localhost/db")
