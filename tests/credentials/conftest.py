"""Fixtures for the credential tests: a SQLite database in tmp_path and a private key file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ai_core.credentials.keys import KeyConfig
from ai_core.credentials.store import CredentialStore
from ai_core.storage.database import Database


@pytest.fixture(autouse=True)
def _clean_key_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Never let a developer's real key or data directory leak into a test.
    for name in ("AI_ENCRYPTION_KEY", "AI_KEY_FILE", "AI_DATABASE_URL", "AI_ACTOR", "AI_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AI_CONFIG_FILE", str(tmp_path / "no-config.toml"))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "credentials.db"


@pytest.fixture
def database(db_path: Path) -> Iterator[Database]:
    # The real storage layer: migrated SQLite, sync engine driven from worker threads.
    db = Database.open(f"sqlite:///{db_path}")
    yield db
    db.close()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "encryption.key"


@pytest.fixture
def keys(key_file: Path) -> KeyConfig:
    return KeyConfig(key_file=key_file)


@pytest.fixture
def store(database: Database, keys: KeyConfig) -> CredentialStore:
    return CredentialStore(database, keys=keys, actor="tester")
