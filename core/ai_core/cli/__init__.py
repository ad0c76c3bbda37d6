"""The ``ai`` command line.

Subcommands load lazily (a name maps to ``module:attribute``), so ``ai --help``
imports neither providers nor SQLAlchemy; plugins add commands through the
``register_commands`` hook, which is called only when a command outside the
built-in set is asked for or when help is shown.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

__all__ = ["BUILTIN_COMMANDS", "cli", "main"]

BUILTIN_COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module:attribute, one-line help shown by `ai --help`)
    "plugins": ("ai_core.cli.plugins_cmd:plugins", "List installed plugins and what each provides."),
    "models": ("ai_core.cli.models_cmd:models", "List models; `ai models sync` stores them with prices."),
    "chat": ("ai_core.cli.chat_cmd:chat", "Chat with a model (one prompt, or a REPL)."),
    "usage": ("ai_core.cli.usage_cmd:usage", "Requests, tokens and cost by provider, model, user, day, tag."),
    "conversations": ("ai_core.cli.conversations_cmd:conversations", "Browse, show and export stored conversations."),
    "cost": ("ai_core.cli.cost_cmd:cost", "Price a call without making it."),
    "keys": ("ai_core.cli.keys_cmd:keys", "Store, list and rotate encrypted provider credentials."),
    "db": ("ai_core.cli.db_cmd:db", "Database migrations (`ai db upgrade`)."),
    "jobs": ("ai_core.cli.jobs_cmd:jobs", "Run maintenance jobs (sync models, analytics, cleanup)."),
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
        """Run the command; a library error becomes ``Error: ...`` and exit 1, not a traceback."""
        from ai_core.errors import AIError

        try:
            return super().invoke(ctx)
        except AIError as exc:
            raise click.ClickException(str(exc)) from exc

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


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ai-core", prog_name="ai")
def cli() -> None:
    """ai-core: one interface to many AI providers, with costs and history."""


def main() -> None:
    cli()
