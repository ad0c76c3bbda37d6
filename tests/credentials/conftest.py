"""Fixtures for the credential tests: the shared database fixtures (SQLite and PostgreSQL) and a private key file."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.db_fixtures import database, database_url, db_backend, postgres_server, sqlite_template  # noqa: F401

from ai_core.credentials.keys import KeyConfig
from ai_core.credentials.store import CredentialStore
from ai_core.storage.database import Database


@pytest.fixture(autouse=True)
def _clean_key_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Never let a developer's real key, database or data directory leak into a test.
    for name in ("AI_ENCRYPTION_KEY", "AI_KEY_FILE", "AI_DATABASE_URL", "AI_ACTOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AI_CONFIG_FILE", str(tmp_path / "no-config.toml"))


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "encryption.key"


@pytest.fixture
def keys(key_file: Path) -> KeyConfig:
    return KeyConfig(key_file=key_file)


@pytest.fixture
def store(database: Database, keys: KeyConfig) -> CredentialStore:  # noqa: F811 - the imported fixture
    return CredentialStore(database, keys=keys, actor="tester")
