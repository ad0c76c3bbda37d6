"""Key rotation: every credential reads back afterwards, and a crash at any step loses nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from ai_core.credentials import keys as keys_module
from ai_core.credentials import store as store_module
from ai_core.credentials.keys import KeyConfig, fingerprint, load_keyring
from ai_core.credentials.store import CredentialStore
from ai_core.credentials.tables import Account, AuditLogEntry
from ai_core.errors import CredentialError
from ai_core.storage.database import Database

pytestmark = pytest.mark.anyio

CREDENTIALS = {
    ("openai", None, None): "sk-openai-default-0123456789abcdef",
    ("openai", "work", None): "sk-openai-work-0123456789abcdef",
    ("openai", None, "acme"): "sk-openai-acme-0123456789abcdef",
    ("xai", None, None): "xai-test-0123456789abcdefghij",
    ("gemini", "team", "globex"): "AIzaSy-gemini-team-0123456789",
    ("ollama", None, None): "short",
}


async def fill(store: CredentialStore) -> None:
    for (provider, account, tenant), secret in CREDENTIALS.items():
        await store.set(provider, secret, account=account, tenant=tenant)


async def assert_all_readable(store: CredentialStore) -> None:
    for (provider, account, tenant), secret in CREDENTIALS.items():
        assert await store.get(provider, account=account, tenant=tenant) == SecretStr(secret), (provider, account)


def stored_fingerprints(database: Database) -> set[str]:
    with Session(database.engine) as session:
        return set(session.scalars(select(Account.key_fingerprint)))


def key_file_keys(key_file: Path) -> tuple[bytes, ...]:
    ring = load_keyring(KeyConfig(key_file=key_file))
    assert ring is not None
    return ring.keys


async def test_rotate_reads_every_credential_back(store: CredentialStore, database: Database, key_file: Path) -> None:
    await fill(store)
    (old_key,) = key_file_keys(key_file)
    report = await store.rotate()
    (new_key,) = key_file_keys(key_file)  # the old key is gone from the file
    assert new_key != old_key
    assert report.rotated == len(CREDENTIALS)
    assert report.primary_fingerprint == fingerprint(new_key)
    assert report.dropped_fingerprints == (fingerprint(old_key),)
    assert stored_fingerprints(database) == {fingerprint(new_key)}
    await assert_all_readable(store)
    # The old key alone opens nothing any more: the tokens really were re-encrypted.
    old_only = CredentialStore(database, keys=KeyConfig(encryption_key=old_key.decode()))
    with pytest.raises(CredentialError):
        await old_only.get("openai")
    with Session(database.engine) as session:
        assert set(session.scalars(select(Account.key_version))) == {2}
        rotated = session.scalars(
            select(AuditLogEntry).where(AuditLogEntry.action == "rotate", AuditLogEntry.account_id.is_not(None))
        ).all()
    assert len(rotated) == len(CREDENTIALS)


async def test_rotate_twice(store: CredentialStore, key_file: Path) -> None:
    await fill(store)
    await store.rotate()
    await store.rotate()
    assert len(key_file_keys(key_file)) == 1
    await assert_all_readable(store)


async def test_rotate_with_nothing_stored_creates_a_key(store: CredentialStore, key_file: Path) -> None:
    report = await store.rotate()
    assert report.rotated == 0 and key_file.exists()


async def test_rotate_without_key_but_with_rows_is_a_clear_error(
    database: Database, key_file: Path, tmp_path: Path
) -> None:
    await CredentialStore(database, keys=KeyConfig(key_file=key_file)).set("openai", "sk-abcdefghijklmnop")
    lost = CredentialStore(database, keys=KeyConfig(key_file=tmp_path / "lost.key"))
    with pytest.raises(CredentialError, match="no encryption key"):
        await lost.rotate()
    assert not (tmp_path / "lost.key").exists()


async def test_crash_before_reencryption_commits_keeps_everything_readable(
    store: CredentialStore, database: Database, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await fill(store)
    (old_key,) = key_file_keys(key_file)
    calls = 0
    real_rotate_token = keys_module.Keyring.rotate_token

    def crash_midway(self: keys_module.Keyring, token: str, **kwargs: object) -> str:
        nonlocal calls
        calls += 1
        if calls == 3:  # some rows already updated inside the transaction
            raise KeyboardInterrupt("simulated crash")
        return real_rotate_token(self, token, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(keys_module.Keyring, "rotate_token", crash_midway)
    with pytest.raises(KeyboardInterrupt):
        await store.rotate()
    monkeypatch.undo()
    # Step 1 happened (new key first, old kept); step 2 rolled back entirely.
    staged = key_file_keys(key_file)
    assert len(staged) == 2 and staged[1] == old_key
    assert stored_fingerprints(database) == {fingerprint(old_key)}
    await assert_all_readable(store)
    # The next rotation finishes the job and leaves a single key.
    await store.rotate()
    (final,) = key_file_keys(key_file)
    assert stored_fingerprints(database) == {fingerprint(final)}
    await assert_all_readable(store)


async def test_crash_after_commit_before_dropping_old_key(
    store: CredentialStore, database: Database, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await fill(store)
    writes: list[int] = []
    real_write = store_module.write_key_file

    def crash_on_final_write(path: Path, keys: list[bytes]) -> None:
        writes.append(len(keys))
        if len(writes) == 2:
            raise KeyboardInterrupt("simulated crash")
        real_write(path, keys)

    monkeypatch.setattr(store_module, "write_key_file", crash_on_final_write)
    with pytest.raises(KeyboardInterrupt):
        await store.rotate()
    monkeypatch.undo()
    staged = key_file_keys(key_file)
    assert len(staged) == 2
    assert stored_fingerprints(database) == {fingerprint(staged[0])}
    await assert_all_readable(store)
    await store.rotate()
    assert len(key_file_keys(key_file)) == 1
    await assert_all_readable(store)


async def test_undecryptable_row_stops_rotation_without_changes(
    store: CredentialStore, database: Database, key_file: Path
) -> None:
    await fill(store)
    stranger = Fernet.generate_key()
    foreign = CredentialStore(database, keys=KeyConfig(encryption_key=stranger.decode()))
    await foreign.set("mystery", "sk-stranger-0123456789abcd")
    before = stored_fingerprints(database)
    with pytest.raises(CredentialError) as info:
        await store.rotate()
    message = str(info.value)
    assert "mystery/default" in message and fingerprint(stranger) in message
    assert "nothing was changed" in message and "sk-stranger" not in message
    assert stored_fingerprints(database) == before
    await assert_all_readable(store)  # the key file still opens every row it opened before


async def test_env_key_rotation_new_comma_old(database: Database) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    await fill(CredentialStore(database, keys=KeyConfig(encryption_key=old)))
    report = await CredentialStore(database, keys=KeyConfig(encryption_key=f"{new},{old}")).rotate()
    assert report.rotated == len(CREDENTIALS)
    assert "remove the others" in report.note
    assert stored_fingerprints(database) == {fingerprint(new.encode())}
    await assert_all_readable(CredentialStore(database, keys=KeyConfig(encryption_key=new)))


async def test_env_single_key_rotation_explains_what_to_do(database: Database) -> None:
    key = Fernet.generate_key().decode()
    store = CredentialStore(database, keys=KeyConfig(encryption_key=key))
    await fill(store)
    report = await store.rotate()
    assert report.rotated == 0 and "NEW,OLD" in report.note
    await assert_all_readable(store)


async def test_rotation_sweeps_rows_written_with_a_stale_keyring(
    store: CredentialStore, database: Database, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process still holding the old key writes a row mid-rotation; the sweep catches it."""
    await fill(store)
    (old_key,) = key_file_keys(key_file)
    stale = CredentialStore(database, keys=KeyConfig(encryption_key=old_key.decode()))
    real = CredentialStore._reencrypt_stale
    injected = False

    def reencrypt_then_interfere(self: CredentialStore, ring: keys_module.Keyring) -> int:
        nonlocal injected
        count = real(self, ring)
        if not injected:
            injected = True
            import anyio.from_thread

            anyio.from_thread.run(lambda: stale.set("late", "sk-late-writer-0123456789"))
        return count

    monkeypatch.setattr(CredentialStore, "_reencrypt_stale", reencrypt_then_interfere)
    await store.rotate()
    monkeypatch.undo()
    (final,) = key_file_keys(key_file)
    assert stored_fingerprints(database) == {fingerprint(final)}
    assert await store.get("late") == SecretStr("sk-late-writer-0123456789")
    await assert_all_readable(store)


async def test_concurrent_rotation_is_refused(store: CredentialStore, key_file: Path) -> None:
    await fill(store)
    with keys_module.key_file_lock(key_file), pytest.raises(CredentialError, match="another"):
        await store.rotate()
    await assert_all_readable(store)
