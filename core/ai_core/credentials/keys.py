"""Where the credential encryption key comes from, and how it is kept.

Two sources, in this order:

1. ``AI_ENCRYPTION_KEY`` (or ``Settings.encryption_key``): one Fernet key, or a
   comma-separated list whose first key encrypts and whose others only decrypt.
   That list is how an operator rotates a key held in the environment: set
   ``NEW,OLD``, run ``ai keys rotate``, then drop ``OLD``.
2. A key file (``AI_KEY_FILE``, else ``<data dir>/encryption.key``): one key
   per line, the first one primary, later ones retired keys still readable
   while a rotation is under way. It is created with mode 0600 the first time a
   credential is stored, and always rewritten atomically (temporary file,
   fsync, rename), so a crash leaves either the old or the new keyring.

A key that is absent, empty, malformed or simply not the one that encrypted a
row is a :class:`~ai_core.errors.CredentialError` whose message says which
source was used and what to do: never a traceback, never an empty key used
silently. A key-file path that cannot hold a key (a dangling symlink, a
directory, an unwritable or read-only place) is a CredentialError too: a
credential is never stored under a key that was written nowhere. Keys never
appear in a repr or a message; fingerprints (a short SHA-256) name them instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from ai_core.errors import CredentialError

if TYPE_CHECKING:
    from ai_core.config import Settings

__all__ = [
    "KEY_FILE_NAME",
    "KeyConfig",
    "Keyring",
    "fingerprint",
    "generate_key",
    "key_file_lock",
    "load_keyring",
    "write_key_file",
]

KEY_FILE_NAME = "encryption.key"
ENV_VAR = "AI_ENCRYPTION_KEY"


def fingerprint(key: bytes) -> str:
    """A short, non-reversible name for a key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(key).hexdigest()[:16]


def generate_key() -> bytes:
    return Fernet.generate_key()


@dataclass(frozen=True)
class KeyConfig:
    """Where to look for the key; built from Settings or the environment."""

    encryption_key: str | None = field(default=None, repr=False)
    """The raw ``AI_ENCRYPTION_KEY`` value, or None when it is unset."""
    key_file: Path | None = None
    data_dir: Path | None = None

    @property
    def key_file_path(self) -> Path:
        if self.key_file is not None:
            return self.key_file
        if self.data_dir is not None:
            return self.data_dir / KEY_FILE_NAME
        from ai_core.config import default_data_dir

        return default_data_dir() / KEY_FILE_NAME

    @property
    def from_environment_key(self) -> bool:
        return self.encryption_key is not None

    def describe(self) -> str:
        return ENV_VAR if self.from_environment_key else f"key file {self.key_file_path}"

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyConfig:
        raw = settings.encryption_key.get_secret_value() if settings.encryption_key is not None else None
        return cls(encryption_key=raw, key_file=settings.key_file, data_dir=settings.data_dir)

    @classmethod
    def from_env(cls) -> KeyConfig:
        """Read the same variables Settings does, without building the whole Settings."""
        key_file = os.environ.get("AI_KEY_FILE")
        data_dir = os.environ.get("AI_DATA_DIR")
        return cls(
            encryption_key=os.environ.get(ENV_VAR),
            key_file=Path(key_file) if key_file else None,
            data_dir=Path(data_dir) if data_dir else None,
        )


class Keyring:
    """The primary key plus retired keys still accepted for decryption."""

    __slots__ = ("_fernet", "_keys", "path", "source")

    def __init__(self, keys: list[bytes], *, source: str, path: Path | None = None) -> None:
        if not keys:
            raise CredentialError(f"no encryption key in {source}")
        fernets: list[Fernet] = []
        for index, key in enumerate(keys):
            try:
                fernets.append(Fernet(key))
            except (ValueError, TypeError):
                # The library's message is generic; ours names the source and never the key.
                position = "the primary key" if index == 0 else f"key #{index + 1}"
                raise CredentialError(
                    f"{position} in {source} is not a valid Fernet key: expected 32 url-safe "
                    "base64-encoded bytes (44 characters, as `ai keys generate-key` prints)"
                ) from None
        self._keys = tuple(keys)
        self._fernet = MultiFernet(fernets)
        self.source = source
        self.path = path

    def __repr__(self) -> str:
        return (
            f"Keyring(source={self.source!r}, primary={self.primary_fingerprint!r}, "
            f"retired={self.retired_fingerprints!r})"
        )

    @property
    def primary_fingerprint(self) -> str:
        return fingerprint(self._keys[0])

    @property
    def retired_fingerprints(self) -> list[str]:
        return [fingerprint(k) for k in self._keys[1:]]

    @property
    def fingerprints(self) -> frozenset[str]:
        return frozenset(fingerprint(k) for k in self._keys)

    @property
    def keys(self) -> tuple[bytes, ...]:
        return self._keys

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str, *, what: str, stored_fingerprint: str | None = None) -> str:
        """Decrypt ``token`` or raise a CredentialError that says why, naming ``what`` was read."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError):
            raise self._unreadable(what, stored_fingerprint) from None

    def rotate_token(self, token: str, *, what: str, stored_fingerprint: str | None = None) -> str:
        """Re-encrypt ``token`` under the primary key (any key of the ring may have made it)."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError, ValueError):
            raise self._unreadable(what, stored_fingerprint) from None

    def _unreadable(self, what: str, stored_fingerprint: str | None) -> CredentialError:
        if stored_fingerprint and stored_fingerprint not in self.fingerprints:
            reason = (
                f"it was encrypted with key {stored_fingerprint}, which is not in {self.source} "
                f"(keys there: {', '.join(sorted(self.fingerprints))})"
            )
        else:
            reason = f"the token is damaged or was not made by any key in {self.source}"
        return CredentialError(
            f"cannot decrypt the stored credential for {what}: {reason}. "
            f"Set {ENV_VAR} or AI_KEY_FILE to the key it was stored with, or store it again with `ai keys set`."
        )

    def with_primary(self, key: bytes) -> Keyring:
        """This ring with ``key`` in front and every current key kept for reading."""
        return Keyring([key, *self._keys], source=self.source, path=self.path)


def _parse_keys(text: str, source: str, *, separator: str = "\n") -> list[bytes]:
    """Keys from ``text``: one per ``separator``-split item; blank items and ``#`` comment lines skipped."""
    lines = [line.strip() for line in text.splitlines() if not line.strip().startswith("#")]
    items = [item.strip() for line in lines for item in line.split(separator)] if separator != "\n" else lines
    keys = [item.encode("ascii", "replace") for item in items if item]
    if not keys:
        raise CredentialError(f"{source} is empty: it must hold a Fernet key (run `ai keys generate-key` to make one)")
    return keys


def load_keyring(config: KeyConfig, *, create: bool = False) -> Keyring | None:
    """The keyring ``config`` points at.

    ``create=True`` makes a key file (mode 0600) when neither source has a key,
    and is what storing a credential uses; reading passes ``create=False`` and
    gets None, so a lookup never litters the disk with keys nothing uses.
    """
    if config.encryption_key is not None:
        if not config.encryption_key.strip():
            raise CredentialError(f"{ENV_VAR} is set but empty; unset it or give it a Fernet key")
        return Keyring(_parse_keys(config.encryption_key, ENV_VAR, separator=","), source=ENV_VAR)
    path = config.key_file_path
    source = f"key file {path}"
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        if path.is_symlink():
            raise _dangling(path) from None
        if not create:
            return None
        return _create_key_file(path)
    except IsADirectoryError:
        raise CredentialError(f"{source} is a directory: set AI_KEY_FILE to a file path") from None
    except OSError as exc:
        raise CredentialError(
            f"cannot read {source}: {exc.strerror or exc}; fix the path or its permissions, or set AI_KEY_FILE "
            "(or AI_ENCRYPTION_KEY)"
        ) from None
    _warn_if_readable_by_others(path)
    return Keyring(_parse_keys(text, source), source=source, path=path)


def _warn_if_readable_by_others(path: Path) -> None:
    if sys.platform == "win32":
        return
    with contextlib.suppress(OSError):
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            from ai_core.logging import get_logger

            get_logger(__name__).warning("key_file.permissions_too_open", path=str(path), mode=oct(mode))


def _dangling(path: Path) -> CredentialError:
    target = os.readlink(path)
    return CredentialError(
        f"key file {path} is a symbolic link to {target}, which does not exist: restore the key file there, "
        "fix the link, or set AI_KEY_FILE (or AI_ENCRYPTION_KEY)"
    )


def _cannot_write(path: Path, exc: OSError) -> CredentialError:
    return CredentialError(
        f"cannot create key file {path}: {exc.strerror or exc}; make {path.parent} writable, or set "
        "AI_KEY_FILE to a writable path (or AI_ENCRYPTION_KEY). Nothing was stored"
    )


def _created_by_someone_else(path: Path) -> Keyring:
    """The key file appeared while we made ours: use it, or refuse if it still cannot be read."""
    ring = load_keyring(KeyConfig(key_file=path))
    if ring is None:  # "exists" for link() yet unreadable: a dangling symlink, a race with a delete
        if path.is_symlink():
            raise _dangling(path)
        raise CredentialError(f"key file {path} exists but cannot be read; check it, or set AI_KEY_FILE")
    return ring


def _create_key_file(path: Path) -> Keyring:
    key = generate_key()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = _write_private_temp(path, [key])
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    try:
        # link() refuses to replace an existing file: if another process made a
        # key file in the meantime, its key wins and ours is thrown away.
        os.link(tmp, path)
    except FileExistsError:
        return _created_by_someone_else(path)
    except OSError:
        # Filesystems without hard links: fall back to an exclusive create.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return _created_by_someone_else(path)
        except OSError as exc:
            raise _cannot_write(path, exc) from None
        with os.fdopen(fd, "wb") as fh:
            fh.write(_render([key]))
            fh.flush()
            os.fsync(fh.fileno())
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    _fsync_dir(path.parent)
    return Keyring([key], source=f"key file {path}", path=path)


def _render(keys: list[bytes]) -> bytes:
    header = b"# ai-core credential encryption key(s): first line encrypts, later lines only decrypt.\n"
    return header + b"".join(k + b"\n" for k in keys)


def _write_private_temp(path: Path, keys: list[bytes]) -> str:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp already creates the file 0600; nothing else ever widens it.
        with os.fdopen(fd, "wb") as fh:
            fh.write(_render(keys))
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def _fsync_dir(directory: Path) -> None:
    if sys.platform == "win32":
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_key_file(path: Path, keys: list[bytes] | tuple[bytes, ...]) -> None:
    """Atomically replace the key file with ``keys`` (primary first), mode 0600."""
    for key in keys:
        Fernet(key)  # refuse to write a ring that could not be read back
    if path.is_symlink() and not path.exists():
        raise _dangling(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = _write_private_temp(path, list(keys))
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    try:
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _cannot_write(path, exc) from None
        raise
    _fsync_dir(path.parent)


@contextlib.contextmanager
def key_file_lock(path: Path) -> Iterator[None]:
    """Serialise rotations of one key file across processes (POSIX advisory lock).

    The lock lives in a sibling file and is released by the kernel if the
    process dies, so a crashed rotation never leaves a stale lock behind.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: rotations are not serialised
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CredentialError(f"another `ai keys rotate` is running on {path}; try again when it ends") from None
        yield
    finally:
        os.close(fd)
