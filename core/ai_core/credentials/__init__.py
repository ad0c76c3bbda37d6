"""Encrypted provider credentials: where the key comes from, the store, its audit trail, key rotation.

Names resolve lazily, so importing this package loads neither SQLAlchemy nor
``cryptography`` until a credential is actually touched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ai_core._lazy import lazy_exports

if TYPE_CHECKING:
    from ai_core.credentials.keys import KeyConfig, Keyring
    from ai_core.credentials.rotation import RotationReport
    from ai_core.credentials.store import AccountInfo, CredentialStore, lookup_api_key

__all__ = ["AccountInfo", "CredentialStore", "KeyConfig", "Keyring", "RotationReport", "lookup_api_key"]

_WHERE = {
    "AccountInfo": "ai_core.credentials.store",
    "CredentialStore": "ai_core.credentials.store",
    "RotationReport": "ai_core.credentials.rotation",
    "lookup_api_key": "ai_core.credentials.store",
    "KeyConfig": "ai_core.credentials.keys",
    "Keyring": "ai_core.credentials.keys",
}


__getattr__ = lazy_exports(__name__, _WHERE)
