"""Files ai-core creates are private, and a key file that cannot be kept is an error.

The SQLite database and its -wal/-shm (and the migration lock beside them) are
created 0600 whatever the umask, the data directory 0700 when ai-core creates
it; a directory that already exists keeps its mode. A key-file path that is a
dangling symlink or cannot be written refuses to store a credential instead of
"storing" it under a key kept nowhere.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from support.privileges import demote, give_away, permissions_apply, shared_directory

from ai_core.credentials.keys import KeyConfig, load_keyring, write_key_file
from ai_core.credentials.store import CredentialStore
from ai_core.credentials.tables import Account
from ai_core.errors import CredentialError
from ai_core.storage.database import Database

SECRET = "sk-perm-PLAINTEXT-1a2b3c4d5e6f7a8b9c0d"

# The children import the same ai-core as this process.
PYTHONPATH = {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    value: int = getattr(request, "param", 0o022)
    old = os.umask(value)
    try:
        yield value
    finally:
        os.umask(old)


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o000], indirect=True, ids=["022", "002", "000"])
def test_new_sqlite_database_and_its_wal_and_shm_are_private(tmp_path: Path, umask: int) -> None:
    data_dir = tmp_path / "new" / "ai-core"
    path = data_dir / "ai-core.db"
    with Database.open(f"sqlite:///{path}") as database:
        with database.write() as conn:  # a write, so the WAL has content and the SHM exists
            conn.exec_driver_sql("CREATE TABLE probe (x INTEGER)")
            conn.exec_driver_sql("INSERT INTO probe VALUES (1)")
        files = {p.name: mode(p) for p in data_dir.iterdir()}
    assert {"ai-core.db", "ai-core.db-wal", "ai-core.db-shm"} <= set(files)
    assert files == dict.fromkeys(files, 0o600), {n: oct(m) for n, m in files.items()}
    assert mode(data_dir) == 0o700


def test_an_existing_directory_keeps_its_mode(tmp_path: Path, umask: int) -> None:
    data_dir = tmp_path / "shared"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    Database.open(f"sqlite:///{data_dir / 'ai-core.db'}").close()
    assert mode(data_dir) == 0o755
    assert mode(data_dir / "ai-core.db") == 0o600


def test_an_existing_database_file_keeps_its_mode(tmp_path: Path, sqlite_template: Path) -> None:
    path = tmp_path / "mine.db"
    path.write_bytes(sqlite_template.read_bytes())
    path.chmod(0o640)  # shared with a group on purpose: not ours to change
    Database.open(f"sqlite:///{path}").close()
    assert mode(path) == 0o640


def test_the_cli_creates_its_data_directory_and_database_privately(tmp_path: Path) -> None:
    data_dir = tmp_path / "home" / "ai-data"
    env = {
        "PATH": os.environ.get("PATH", ""),
        **PYTHONPATH,
        "AI_DATA_DIR": str(data_dir),
        "AI_CONFIG_FILE": str(tmp_path / "absent.toml"),
        "HOME": str(tmp_path),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys; os.umask(0o022); sys.argv = ['ai', 'usage']; from ai_core.cli import main; main()",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert mode(data_dir) == 0o700
    created = sorted(data_dir.iterdir())
    assert created and all(mode(p) == 0o600 for p in created), {p.name: oct(mode(p)) for p in created}


# ---------------------------------------------------------------- the key file


def stored_accounts(database: Database) -> int:
    with database.read() as conn:
        return int(conn.execute(select(func.count()).select_from(Account.__table__)).scalar_one())


@pytest.mark.anyio
async def test_a_dangling_symlink_key_file_stores_nothing(database: Database, tmp_path: Path) -> None:
    link = tmp_path / "encryption.key"
    link.symlink_to(tmp_path / "gone" / "real.key")
    store = CredentialStore(database, keys=KeyConfig(key_file=link))
    with pytest.raises(CredentialError, match=r"symbolic link to .*gone/real\.key, which does not exist"):
        await store.set("openai", SECRET)
    assert stored_accounts(database) == 0
    assert not (tmp_path / "gone").exists()
    with pytest.raises(CredentialError, match="symbolic link"):  # reading says so too, not "no key"
        load_keyring(KeyConfig(key_file=link))
    with pytest.raises(CredentialError, match="symbolic link"):
        write_key_file(link, [b"0" * 43 + b"="])


@pytest.mark.anyio
async def test_a_key_file_under_a_file_stores_nothing(database: Database, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    store = CredentialStore(database, keys=KeyConfig(key_file=blocker / "encryption.key"))
    with pytest.raises(CredentialError, match=r"key file .*not-a-dir/encryption\.key: Not a directory; fix the path"):
        await store.set("openai", SECRET)
    assert stored_accounts(database) == 0


def test_a_key_file_in_an_unwritable_directory_stores_nothing(sqlite_template: Path) -> None:
    """Through `ai keys set`, as a user the directory's mode applies to (nobody, when the tests run as root)."""
    permissions_apply()
    with shared_directory() as root:
        data_dir, keys_dir = root / "data", root / "keys"
        data_dir.mkdir()
        keys_dir.mkdir()
        (data_dir / "ai-core.db").write_bytes(sqlite_template.read_bytes())
        give_away(data_dir, keys_dir)
        keys_dir.chmod(0o500)
        env = {
            "PATH": os.environ.get("PATH", ""),
            **PYTHONPATH,
            "HOME": str(root),
            "AI_DATA_DIR": str(data_dir),
            "AI_CONFIG_FILE": str(root / "absent.toml"),
            "AI_KEY_FILE": str(keys_dir / "encryption.key"),
        }
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; sys.argv = ['ai', 'keys', 'set', 'openai']; from ai_core.cli import main; main()",
            ],
            input=SECRET,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            preexec_fn=demote(),
        )
        assert done.returncode == 1, done.stdout + done.stderr
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
        assert "cannot create key file" in done.stderr and "ermission denied" in done.stderr
        assert not (keys_dir / "encryption.key").exists()
        with Database.open(f"sqlite:///{data_dir / 'ai-core.db'}") as database:
            assert stored_accounts(database) == 0


def test_a_working_key_file_is_still_created_private(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "fresh" / "encryption.key"
    ring = load_keyring(KeyConfig(key_file=path), create=True)
    assert ring is not None and mode(path) == 0o600 and mode(path.parent) == 0o700
