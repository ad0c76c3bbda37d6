"""A key stored with `ai keys set` is used when the environment has none (audited)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from ai_core import AI, FakeDriver, ProviderConfig, ProviderSpec
from ai_core.credentials.keys import KeyConfig
from ai_core.credentials.store import CredentialStore
from ai_core.credentials.tables import AuditLogEntry
from ai_core.hookspecs import hookimpl
from ai_core.plugins import PluginRegistry

seen_keys: list[str | None] = []


def recording_driver(config: ProviderConfig) -> FakeDriver:
    seen_keys.append(config.api_key.get_secret_value() if config.api_key else None)
    return FakeDriver(config)


class KeyedPlugin:
    @hookimpl
    def register_providers(self, register):  # type: ignore[no-untyped-def]
        register(ProviderSpec(name="keyed", driver=recording_driver, requires_api_key=True))


@pytest.mark.anyio
async def test_stored_credential_is_used_and_audited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AI_KEYED_API_KEY", raising=False)
    monkeypatch.setenv("AI_CONFIG_FILE", str(tmp_path / "none.toml"))
    key_file = tmp_path / "encryption.key"
    monkeypatch.setenv("AI_KEY_FILE", str(key_file))
    import ai_core.builtin

    registry = PluginRegistry(plugins=[("core", ai_core.builtin), ("keyed", KeyedPlugin())])
    ai = AI(database_url=f"sqlite:///{tmp_path / 'ai.db'}", registry=registry)
    database = ai.services.database
    await CredentialStore(database, keys=KeyConfig(key_file=key_file)).set("keyed", SecretStr("stored-secret-key-123"))
    seen_keys.clear()
    reply = await ai.conversation("keyed/m").user("hi").asend()
    assert reply.text == "Echo: hi"
    assert seen_keys == ["stored-secret-key-123"]
    with database.read() as connection:
        actions = connection.execute(select(AuditLogEntry.action, AuditLogEntry.provider)).all()
    assert ("read", "keyed") in [tuple(row) for row in actions]
    await ai.aclose()
