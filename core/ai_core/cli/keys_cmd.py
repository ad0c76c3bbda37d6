"""``ai keys``: store, list, rotate and delete encrypted provider credentials.

Secrets enter only through a hidden prompt or standard input, never through an
argument (which would land in shell history and ``ps``), and nothing this
command prints contains one. Heavy imports (SQLAlchemy, cryptography) happen
inside the commands so ``ai --help`` stays instant.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from ai_core.credentials.store import AccountInfo, CredentialStore

__all__ = ["keys"]

T = TypeVar("T")


def _stdin_is_tty() -> bool:
    """Separate so tests can stand in for a terminal."""
    return sys.stdin.isatty()


def _run_with_store(action: Callable[[CredentialStore], Awaitable[T]]) -> T:
    """Open the database, build the store, run ``action`` and close (errors go to the CLI's one error path)."""
    import anyio

    async def main() -> T:
        from ai_core.config import load_settings
        from ai_core.credentials.keys import KeyConfig
        from ai_core.credentials.store import CredentialStore

        settings = load_settings()
        database = await _open_database(settings)
        try:
            return await action(CredentialStore(database, keys=KeyConfig.from_settings(settings)))
        finally:
            await _close_database(database)

    return anyio.run(main)


async def _open_database(settings: Any) -> Any:
    """The configured database (SQLite in the data directory by default), migrated as Database.open does."""
    from functools import partial

    import anyio.to_thread

    from ai_core.storage.database import Database

    return await anyio.to_thread.run_sync(partial(Database.open, settings=settings))


async def _close_database(database: Any) -> None:
    await database.aclose()


def _read_secret(provider: str) -> str:
    if _stdin_is_tty():
        value = click.prompt(f"API key for {provider}", hide_input=True, prompt_suffix=": ", show_default=False)
    else:
        value = sys.stdin.read()
    value = value.strip()
    if not value:
        raise click.ClickException("no credential given (empty input); nothing was stored")
    return str(value)


@click.group(name="keys")
def keys() -> None:
    """Store, list and rotate encrypted provider credentials.

    Credentials are encrypted with the key in AI_ENCRYPTION_KEY or in the key
    file (AI_KEY_FILE, else encryption.key in the data directory, created with
    mode 0600). Every read of a credential is written to the audit log.
    """


@keys.command("set")
@click.argument("provider")
@click.option("--account", default=None, help="Account name (default: 'default').")
@click.option("--tenant", default=None, help="Store the key for this tenant only.")
@click.option("--label", default=None, help="A free-form description shown by `ai keys list`.")
def set_key(provider: str, account: str | None, tenant: str | None, label: str | None) -> None:
    """Store the API key for PROVIDER (asked for without echo, or read from stdin)."""
    secret = _read_secret(provider)
    info = _run_with_store(lambda store: store.set(provider, secret, account=account, tenant=tenant, label=label))
    where = f" for tenant {info.tenant}" if info.tenant else ""
    click.echo(f"stored {info.provider}/{info.account}{where} ({info.hint}, key {info.key_fingerprint})")


@keys.command("list")
@click.option("--provider", default=None, help="Only this provider's accounts.")
@click.option("--tenant", default=None, help="Only this tenant's accounts.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_keys(provider: str | None, tenant: str | None, as_json: bool) -> None:
    """List stored credentials, masked."""

    async def listing(store: CredentialStore) -> tuple[list[AccountInfo], frozenset[str] | None, str | None]:
        from ai_core.errors import CredentialError

        infos = await store.list(provider=provider, tenant=tenant)
        try:
            return infos, await store.key_fingerprints(), None
        except CredentialError as exc:
            return infos, None, exc.message

    infos, readable, key_problem = _run_with_store(listing)
    if as_json:
        rows = [
            {
                "provider": i.provider,
                "account": i.account,
                "tenant": i.tenant,
                "label": i.label,
                "hint": i.hint,
                "key_fingerprint": i.key_fingerprint,
                "key_version": i.key_version,
                "active": i.active,
                "created_at": i.created_at.isoformat(),
                "updated_at": i.updated_at.isoformat(),
                "last_used_at": i.last_used_at.isoformat() if i.last_used_at else None,
            }
            for i in infos
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    if key_problem:
        click.echo(f"warning: {key_problem}", err=True)
    if not infos:
        click.echo("no stored credentials (add one with `ai keys set PROVIDER`)")
        return
    unreadable = [i for i in infos if readable is not None and i.key_fingerprint not in readable]
    table = [("PROVIDER", "ACCOUNT", "TENANT", "KEY", "ENCRYPTED WITH", "LAST USED", "LABEL")]
    for i in infos:
        last = i.last_used_at.strftime("%Y-%m-%d %H:%M") if i.last_used_at else "never"
        account = i.account if i.active else f"{i.account} (inactive)"
        key = i.key_fingerprint + (" (no such key!)" if i in unreadable else "")
        table.append((i.provider, account, i.tenant or "-", i.hint, key, last, i.label or ""))
    widths = [max(len(row[c]) for row in table) for c in range(len(table[0]))]
    for row in table:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    if unreadable:
        click.echo(
            f"warning: {len(unreadable)} credential(s) were encrypted with a key that is not configured now; "
            "reading them will fail until that key is restored",
            err=True,
        )


@keys.command("rotate")
def rotate_keys() -> None:
    """Re-encrypt every stored credential under a new encryption key.

    With a key file, a new key is generated and the old one stays readable
    until every credential has been re-encrypted. With AI_ENCRYPTION_KEY, set
    it to 'NEW,OLD' first; afterwards remove OLD.
    """
    report = _run_with_store(lambda store: store.rotate())
    click.echo(f"re-encrypted {report.rotated} credential(s) under key {report.primary_fingerprint} ({report.source})")
    if report.dropped_fingerprints:
        click.echo(f"retired key(s) removed: {', '.join(report.dropped_fingerprints)}")
    if report.note:
        click.echo(report.note)


@keys.command("delete")
@click.argument("provider")
@click.option("--account", default=None, help="Account name (default: 'default').")
@click.option("--tenant", default=None, help="The tenant the key was stored for.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def delete_key(provider: str, account: str | None, tenant: str | None, yes: bool) -> None:
    """Delete a stored credential (its audit history is kept)."""
    name = f"{provider}/{account or 'default'}" + (f" (tenant {tenant})" if tenant else "")
    if not yes:
        click.confirm(f"delete the stored credential {name}?", abort=True)
    deleted = _run_with_store(lambda store: store.delete(provider, account=account, tenant=tenant))
    if not deleted:
        raise click.ClickException(f"no stored credential {name}")
    click.echo(f"deleted {name}")


@keys.command("generate-key")
def generate_key() -> None:
    """Print a new encryption key, for AI_ENCRYPTION_KEY (stored nowhere)."""
    from ai_core.credentials.keys import generate_key as make

    click.echo(make().decode("ascii"))
