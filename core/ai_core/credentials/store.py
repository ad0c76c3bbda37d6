"""CredentialStore: provider API keys encrypted at rest in ``ai_accounts``, every access audited.

All work is synchronous SQLAlchemy run in a worker thread through
``Database.run``, because ai-core serves asyncio and trio alike and the async
SQLAlchemy drivers are asyncio-only. Each operation is one transaction, and its
audit row is part of it, so an access is recorded exactly when it happened.

A failed read (wrong key) is audited in its own transaction before the
:class:`~ai_core.errors.CredentialError` is raised, so failures leave a trail too.

Key rotation (:meth:`CredentialStore.rotate`, and its crash-safe steps) lives in
:mod:`ai_core.credentials.rotation`; :class:`RotationReport` is re-exported here.
"""

from __future__ import annotations

import builtins
import getpass
import os
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pydantic import SecretStr
from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ai_core.credentials.keys import KeyConfig, Keyring, load_keyring, write_key_file
from ai_core.credentials.tables import DEFAULT_ACCOUNT, NO_TENANT, Account, AuditLogEntry
from ai_core.errors import ConfigurationError, CredentialError
from ai_core.logging import get_logger
from ai_core.redaction import remember_secret
from ai_core.storage.columns import as_utc

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from ai_core.credentials.rotation import RotationReport

__all__ = ["AccountInfo", "CredentialStore", "RotationReport", "lookup_api_key", "mask"]

T = TypeVar("T")
_log = get_logger(__name__)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@/-]*$")
_MASK = "****"


class DatabaseLike(Protocol):
    """What the store needs from :class:`ai_core.storage.Database`."""

    @property
    def engine(self) -> Engine: ...

    async def run(self, fn: Callable[..., T], *args: Any) -> T: ...

    def write(self) -> AbstractContextManager[Connection]: ...

    def read(self) -> AbstractContextManager[Connection]: ...


def mask(secret: str) -> str:
    """The readable trace of a secret kept in ``hint``: its last 4 characters, only if long.

    Under 12 characters, 4 of them would give away too much of the secret, so
    the hint is the mask alone; so it is when the tail is not printable (a NUL
    byte cannot even be stored in a PostgreSQL text column).
    """
    tail = secret[-4:]
    return _MASK + tail if len(secret) >= 12 and tail.isprintable() else _MASK


def _now() -> datetime:
    return datetime.now(UTC)


def default_actor() -> str:
    """Who the audit log names: ``AI_ACTOR`` when set, else the OS user."""
    configured = os.environ.get("AI_ACTOR", "").strip()
    if configured:
        return configured
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers) and no LOGNAME/USER
        return f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def _check_name(kind: str, value: str, limit: int) -> str:
    if not value or len(value) > limit or not _NAME.match(value):
        raise ConfigurationError(
            f"invalid {kind} {value!r}: use 1-{limit} letters, digits or _ . : @ / -, starting with a letter or digit"
        )
    return value


@dataclass(frozen=True)
class AccountInfo:
    """A stored account as it may be shown: everything except the secret."""

    id: int
    provider: str
    account: str
    tenant: str | None
    label: str | None
    hint: str
    key_fingerprint: str
    key_version: int
    active: bool
    created_at: datetime
    updated_at: datetime
    last_used_at: datetime | None

    @classmethod
    def of(cls, row: Account) -> AccountInfo:
        return cls(
            id=row.id,
            provider=row.provider,
            account=row.name,
            tenant=row.tenant or None,
            label=row.label,
            hint=row.hint,
            key_fingerprint=row.key_fingerprint,
            key_version=row.key_version,
            active=row.active,
            created_at=as_utc(row.created_at) or row.created_at,
            updated_at=as_utc(row.updated_at) or row.updated_at,
            last_used_at=as_utc(row.last_used_at),
        )


class CredentialStore:
    """Set, read, list, delete and rotate encrypted provider credentials.

    ``keys`` says where the encryption key lives (default: the environment,
    read as :class:`ai_core.config.Settings` reads it); ``actor`` is who the
    audit log names (default ``AI_ACTOR`` or the OS user).
    """

    def __init__(self, database: DatabaseLike, *, keys: KeyConfig | None = None, actor: str | None = None) -> None:
        self._database = database
        self._keys = keys if keys is not None else KeyConfig.from_env()
        self._actor = actor or default_actor()

    def __repr__(self) -> str:
        return f"CredentialStore(keys={self._keys.describe()!r}, actor={self._actor!r})"

    # -- public API (async; each call is one worker-thread transaction) ---------

    async def set(
        self,
        provider: str,
        secret: str | SecretStr,
        *,
        account: str | None = None,
        tenant: str | None = None,
        label: str | None = None,
    ) -> AccountInfo:
        """Store (or replace) the credential of one account; creates the key file if none exists."""
        plaintext = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        if not plaintext or not plaintext.strip():
            raise ConfigurationError(f"refusing to store an empty credential for {provider!r}")
        if plaintext != plaintext.strip():
            raise ConfigurationError(
                f"the credential for {provider!r} starts or ends with whitespace; strip it before storing"
            )
        remember_secret(plaintext)
        key = self._key(provider, account, tenant)
        if label is not None and len(label) > 255:
            raise ConfigurationError("label must be at most 255 characters")
        return await self._database.run(self._set_sync, key, plaintext, label)

    async def get(self, provider: str, *, account: str | None = None, tenant: str | None = None) -> SecretStr | None:
        """The active credential for ``provider``, or None; audited either way.

        ``account=None`` means the account named ``default``, or the only
        active account when there is exactly one. A ``tenant`` with no account
        of its own falls back to the shared (tenant-less) one.
        """
        _check_name("provider", provider, 64)
        if account is not None:
            _check_name("account", account, 128)
        if tenant is not None:
            _check_name("tenant", tenant, 128)
        return await self._database.run(self._get_sync, provider, account, tenant)

    async def list(self, *, provider: str | None = None, tenant: str | None = None) -> builtins.list[AccountInfo]:
        """Every stored account, masked (no secret, no token), ordered by provider, tenant, account."""
        return await self._database.run(self._list_sync, provider, tenant)

    async def delete(self, provider: str, *, account: str | None = None, tenant: str | None = None) -> bool:
        """Remove one account; True if it existed. The audit trail keeps its history."""
        return await self._database.run(self._delete_sync, self._key(provider, account, tenant))

    async def rotate(self) -> RotationReport:
        """Re-encrypt every stored credential under a new key; see :mod:`ai_core.credentials.rotation`."""
        from ai_core.credentials.rotation import rotate_keys

        # write_key_file as this module sees it when the rotation runs, so a test can fail a key-file write.
        return await self._database.run(lambda: rotate_keys(self, write_key_file=write_key_file))

    async def key_fingerprints(self) -> frozenset[str] | None:
        """Fingerprints of the keys this store can decrypt with; None when no key exists yet.

        Lets ``ai keys list`` flag rows the current key cannot open, before a
        read fails. Raises CredentialError for a malformed key, like any use would.
        """
        ring = await self._database.run(load_keyring, self._keys)
        return ring.fingerprints if ring is not None else None

    # -- helpers ----------------------------------------------------------------

    @staticmethod
    def _key(provider: str, account: str | None, tenant: str | None) -> tuple[str, str, str]:
        return (
            _check_name("provider", provider, 64),
            _check_name("account", account, 128) if account is not None else DEFAULT_ACCOUNT,
            _check_name("tenant", tenant, 128) if tenant is not None else NO_TENANT,
        )

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        """An ORM session inside one ``Database.write()`` transaction (BEGIN IMMEDIATE on SQLite).

        The session joins the database's transaction and only flushes; the
        transaction commits when the block ends and rolls back if it raises.
        """
        with self._database.write() as connection:
            session = Session(bind=connection, expire_on_commit=False)
            try:
                yield session
                session.flush()
            finally:
                session.close()

    @contextmanager
    def _reading(self) -> Iterator[Session]:
        with self._database.read() as connection:
            session = Session(bind=connection, expire_on_commit=False)
            try:
                yield session
            finally:
                session.close()

    def _audit(self, session: Session, action: str, row: Account | None = None, **fields: Any) -> AuditLogEntry:
        values: dict[str, Any] = {"actor": self._actor, "action": action}
        if row is not None:
            values.update(account_id=row.id, provider=row.provider, account_name=row.name, tenant=row.tenant)
        values.update(fields)
        entry = AuditLogEntry(**values)
        session.add(entry)
        return entry

    def _keyring(self, *, create: bool, stored: int = 1) -> Keyring:
        ring = load_keyring(self._keys, create=create)
        if ring is None:
            raise CredentialError(
                f"no encryption key: AI_ENCRYPTION_KEY is unset and {self._keys.describe()} does not exist, "
                f"so the {stored} stored credential(s) cannot be read. Restore the key file or set AI_ENCRYPTION_KEY."
            )
        return ring

    # -- sync bodies (run in a worker thread) ----------------------------------

    def _set_sync(self, key: tuple[str, str, str], plaintext: str, label: str | None) -> AccountInfo:
        provider, name, tenant = key
        ring = self._keyring(create=True)
        token = ring.encrypt(plaintext)
        for attempt in range(2):
            try:
                with self._writing() as session:
                    # SQLite serialises writers (BEGIN IMMEDIATE); on PostgreSQL two
                    # first-time inserts can race, and the loser retries as an update.
                    audit = self._audit(session, "set", provider=provider, account_name=name, tenant=tenant)
                    row = session.scalars(_exact(provider, name, tenant)).one_or_none()
                    if row is None:
                        row = Account(provider=provider, name=name, tenant=tenant, key_version=1)
                        session.add(row)
                    row.encrypted_credential = token
                    row.key_fingerprint = ring.primary_fingerprint
                    row.hint = mask(plaintext)
                    row.active = True
                    row.updated_at = _now()
                    if label is not None:
                        row.label = label
                    session.flush()
                    audit.account_id = row.id
                    info = AccountInfo.of(row)
                break
            except IntegrityError:
                if attempt:  # a concurrent writer inserted the same account twice in a row
                    raise CredentialError(
                        f"could not store the credential for {provider}/{name}: concurrent writes"
                    ) from None
        _log.info("credential.set", provider=provider, account=name, tenant=tenant or None, hint=info.hint)
        return info

    def _find(self, session: Session, provider: str, account: str | None, tenant: str | None) -> Account | None:
        for candidate_tenant in [tenant, NO_TENANT] if tenant else [NO_TENANT]:
            query = select(Account).where(
                Account.provider == provider, Account.tenant == candidate_tenant, Account.active.is_(True)
            )
            if account is not None:
                row = session.scalars(query.where(Account.name == account)).one_or_none()
            else:
                rows = session.scalars(query).all()
                row = next((r for r in rows if r.name == DEFAULT_ACCOUNT), rows[0] if len(rows) == 1 else None)
            if row is not None:
                return row
        return None

    def _get_sync(self, provider: str, account: str | None, tenant: str | None) -> SecretStr | None:
        failure: CredentialError | None = None
        with self._writing() as session:
            row = self._find(session, provider, account, tenant)
            if row is None:
                self._audit(session, "read", provider=provider, account_name=account, tenant=tenant, outcome="missing")
                return None
            try:
                ring = self._keyring(create=False)
                plaintext = ring.decrypt(
                    row.encrypted_credential, what=_describe(row), stored_fingerprint=row.key_fingerprint
                )
            except CredentialError as exc:
                failure = exc
            else:
                row.last_used_at = _now()
                self._audit(session, "read", row)
        if failure is not None:
            # The read is audited even though it failed; its own transaction, then the clear error.
            with self._writing() as session:
                self._audit(session, "read", row, outcome="error", detail=f"undecryptable (key {row.key_fingerprint})")
            _log.warning("credential.read_failed", provider=row.provider, account=row.name, tenant=row.tenant or None)
            raise failure
        remember_secret(plaintext)
        _log.debug("credential.read", provider=row.provider, account=row.name, tenant=row.tenant or None)
        return SecretStr(plaintext)

    def _list_sync(self, provider: str | None, tenant: str | None) -> builtins.list[AccountInfo]:
        with self._writing() as session:
            query = select(Account).order_by(Account.provider, Account.tenant, Account.name)
            if provider is not None:
                query = query.where(Account.provider == provider)
            if tenant is not None:
                query = query.where(Account.tenant == tenant)
            infos = [AccountInfo.of(r) for r in session.scalars(query)]
            self._audit(session, "list", provider=provider, tenant=tenant, detail=f"{len(infos)} account(s)")
        return infos

    def _delete_sync(self, key: tuple[str, str, str]) -> bool:
        provider, name, tenant = key
        with self._writing() as session:
            row = session.scalars(_exact(provider, name, tenant)).one_or_none()
            if row is None:
                self._audit(session, "delete", provider=provider, account_name=name, tenant=tenant, outcome="missing")
                return False
            self._audit(session, "delete", row)
            session.delete(row)
        _log.info("credential.deleted", provider=provider, account=name, tenant=tenant or None)
        return True

    def _reencrypt_stale(self, ring: Keyring) -> int:
        """One rotation pass (one transaction); a method, so a subclass or test can step in between passes."""
        from ai_core.credentials.rotation import reencrypt_stale

        return reencrypt_stale(self, ring)


def _exact(provider: str, name: str, tenant: str) -> Select[Account]:
    return select(Account).where(Account.provider == provider, Account.name == name, Account.tenant == tenant)


def _describe(row: Account) -> str:
    return f"{row.provider}/{row.name}" + (f" (tenant {row.tenant})" if row.tenant else "")


async def lookup_api_key(
    database: DatabaseLike,
    provider: str,
    account: str | None = None,
    tenant: str | None = None,
    *,
    keys: KeyConfig | None = None,
    actor: str | None = None,
) -> SecretStr | None:
    """The stored API key for ``provider``, or None when none is stored; audited.

    What the provider manager calls when neither run-time overrides nor the
    environment give a key. A stored key that cannot be decrypted raises
    :class:`~ai_core.errors.CredentialError` rather than looking absent.
    """
    return await CredentialStore(database, keys=keys, actor=actor).get(provider, account=account, tenant=tenant)


def __getattr__(name: str) -> Any:
    # RotationReport lives in ai_core.credentials.rotation, which imports this module.
    if name == "RotationReport":
        from ai_core.credentials.rotation import RotationReport

        return RotationReport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
