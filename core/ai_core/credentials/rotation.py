"""Key rotation for :class:`~ai_core.credentials.store.CredentialStore`: re-encrypt every row under a new key.

Rotation (:meth:`CredentialStore.rotate`) with a key file goes through states
that are each readable after a crash:

1. the key file is atomically rewritten as ``NEW`` followed by every old key;
2. every row is re-encrypted under ``NEW`` in one transaction;
3. rows some other process wrote meanwhile with an old key are swept up;
4. the key file is rewritten as ``NEW`` alone.

A crash before 2 commits leaves old tokens that old keys still open; a crash
after leaves new tokens and a few unused old keys, which the next rotation
drops. With ``AI_ENCRYPTION_KEY`` the environment cannot be rewritten, so the
operator sets ``NEW,OLD``, runs the rotation (steps 2 and 3), then removes ``OLD``.

Kept apart from the store because it is the one multi-step, crash-sensitive
operation; it works through the store's own transaction and audit helpers, so
every row it touches is audited like any other write. Like the store's other
sync bodies, these functions run in a worker thread through ``Database.run``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from ai_core.credentials.keys import Keyring, generate_key, key_file_lock, load_keyring
from ai_core.credentials.store import _describe, _log, _now
from ai_core.credentials.tables import Account
from ai_core.errors import CredentialError

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from ai_core.credentials.store import CredentialStore

__all__ = ["RotationReport", "reencrypt_stale", "rotate_keys"]


@dataclass(frozen=True)
class RotationReport:
    """What a rotation did, for the CLI and for callers to log."""

    rotated: int
    """Rows re-encrypted under the new primary key."""
    primary_fingerprint: str
    dropped_fingerprints: tuple[str, ...]
    """Old keys removed from the key file (empty for an environment key)."""
    source: str
    note: str = ""


def rotate_keys(
    store: CredentialStore, *, write_key_file: Callable[[Path, list[bytes] | tuple[bytes, ...]], None]
) -> RotationReport:
    """Rotate ``store``'s key and re-encrypt every row under it (steps 1-4 above).

    ``write_key_file`` rewrites the key file; the store passes
    :func:`ai_core.credentials.keys.write_key_file` as its module sees it, so a
    test can make step 1 or step 4 fail there.
    """
    keys = store._keys
    if keys.from_environment_key:
        ring = store._keyring(create=False)
        rotated = _sweep(store, ring)
        note = (
            "AI_ENCRYPTION_KEY holds a single key, so there was nothing to rotate to: set it to "
            "'NEW,OLD' (make NEW with `ai keys generate-key`), rotate, then remove OLD."
            if not ring.retired_fingerprints
            else "every credential is under the first key of AI_ENCRYPTION_KEY: remove the others from it now."
        )
        _log.info("credential.rotated", rotated=rotated, primary=ring.primary_fingerprint, source=ring.source)
        return RotationReport(rotated, ring.primary_fingerprint, (), ring.source, note)

    path = keys.key_file_path
    with key_file_lock(path):
        current = load_keyring(keys, create=False)
        if current is None:
            stored = _count(store)
            if stored:
                store._keyring(create=False, stored=stored)  # raises the "no key" error
            ring = store._keyring(create=True)
            return RotationReport(0, ring.primary_fingerprint, (), ring.source, "no credentials stored yet")
        new_key = generate_key()
        staged = current.with_primary(new_key)
        write_key_file(path, staged.keys)  # 1: NEW first, every old key still readable
        rotated = _sweep(store, staged)  # 2 + 3
        write_key_file(path, [new_key])  # 4: only NEW remains
        dropped = (current.primary_fingerprint, *current.retired_fingerprints)
    _log.info("credential.rotated", rotated=rotated, primary=staged.primary_fingerprint, source=staged.source)
    return RotationReport(rotated, staged.primary_fingerprint, dropped, staged.source)


def reencrypt_stale(store: CredentialStore, ring: Keyring) -> int:
    """Re-encrypt, in one transaction, every row not under ``ring``'s primary key.

    If any row cannot be decrypted, nothing changes and one CredentialError
    names every such account.
    """
    primary = ring.primary_fingerprint
    with store._writing() as session:
        # Writers are held off for the whole transaction: BEGIN IMMEDIATE on
        # SQLite, row locks (FOR UPDATE) on PostgreSQL.
        store._audit(session, "rotate", detail=f"re-encrypting under key {primary}")
        rows = session.scalars(
            select(Account).where(Account.key_fingerprint != primary).order_by(Account.id).with_for_update()
        ).all()
        unreadable: list[str] = []
        for row in rows:
            try:
                token = ring.rotate_token(
                    row.encrypted_credential, what=_describe(row), stored_fingerprint=row.key_fingerprint
                )
            except CredentialError:
                unreadable.append(f"{_describe(row)} (key {row.key_fingerprint})")
                continue
            row.encrypted_credential = token
            row.key_fingerprint = primary
            row.key_version = row.key_version + 1
            row.updated_at = _now()
            store._audit(session, "rotate", row, detail=f"now under key {primary}")
        if unreadable:
            raise CredentialError(
                f"rotation stopped, nothing was changed: {len(unreadable)} credential(s) cannot be decrypted "
                f"with {ring.source}: {', '.join(unreadable)}. Add the key they were stored with, or delete "
                "them with `ai keys delete`, then rotate again."
            )
    return len(rows)


def _sweep(store: CredentialStore, ring: Keyring) -> int:
    # Each pass goes through the store's _reencrypt_stale method, so a subclass
    # (or a test simulating a late writer) can step in between passes.
    total = store._reencrypt_stale(ring)
    # A process that loaded the old keyring before step 1 may still have
    # written a row under an old key; sweep until none is left.
    for _ in range(5):
        late = store._reencrypt_stale(ring)
        if not late:
            return total
        total += late
    raise CredentialError("rotation could not finish: credentials keep being written under an old key")


def _count(store: CredentialStore) -> int:
    with store._reading() as session:
        return int(session.scalar(select(func.count()).select_from(Account)) or 0)
