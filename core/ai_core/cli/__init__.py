"""The ``ai`` command line.

Subcommands load lazily (a name maps to ``module:attribute``), so ``ai --help``
imports neither providers nor SQLAlchemy; plugins add commands through the
``register_commands`` hook, which is called only when a command outside the
built-in set is asked for or when help is shown.

Errors have one path, :func:`report`, used by every command (built-in or from
a plugin) through :meth:`LazyGroup.invoke` and by :func:`main` for anything
outside a command: ai-core's own errors, the OS and database errors a user can
cause (a bad path, a full or read-only disk, a locked, foreign or unreachable
database) and invalid settings each become one line on stderr, ``Error: ...``,
saying what is wrong and what to do, with exit status 1. Anything else is a
bug: one line too, plus a hint to rerun with ``-v``, which prints the
traceback. Ctrl-C exits with status 130.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

import click

__all__ = ["BUILTIN_COMMANDS", "cli", "main", "report"]

BUILTIN_COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module:attribute, one-line help shown by `ai --help`)
    "plugins": ("ai_core.cli.plugins_cmd:plugins", "List installed plugins and what each provides."),
    "models": ("ai_core.cli.models_cmd:models", "List models; `ai models sync` stores them with prices."),
    "chat": ("ai_core.cli.chat_cmd:chat", "Chat with a model (one prompt, or a REPL)."),
    "usage": ("ai_core.cli.usage_cmd:usage", "Requests, tokens and cost by provider, model, user, day, tag."),
    "conversations": ("ai_core.cli.conversations_cmd:conversations", "Browse, show and export stored conversations."),
    "cost": ("ai_core.cli.cost_cmd:cost", "Price a call without making it."),
    "keys": ("ai_core.cli.keys_cmd:keys", "Store, list and rotate encrypted provider credentials."),
    "audit": ("ai_core.cli.audit_cmd:audit", "Verify and export the hash-chained audit trail of model calls."),
    "db": ("ai_core.cli.db_cmd:db", "Database migrations (`ai db upgrade`)."),
    "status": ("ai_core.cli.status_cmd:status", "Providers, breakers, rate limits, caches, queue, database."),
    "jobs": ("ai_core.cli.jobs_cmd:jobs", "Run maintenance jobs (sync models, analytics, cleanup)."),
    "worker": ("ai_core.cli.worker_cmd:worker", "Run queued listeners and jobs (AI_QUEUE_URL); --status."),
    "scheduler": ("ai_core.cli.worker_cmd:scheduler", "Run the jobs' schedule (hourly, 15 min, daily)."),
    "dashboard": ("ai_core.cli.dashboard_cmd:dashboard", "Serve a read-only web dashboard of spend and usage."),
    "batch": ("ai_core.cli.batch_cmd:batch", "Send a JSONL file of requests (resumable, with progress)."),
    "mcp": ("ai_core.cli.mcp_cmd:mcp", "List, call, test and serve MCP servers."),
    "webhooks": ("ai_core.cli.webhooks_cmd:webhooks", "Webhook endpoints, deliveries, test and replay."),
}


class LazyGroup(click.Group):
    """A group whose built-in commands are imported only when invoked."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loaded_from: object = None
        self._plugin_commands: set[str] = set()

    def _load_plugin_commands(self) -> None:
        """Add the process registry's plugin commands (again only if the registry was replaced)."""
        from ai_core.errors import AIError
        from ai_core.plugins import default_registry

        try:
            registry = default_registry()
        except AIError as exc:  # e.g. a bad AI_CORE_PLUGINS: built-in commands must still work
            click.echo(f"warning: plugin commands not loaded: {exc}", err=True)
            return
        if registry is self._loaded_from:
            return
        for name in self._plugin_commands:
            self.commands.pop(name, None)
        before = set(self.commands)
        registry.add_cli_commands(self)
        self._plugin_commands = set(self.commands) - before
        self._loaded_from = registry

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        return sorted(set(BUILTIN_COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in BUILTIN_COMMANDS:
            target, _ = BUILTIN_COMMANDS[cmd_name]
            module_name, _, attr = target.partition(":")
            command: click.Command = getattr(importlib.import_module(module_name), attr)
            return command
        self._load_plugin_commands()
        return self.commands.get(cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; any error becomes one ``Error: ...`` line and exit 1 (see :func:`report`)."""
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt as exc:
            click.echo(err=True)
            raise click.exceptions.Exit(exit_status(exc)) from None
        except BrokenPipeError:
            raise  # `ai ... | head`: click ends quietly, as a pipe's reader expects
        except Exception as exc:
            raise report(exc) from exc

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Help for built-ins comes from the table, so `ai --help` imports nothing.
        self._load_plugin_commands()
        rows = [(name, help_text) for name, (_, help_text) in BUILTIN_COMMANDS.items()]
        rows += [
            (name, cmd.get_short_help_str(60)) for name, cmd in self.commands.items() if name not in BUILTIN_COMMANDS
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(sorted(rows))


_LEVELS = ("debug", "info", "warning", "error", "critical")  # as ai_core.logging.LEVEL_NAMES, without importing it
_traceback_wanted = False


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ai-core", prog_name="ai")
@click.option(
    "--log-level",
    type=click.Choice(_LEVELS, case_sensitive=False),
    metavar="LEVEL",
    help="Show log lines at LEVEL and above on stderr: debug, info, warning, error, critical "
    "(default: AI_LOG_LEVEL, else warning).",
)
@click.option(
    "-v", "--verbose", count=True, help="More detail on stderr: -v info and tracebacks, -vv debug, -vvv HTTP too."
)
@click.pass_context
def cli(ctx: click.Context, log_level: str | None, verbose: int) -> None:
    """ai-core: one interface to many AI providers, with costs and history.

    Secrets never appear in log lines, at any level.
    """
    import logging

    from ai_core.logging import configure_logging, get_logger, parse_level

    global _traceback_wanted
    if log_level is not None:
        level = parse_level(log_level)
    elif verbose:
        level = parse_level("info" if verbose == 1 else "debug")
    else:
        level = parse_level(os.environ.get("AI_LOG_LEVEL") or "warning", "AI_LOG_LEVEL")
    undo = configure_logging(level, libraries=verbose >= 3)
    _traceback_wanted = level <= logging.INFO
    ctx.call_on_close(functools.partial(_reset_logging, undo))
    _stop_on_sigterm()
    if level <= logging.DEBUG:
        from ai_core.storage.urls import masked_url

        get_logger("ai_core.cli").debug(
            "cli.start",
            argv=sys.argv[1:],
            log_level=logging.getLevelName(level).lower(),
            config_file=os.environ.get("AI_CONFIG_FILE") or "(default)",
            data_dir=os.environ.get("AI_DATA_DIR") or "(default)",
            database_url=masked_url(os.environ.get("AI_DATABASE_URL") or "(default)"),
        )


class Terminated(KeyboardInterrupt):
    """SIGTERM, delivered like Ctrl-C: the call in flight is cancelled, what it
    delivered is recorded and its budget hold closed, then ``ai`` exits 143."""


def exit_status(interrupt: KeyboardInterrupt) -> int:
    """128 + the signal number, as shells expect: 143 for SIGTERM, 130 for Ctrl-C."""
    return 143 if isinstance(interrupt, Terminated) else 130


def _stop_on_sigterm() -> None:
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def terminate(signum: int, frame: Any) -> None:
        raise Terminated()

    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, terminate)


def _reset_logging(undo: Callable[[], None]) -> None:
    """When the command ends: loggers as they were, so in-process runs (tests, scripts) leave no trace."""
    global _traceback_wanted
    _traceback_wanted = False
    undo()


def report(exc: BaseException) -> click.ClickException:
    """The one line (and exit status 1) a user sees for ``exc``; the traceback too when asked for (``-v``)."""
    from ai_core.redaction import redact

    message, expected = _describe(exc)
    if _traceback_wanted:
        import traceback

        click.echo(redact("".join(traceback.format_exception(exc)).rstrip()), err=True)
    elif not expected:
        message += " (this is a bug; rerun with -v to see the traceback)"
    return click.ClickException(redact(" ".join(message.split())))


def _describe(exc: BaseException) -> tuple[str, bool]:
    """What to say about ``exc``, and whether it is an error a user can cause (not a bug)."""
    from ai_core.errors import AIError

    if isinstance(exc, AIError):
        return str(exc), True
    if "sqlalchemy" in sys.modules:
        from sqlalchemy.exc import SQLAlchemyError

        if isinstance(exc, SQLAlchemyError):
            from ai_core.storage.database import storage_error

            return str(storage_error(exc)), True
    if isinstance(exc, OSError):
        return _describe_os_error(exc), True
    if "pydantic" in sys.modules:
        from pydantic import ValidationError

        if isinstance(exc, ValidationError):
            found = exc.errors()
            where = ".".join(str(part) for part in found[0]["loc"]) if found else ""
            message = found[0]["msg"] if found else "invalid value"
            more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
            return f"invalid {exc.title}: {where or exc.title}: {message}{more}", True
    return f"unexpected {type(exc).__name__}: {exc}", False


_OS_ADVICE = {
    "ENOSPC": "the disk is full: free some space and try again",
    "EROFS": "the file system is read-only",
    "EACCES": "permission denied: check the permissions",
    "EPERM": "not permitted: check the permissions",
    "ENOENT": "no such file or directory",
    "ENOTDIR": "a part of the path is a file, not a directory",
    "EISDIR": "it is a directory",
    "EEXIST": "it already exists",
}


def _describe_os_error(exc: OSError) -> str:
    import errno

    name = errno.errorcode.get(exc.errno or 0, "")
    what = _OS_ADVICE.get(name, exc.strerror or str(exc))
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{what}"


def main() -> None:
    """The ``ai`` entry point: click's own handling, plus :func:`report` for anything raised outside a command."""
    try:
        cli.main(prog_name="ai")
    except Exception as exc:
        error = report(exc)
        error.show()
        sys.exit(error.exit_code)
