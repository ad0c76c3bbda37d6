"""CredentialStore: round trips, account resolution, masking, audit rows, no plaintext anywhere."""

from __future__ import annotations

import logging
from pathlib import Path

import anyio
import pytest
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ai_core.credentials.keys import KeyConfig, fingerprint, write_key_file
from ai_core.credentials.store import CredentialStore, lookup_api_key, mask
from ai_core.credentials.tables import Account, AuditLogEntry
from ai_core.errors import ConfigurationError, CredentialError
from ai_core.storage.database import Database

pytestmark = pytest.mark.anyio

SECRET = "sk-test-PLAINTEXT-4f1c9a7be2d04c6f8a3e"


def audit_rows(database: Database) -> list[AuditLogEntry]:
    with Session(database.engine) as session:
        return list(session.scalars(select(AuditLogEntry).order_by(AuditLogEntry.id)))


def account_rows(database: Database) -> list[Account]:
    with Session(database.engine) as session:
        return list(session.scalars(select(Account).order_by(Account.id)))


async def test_round_trip(store: CredentialStore) -> None:
    info = await store.set("openai", SECRET)
    assert (info.provider, info.account, info.tenant) == ("openai", "default", None)
    assert info.hint == "****" + SECRET[-4:]
    value = await store.get("openai")
    assert isinstance(value, SecretStr)
    assert value.get_secret_value() == SECRET
    assert SECRET not in repr(value) and SECRET not in str(value)


async def test_set_accepts_secretstr_and_replaces(store: CredentialStore, database: Database) -> None:
    await store.set("openai", SecretStr("sk-first-aaaaaaaaaaaa"), label="first")
    await store.set("openai", "sk-second-bbbbbbbbbbbb")
    assert (await store.get("openai")) == SecretStr("sk-second-bbbbbbbbbbbb")
    rows = account_rows(database)
    assert len(rows) == 1 and rows[0].label == "first"


async def test_missing_returns_none_and_creates_no_key_file(store: CredentialStore, key_file: Path) -> None:
    assert await store.get("openai") is None
    assert not key_file.exists()


async def test_accounts_and_tenants_resolve(store: CredentialStore) -> None:
    await store.set("openai", "sk-work-111111111111", account="work")
    # The only account is used when none is named.
    assert (await store.get("openai")) == SecretStr("sk-work-111111111111")
    await store.set("openai", "sk-home-222222222222", account="home")
    # Two accounts, none called default: ambiguous, so nothing is guessed.
    assert await store.get("openai") is None
    await store.set("openai", "sk-default-33333333333")
    assert (await store.get("openai")) == SecretStr("sk-default-33333333333")
    assert (await store.get("openai", account="home")) == SecretStr("sk-home-222222222222")
    # A tenant's own key wins; a tenant without one falls back to the shared key.
    await store.set("openai", "sk-acme-444444444444", tenant="acme")
    assert (await store.get("openai", tenant="acme")) == SecretStr("sk-acme-444444444444")
    assert (await store.get("openai", tenant="globex")) == SecretStr("sk-default-33333333333")
    assert await store.get("gemini", tenant="acme") is None


async def test_list_is_masked(store: CredentialStore) -> None:
    await store.set("openai", SECRET, label="prod")
    await store.set("xai", "short-key", tenant="acme")
    infos = await store.list()
    assert [(i.provider, i.tenant) for i in infos] == [("openai", None), ("xai", "acme")]
    assert infos[0].hint.endswith(SECRET[-4:]) and infos[1].hint == "****"
    assert SECRET not in repr(infos) and "short-key" not in repr(infos)
    assert [i.provider for i in await store.list(provider="xai")] == ["xai"]
    assert [i.provider for i in await store.list(tenant="acme")] == ["xai"]


def test_mask_hides_short_secrets() -> None:
    assert mask("abcdefgh") == "****"
    assert mask("abcdefghijkl") == "****ijkl"


async def test_delete(store: CredentialStore, database: Database) -> None:
    await store.set("openai", SECRET)
    assert await store.delete("openai") is True
    assert await store.delete("openai") is False
    assert await store.get("openai") is None
    assert account_rows(database) == []
    # The audit trail outlives the account it describes.
    actions = [(r.action, r.outcome) for r in audit_rows(database)]
    assert ("delete", "ok") in actions and ("delete", "missing") in actions


@pytest.mark.parametrize(
    ("provider", "account", "tenant"),
    [
        ("", None, None),
        ("open ai", None, None),
        ("openai", "", None),
        ("openai", None, "a" * 129),
        ("x" * 65, None, None),
    ],
)
async def test_bad_names_are_configuration_errors(
    store: CredentialStore, provider: str, account: str | None, tenant: str | None
) -> None:
    with pytest.raises(ConfigurationError, match="invalid"):
        await store.set(provider, SECRET, account=account, tenant=tenant)


@pytest.mark.parametrize("secret", ["", "   ", " sk-padded-123456789 ", SecretStr("")])
async def test_empty_or_padded_secret_is_refused(store: CredentialStore, secret: str | SecretStr) -> None:
    with pytest.raises(ConfigurationError) as info:
        await store.set("openai", secret)
    assert "sk-padded" not in str(info.value)


async def test_every_read_is_audited(store: CredentialStore, database: Database) -> None:
    await store.set("openai", SECRET, account="work", tenant="acme")
    for _ in range(3):
        await store.get("openai", account="work", tenant="acme")
    await store.get("gemini")
    reads = [r for r in audit_rows(database) if r.action == "read"]
    assert len(reads) == 4
    ok = [r for r in reads if r.outcome == "ok"]
    assert len(ok) == 3
    account_id = account_rows(database)[0].id
    for row in ok:
        assert (row.actor, row.account_id, row.provider, row.account_name, row.tenant) == (
            "tester",
            account_id,
            "openai",
            "work",
            "acme",
        )
        assert row.occurred_at is not None
    missing = reads[-1]
    assert (missing.outcome, missing.provider, missing.account_id) == ("missing", "gemini", None)
    assert account_rows(database)[0].last_used_at is not None


async def test_actor_defaults_to_env_then_os_user(
    database: Database, keys: KeyConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AI_ACTOR", "ci-bot")
    await CredentialStore(database, keys=keys).get("openai")
    monkeypatch.delenv("AI_ACTOR")
    await CredentialStore(database, keys=keys).get("openai")
    actors = [r.actor for r in audit_rows(database)]
    assert actors[0] == "ci-bot" and actors[1] and actors[1] != "ci-bot"


async def test_wrong_key_is_a_clear_error_and_audited(database: Database, key_file: Path, tmp_path: Path) -> None:
    await CredentialStore(database, keys=KeyConfig(key_file=key_file), actor="t").set("openai", SECRET)
    other = tmp_path / "other.key"
    write_key_file(other, [Fernet.generate_key()])
    wrong = CredentialStore(database, keys=KeyConfig(key_file=other), actor="t")
    with pytest.raises(CredentialError) as info:
        await wrong.get("openai")
    message = str(info.value)
    assert "cannot decrypt the stored credential for openai/default" in message
    assert str(other) in message and SECRET not in message
    assert info.value.__cause__ is None
    last = audit_rows(database)[-1]
    assert (last.action, last.outcome, last.provider) == ("read", "error", "openai")


async def test_missing_key_with_stored_rows_is_a_clear_error(
    database: Database, key_file: Path, tmp_path: Path
) -> None:
    await CredentialStore(database, keys=KeyConfig(key_file=key_file)).set("openai", SECRET)
    lost = CredentialStore(database, keys=KeyConfig(key_file=tmp_path / "gone.key"))
    with pytest.raises(CredentialError, match="no encryption key"):
        await lost.get("openai")
    assert not (tmp_path / "gone.key").exists()


async def test_env_key_is_used(database: Database, key_file: Path) -> None:
    key = Fernet.generate_key().decode()
    store = CredentialStore(database, keys=KeyConfig(encryption_key=key, key_file=key_file))
    info = await store.set("openai", SECRET)
    assert info.key_fingerprint == fingerprint(key.encode())
    assert not key_file.exists()
    assert (await store.get("openai")) == SecretStr(SECRET)


async def test_lookup_api_key(database: Database, keys: KeyConfig) -> None:
    assert await lookup_api_key(database, "openai", keys=keys) is None
    await CredentialStore(database, keys=keys).set("openai", SECRET, tenant="acme")
    found = await lookup_api_key(database, "openai", tenant="acme", keys=keys, actor="manager")
    assert found == SecretStr(SECRET)
    assert audit_rows(database)[-1].actor == "manager"


async def test_lookup_api_key_reads_the_environment(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AI_ENCRYPTION_KEY", Fernet.generate_key().decode())
    await CredentialStore(database).set("xai", SECRET)
    assert await lookup_api_key(database, "xai") == SecretStr(SECRET)


async def test_no_plaintext_in_database_logs_or_reprs(
    store: CredentialStore, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    secrets = [SECRET, "gemini-AIzaSyPLAINTEXT0123456789abcdef", "ollama-plain-text-token-xyz"]
    with caplog.at_level(logging.DEBUG):
        for n, secret in enumerate(secrets):
            await store.set(f"p{n}", secret, account="a", tenant="t")
            assert (await store.get(f"p{n}", account="a", tenant="t")) == SecretStr(secret)
        infos = await store.list()
        await store.rotate()
        for n, secret in enumerate(secrets):
            assert (await store.get(f"p{n}", account="a", tenant="t")) == SecretStr(secret)
    # Every column of every credential and audit row, as the database returns it.
    with database.read() as conn:
        cells = [
            str(value)
            for table in ("ai_accounts", "ai_audit_log")
            for row in conn.execute(text(f"SELECT * FROM {table}"))
            for value in row
        ]
    assert len(cells) > 20
    text_seen = caplog.text + repr(infos) + repr(store) + repr(account_rows(database)) + "\n".join(cells)
    assert "credential.set" in caplog.text  # the logs did capture the store's events
    blobs = b""
    if database.is_sqlite:
        database.engine.dispose()  # checkpoint and close, so every byte is in the files
        db_file = Path(database.url.database)
        blobs = b"".join(p.read_bytes() for p in db_file.parent.iterdir() if p.name.startswith(db_file.name))
        assert b"ai_accounts" in blobs
    for secret in secrets:
        # Not even a fragment: no 8-character window of the secret appears anywhere.
        windows = {secret[i : i + 8] for i in range(len(secret) - 7)}
        assert not [w for w in windows if w in text_seen]
        assert not [w for w in windows if w.encode() in blobs]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    secret=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=200).map(str.strip).filter(bool)
)
def test_arbitrary_secrets_round_trip(store: CredentialStore, anyio_backend: str, secret: str) -> None:
    async def round_trip() -> SecretStr | None:
        info = await store.set("prop", secret)
        if len(secret) >= 12:  # shorter strings can occur in any repr by chance ("0", "prop")
            assert secret not in repr(info)
        return await store.get("prop")

    assert anyio.run(round_trip, backend=anyio_backend) == SecretStr(secret)


async def test_concurrent_writers_and_readers(store: CredentialStore, database: Database) -> None:
    """Many tasks storing the same new account at once end with one row, readable, fully audited."""
    secrets = [f"sk-concurrent-{n:04d}-abcdefghijkl" for n in range(12)]
    async with anyio.create_task_group() as tg:
        for secret in secrets:
            tg.start_soon(lambda s=secret: store.set("race", s))
            tg.start_soon(lambda s=secret: store.set("other", s, account=s[-17:-13]))
    rows = account_rows(database)
    assert len([r for r in rows if r.provider == "race"]) == 1
    assert len([r for r in rows if r.provider == "other"]) == len(secrets)
    assert (await store.get("race")).get_secret_value() in secrets  # type: ignore[union-attr]
    results: list[SecretStr | None] = []

    async def read() -> None:
        results.append(await store.get("other", account="0003"))

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(read)
    assert results == [SecretStr(secrets[3])] * 10
    reads = [r for r in audit_rows(database) if r.action == "read" and r.provider == "other"]
    assert len(reads) == 10


def test_mask_never_keeps_unprintable_characters() -> None:
    # Found by hypothesis on PostgreSQL: a NUL in the hint made the INSERT fail.
    from ai_core.credentials.store import mask

    assert mask("sk-abcdefghij\x00xyz") == mask("short")
    assert mask("sk-abcdefghijwxyz").endswith("wxyz")
