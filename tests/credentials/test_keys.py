"""Where the encryption key comes from: env, key file (created 0600), clear errors."""

from __future__ import annotations

import logging
import os
import stat
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from hypothesis import given
from hypothesis import strategies as st

from ai_core.credentials.keys import KeyConfig, Keyring, fingerprint, load_keyring, write_key_file
from ai_core.errors import CredentialError

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_no_key_anywhere_reads_as_none_and_creates_nothing(keys: KeyConfig, key_file: Path) -> None:
    assert load_keyring(keys, create=False) is None
    assert not key_file.exists()


@posix_only
def test_missing_key_file_is_created_private(keys: KeyConfig, key_file: Path) -> None:
    ring = load_keyring(keys, create=True)
    assert ring is not None
    assert key_file.is_file()
    assert _mode(key_file) == 0o600
    assert _mode(key_file.parent) == 0o700
    # The same key comes back on the next load, and no temporary file is left behind.
    again = load_keyring(keys)
    assert again is not None and again.primary_fingerprint == ring.primary_fingerprint
    assert sorted(p.name for p in key_file.parent.iterdir()) == ["encryption.key"]


@posix_only
def test_created_file_is_0600_even_with_a_permissive_umask(keys: KeyConfig, key_file: Path) -> None:
    old = os.umask(0)
    try:
        load_keyring(keys, create=True)
    finally:
        os.umask(old)
    assert _mode(key_file) == 0o600


def test_existing_key_file_is_not_replaced_by_create(keys: KeyConfig, key_file: Path) -> None:
    key = Fernet.generate_key()
    write_key_file(key_file, [key])
    ring = load_keyring(keys, create=True)
    assert ring is not None and ring.primary_fingerprint == fingerprint(key)


def test_data_dir_default_location(tmp_path: Path) -> None:
    config = KeyConfig(data_dir=tmp_path / "d")
    assert config.key_file_path == tmp_path / "d" / "encryption.key"
    ring = load_keyring(config, create=True)
    assert ring is not None and (tmp_path / "d" / "encryption.key").exists()


def test_env_key_wins_over_key_file(key_file: Path) -> None:
    write_key_file(key_file, [Fernet.generate_key()])
    env_key = Fernet.generate_key()
    ring = load_keyring(KeyConfig(encryption_key=env_key.decode(), key_file=key_file))
    assert ring is not None
    assert ring.primary_fingerprint == fingerprint(env_key)
    assert ring.source == "AI_ENCRYPTION_KEY"


def test_env_key_list_keeps_old_keys_readable() -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    token = Fernet(old).encrypt(b"secret-value").decode()
    ring = load_keyring(KeyConfig(encryption_key=f"{new.decode()}, {old.decode()}"))
    assert ring is not None
    assert ring.primary_fingerprint == fingerprint(new)
    assert ring.retired_fingerprints == [fingerprint(old)]
    assert ring.decrypt(token, what="x") == "secret-value"


@pytest.mark.parametrize("value", ["", "   ", ","])
def test_empty_env_key_is_an_error_not_a_silent_empty_key(value: str) -> None:
    with pytest.raises(CredentialError, match="AI_ENCRYPTION_KEY"):
        load_keyring(KeyConfig(encryption_key=value))


@pytest.mark.parametrize("bad", ["not-a-key", "c2hvcnQ=", "x" * 44, "é" * 44])
def test_malformed_env_key_is_a_clear_error_without_the_key(bad: str) -> None:
    with pytest.raises(CredentialError) as info:
        load_keyring(KeyConfig(encryption_key=bad))
    message = str(info.value)
    assert "AI_ENCRYPTION_KEY" in message and "not a valid Fernet key" in message
    assert bad not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_empty_key_file_is_an_error(keys: KeyConfig, key_file: Path) -> None:
    key_file.parent.mkdir(parents=True)
    key_file.write_text("# only a comment\n\n")
    with pytest.raises(CredentialError, match="is empty"):
        load_keyring(keys)


def test_garbage_key_file_is_an_error(keys: KeyConfig, key_file: Path) -> None:
    key_file.parent.mkdir(parents=True)
    key_file.write_bytes(b"\x00\xffgarbage\n")
    with pytest.raises(CredentialError, match="not a valid Fernet key"):
        load_keyring(keys)


def test_wrong_key_names_both_fingerprints() -> None:
    right, wrong = Fernet.generate_key(), Fernet.generate_key()
    token = Fernet(right).encrypt(b"abc").decode()
    ring = Keyring([wrong], source="AI_ENCRYPTION_KEY")
    with pytest.raises(CredentialError) as info:
        ring.decrypt(token, what="openai/default", stored_fingerprint=fingerprint(right))
    message = str(info.value)
    assert fingerprint(right) in message and fingerprint(wrong) in message
    assert "openai/default" in message and "AI_ENCRYPTION_KEY" in message
    assert info.value.__cause__ is None


def test_damaged_token_is_a_credential_error() -> None:
    ring = Keyring([Fernet.generate_key()], source="test")
    with pytest.raises(CredentialError, match="damaged"):
        ring.decrypt("not a token", what="p/a")


def test_keyring_repr_has_no_key_material() -> None:
    key = Fernet.generate_key()
    ring = Keyring([key, Fernet.generate_key()], source="test")
    assert key.decode() not in repr(ring)
    assert fingerprint(key) in repr(ring)
    assert key.decode() not in repr(KeyConfig(encryption_key=key.decode()))


@posix_only
def test_write_key_file_is_atomic_and_private(key_file: Path) -> None:
    first, second = Fernet.generate_key(), Fernet.generate_key()
    write_key_file(key_file, [first])
    write_key_file(key_file, [second, first])
    assert _mode(key_file) == 0o600
    ring = load_keyring(KeyConfig(key_file=key_file))
    assert ring is not None and ring.keys == (second, first)
    assert sorted(p.name for p in key_file.parent.iterdir()) == ["encryption.key"]


def test_write_key_file_refuses_invalid_keys(key_file: Path) -> None:
    with pytest.raises(ValueError):
        write_key_file(key_file, [b"nope"])
    assert not key_file.exists()


@posix_only
def test_world_readable_key_file_is_warned_about(
    keys: KeyConfig, key_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = Fernet.generate_key()
    write_key_file(key_file, [key])
    key_file.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="ai_core"):
        assert load_keyring(keys) is not None
    assert "permissions_too_open" in caplog.text
    assert key.decode() not in caplog.text


@given(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1))
def test_any_text_round_trips_through_a_keyring(secret: str) -> None:
    ring = Keyring([Fernet.generate_key()], source="test")
    token = ring.encrypt(secret)
    assert secret not in token or len(secret) < 4
    assert ring.decrypt(token, what="p/a") == secret


def test_package_exports_resolve_lazily() -> None:
    import ai_core.credentials as credentials
    from ai_core.credentials.store import lookup_api_key

    assert credentials.lookup_api_key is lookup_api_key
    assert sorted(credentials.__all__) == sorted(n for n in credentials.__all__ if getattr(credentials, n))
    with pytest.raises(AttributeError):
        _ = credentials.nothing_here
