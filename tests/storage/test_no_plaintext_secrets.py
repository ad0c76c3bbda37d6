"""No plaintext secret reaches the database file (WAL included) or the logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ai_core.drivers.fake import FakeDriver
from ai_core.errors import AuthenticationError

pytestmark = pytest.mark.anyio

SECRET = "sk-live-5ecret5ecret5ecret5ecret5ecret42"


def _all_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file())


async def test_secrets_stay_out_of_the_sqlite_files_and_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from ai_core.app import AI
    from ai_core.credentials.keys import Keyring, generate_key
    from ai_core.credentials.tables import Account
    from ai_core.storage.columns import utcnow

    caplog.set_level(logging.DEBUG)
    folder = tmp_path / "db"
    folder.mkdir()
    driver = FakeDriver.scripted(
        [
            "fine",
            AuthenticationError(f"invalid API key {SECRET}", provider="fake", status_code=401),
        ]
    )
    async with AI(
        database_url=f"sqlite:///{folder / 'ai.db'}",
        persistence=True,
        drivers={"fake": driver},
        providers={"fake": {"api_key": SECRET}},
    ) as ai:
        conversation = ai.conversation("fake/echo", user="ann").option("retry_attempts", 0)
        await conversation.user("hello").asend()
        with pytest.raises(AuthenticationError) as info:
            await conversation.user("again").asend()
        assert SECRET not in str(info.value)
        # A credential row as the credentials store writes it: only ciphertext and a masked hint.
        keyring = Keyring([generate_key()], source="test")
        with ai.services.database.write() as conn:
            conn.execute(
                Account.__table__.insert(),
                {
                    "provider": "fake",
                    "name": "default",
                    "tenant": "",
                    "label": None,
                    "encrypted_credential": keyring.encrypt(SECRET),
                    "key_fingerprint": keyring.primary_fingerprint,
                    "key_version": 1,
                    "hint": "****42",
                    "active": True,
                    "created_at": utcnow(),
                    "updated_at": utcnow(),
                },
            )
        stored = _all_bytes(folder)  # while open: the WAL holds the newest pages
    stored += _all_bytes(folder)
    assert b"invalid API key" in stored  # the failure was recorded...
    assert SECRET.encode() not in stored  # ...without the key
    assert SECRET not in caplog.text
