"""`ai keys` through click's CliRunner: hidden prompt, stdin, masked list, rotate, delete, clean errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from ai_core.cli import cli, keys_cmd
from ai_core.credentials.keys import KeyConfig, load_keyring
from ai_core.credentials.store import CredentialStore
from ai_core.credentials.tables import AuditLogEntry
from ai_core.storage.database import Database

SECRET = "sk-cli-PLAINTEXT-9d8c7b6a5f4e3d2c1b0a"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"  # AI_DATA_DIR, set by the autouse fixture in conftest


@pytest.fixture(autouse=True)
def _migrated_default_database(data_dir: Path, sqlite_template: Path) -> None:
    # The CLI opens <AI_DATA_DIR>/ai-core.db; start it migrated so each test skips the migration.
    data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sqlite_template, data_dir / "ai-core.db")


def invoke(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["keys", *args], input=input, catch_exceptions=False)


def read_back(data_dir: Path, provider: str = "openai", **kwargs: str) -> SecretStr | None:
    import anyio

    with Database.open(f"sqlite:///{data_dir / 'ai-core.db'}") as database:
        store = CredentialStore(database, keys=KeyConfig.from_env())
        return anyio.run(lambda: store.get(provider, **kwargs))


def audit_actions(data_dir: Path) -> list[tuple[str, str]]:
    with Database.open(f"sqlite:///{data_dir / 'ai-core.db'}") as database, Session(database.engine) as session:
        return [(r.action, r.outcome) for r in session.scalars(select(AuditLogEntry).order_by(AuditLogEntry.id))]


def test_set_prompts_without_echo(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    monkeypatch.setattr(keys_cmd, "_stdin_is_tty", lambda: True)
    result = invoke("set", "openai", "--account", "work", input=SECRET + "\n")
    assert result.exit_code == 0, result.output
    assert "API key for openai: " in result.output
    assert SECRET not in result.output
    assert "stored openai/work (****" + SECRET[-4:] in result.output
    assert read_back(data_dir, account="work") == SecretStr(SECRET)
    assert ("set", "ok") in audit_actions(data_dir)


def test_key_file_is_created_private(data_dir: Path) -> None:
    assert invoke("set", "openai", input=SECRET).exit_code == 0
    key_file = data_dir / "encryption.key"
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_set_reads_stdin_when_not_a_tty(data_dir: Path) -> None:
    result = invoke("set", "xai", "--tenant", "acme", "--label", "prod", input=SECRET + "\n")
    assert result.exit_code == 0, result.output
    assert "API key" not in result.output and SECRET not in result.output
    assert read_back(data_dir, "xai", tenant="acme") == SecretStr(SECRET)


def test_empty_input_stores_nothing(data_dir: Path) -> None:
    result = invoke("set", "openai", input="\n")
    assert result.exit_code == 1
    assert "no credential given" in result.output
    assert not (data_dir / "encryption.key").exists()


def test_list_is_masked(data_dir: Path) -> None:
    assert invoke("list").output.startswith("no stored credentials")
    invoke("set", "openai", "--label", "prod", input=SECRET)
    invoke("set", "xai", "--tenant", "acme", input="tiny-key")
    table = invoke("list")
    assert table.exit_code == 0
    assert "****" + SECRET[-4:] in table.output and "prod" in table.output and "acme" in table.output
    assert SECRET not in table.output and "tiny-key" not in table.output
    rows = json.loads(invoke("list", "--json").output)
    assert [(r["provider"], r["tenant"], r["hint"]) for r in rows] == [
        ("openai", None, "****" + SECRET[-4:]),
        ("xai", "acme", "****"),
    ]
    assert [r["provider"] for r in json.loads(invoke("list", "--json", "--provider", "xai").output)] == ["xai"]


def test_list_flags_rows_the_current_key_cannot_open(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    invoke("set", "openai", input=SECRET)
    monkeypatch.setenv("AI_ENCRYPTION_KEY", Fernet.generate_key().decode())
    result = invoke("list")
    assert result.exit_code == 0
    assert "(no such key!)" in result.output and "warning: 1 credential(s)" in result.output


def test_rotate(data_dir: Path) -> None:
    invoke("set", "openai", input=SECRET)
    invoke("set", "openai", "--account", "b", input=SECRET + "-b")
    before = load_keyring(KeyConfig(data_dir=data_dir))
    result = invoke("rotate")
    assert result.exit_code == 0, result.output
    after = load_keyring(KeyConfig(data_dir=data_dir))
    assert before is not None and after is not None
    assert "re-encrypted 2 credential(s) under key " + after.primary_fingerprint in result.output
    assert before.primary_fingerprint in result.output  # reported as removed
    assert after.keys != before.keys and len(after.keys) == 1
    assert read_back(data_dir) == SecretStr(SECRET)
    assert read_back(data_dir, account="b") == SecretStr(SECRET + "-b")


def test_delete(data_dir: Path) -> None:
    invoke("set", "openai", input=SECRET)
    declined = invoke("delete", "openai", input="n\n")
    assert declined.exit_code == 1 and "Aborted" in declined.output
    assert read_back(data_dir) == SecretStr(SECRET)
    assert invoke("delete", "openai", "--yes").output.strip() == "deleted openai/default"
    assert read_back(data_dir) is None
    missing = invoke("delete", "openai", "-y")
    assert missing.exit_code == 1 and "no stored credential openai/default" in missing.output


@pytest.mark.parametrize("bad_key", ["bogus", ""])
def test_bad_key_is_a_clean_error(data_dir: Path, monkeypatch: pytest.MonkeyPatch, bad_key: str) -> None:
    invoke("set", "openai", input=SECRET)
    monkeypatch.setenv("AI_ENCRYPTION_KEY", bad_key)
    result = invoke("rotate")
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and "AI_ENCRYPTION_KEY" in result.output
    assert "Traceback" not in result.output and SECRET not in result.output


def test_wrong_key_rotation_is_a_clean_error(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    invoke("set", "openai", input=SECRET)
    monkeypatch.setenv("AI_ENCRYPTION_KEY", Fernet.generate_key().decode())
    result = invoke("rotate")
    assert result.exit_code == 1
    assert "Error: rotation stopped, nothing was changed" in result.output
    assert "Traceback" not in result.output


def test_bad_provider_name_is_a_clean_error() -> None:
    result = invoke("set", "not a provider", input=SECRET)
    assert result.exit_code == 1 and "Error: invalid provider" in result.output
    assert SECRET not in result.output


def test_generate_key_prints_a_usable_key() -> None:
    key = invoke("generate-key").output.strip()
    Fernet(key.encode())  # raises if it is not a Fernet key


def test_importing_the_command_module_is_light() -> None:
    code = (
        "import sys, ai_core.cli.keys_cmd; "
        "heavy = [m for m in ('sqlalchemy', 'cryptography', 'anyio') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""
