"""``ai dashboard``: serve the read-only web dashboard over the application's database."""

from __future__ import annotations

import os
import socket

import click

DEFAULT_PORT = 8765


def _missing_extra() -> str | None:
    import importlib.util

    for module in ("starlette", "uvicorn", "jinja2"):
        if importlib.util.find_spec(module) is None:
            return module
    return None


@click.group(invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (others need a token).")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    envvar="AI_DASHBOARD_PORT",
    help="Port (0: any free one). Also AI_DASHBOARD_PORT.",
)
@click.option("--url", "url", metavar="URL", help="Database URL (default: AI_DATABASE_URL or the configured one).")
@click.pass_context
def dashboard(ctx: click.Context, host: str, port: int, url: str | None) -> None:
    """Serve a read-only web dashboard: spend, budgets, conversations, models, failures.

    Needs `pip install "ai-core[dashboard]"`. On 127.0.0.1 there is no login; set
    AI_DASHBOARD_TOKEN to require a token, as serving on any other address does.
    """
    if ctx.invoked_subcommand is not None:
        return
    from ai_core.dashboard.access import TOKEN_ENV, check_bind
    from ai_core.errors import ConfigurationError

    missing = _missing_extra()
    if missing is not None:
        raise ConfigurationError(f'the dashboard needs {missing}: pip install "ai-core[dashboard]"')
    token = os.environ.get(TOKEN_ENV) or None
    check_bind(host, token)
    if token:
        from ai_core.redaction import remember_secret

        remember_secret(token)
    serve(host=host, port=port, url=url, token=token)


def serve(*, host: str, port: int, url: str | None, token: str | None) -> None:
    """Open the database, bind, print the URL, serve until Ctrl-C."""
    import uvicorn

    from ai_core.budgets.model import parse_budgets
    from ai_core.config import load_settings
    from ai_core.dashboard.app import create_app
    from ai_core.errors import ConfigurationError
    from ai_core.storage import migrate
    from ai_core.storage.database import Database

    settings = load_settings()
    budgets = parse_budgets(settings.budgets)
    database = Database.open(url, settings=settings, migrate=False)
    try:
        current = migrate.current(database)
        if current != migrate.head():
            raise ConfigurationError(
                f"the database {database.display_url} is at schema {current or 'none'}, not {migrate.head()}: "
                "run `ai db upgrade` (the dashboard only reads)"
            )
        app = create_app(
            database, token=token, budgets=budgets, database_text=database.display_url, settings=settings, prebuild=True
        )
        sock = _bind(host, port)
        bound_port = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        click.echo(f"ai dashboard: http://{shown}:{bound_port}/ (read-only; Ctrl-C stops it)")
        if token:
            click.echo("A token is required: open the page with ?token=<AI_DASHBOARD_TOKEN or a tenant token>.")
        config = uvicorn.Config(app, log_level="warning", access_log=False, server_header=False)
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        database.close()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        from ai_core.errors import ConfigurationError

        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


@dashboard.command("token")
@click.option("--tenant", required=True, help="The tenant this token may see (and nothing else).")
def token_command(tenant: str) -> None:
    """Print a token that sees one tenant only, signed with AI_DASHBOARD_TOKEN."""
    from ai_core.dashboard.access import TOKEN_ENV, tenant_token

    secret = os.environ.get(TOKEN_ENV) or ""
    click.echo(tenant_token(secret, tenant))
