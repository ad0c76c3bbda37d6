"""``ai conversations``: list, show and export stored conversations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click


@click.group()
def conversations() -> None:
    """Browse, show and export stored conversations."""


@conversations.command("list")
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True)
@click.option("--user", help="Only this user's conversations.")
@click.option("--tenant", help="Only this tenant's conversations.")
@click.option("--all", "include_archived", is_flag=True, help="Include archived conversations.")
@click.option("--json", "as_json", is_flag=True)
def list_command(limit: int, user: str | None, tenant: str | None, include_archived: bool, as_json: bool) -> None:
    """The most recently updated conversations."""
    from ai_core.cli.storage_support import open_database
    from ai_core.storage.browse import list_conversations, money_text

    with open_database() as database:
        rows = list_conversations(database, limit=limit, user=user, tenant=tenant, include_archived=include_archived)
    if as_json:
        click.echo(json.dumps([_summary(r, money_text) for r in rows], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    if not rows:
        click.echo("No conversations stored yet.")
        return
    table = Table(title="Conversations")
    for column in ("id", "updated", "user", "tenant", "tags", "model", "messages", "cost"):
        table.add_column(column, justify="right" if column in ("messages", "cost") else "left")
    for row in rows:
        cost = money_text(row["total_cost"]) or "0"
        if row["unknown_cost_count"]:
            cost += f" (+{row['unknown_cost_count']} unpriced)"
        table.add_row(
            row["id"],
            row["updated_at"].strftime("%Y-%m-%d %H:%M"),
            row["user_id"] or "",
            row["tenant"] or "",
            ", ".join(row["tags"] or []),
            f"{row['provider'] or ''}/{row['model'] or ''}",
            str(row["message_count"]),
            cost,
        )
    Console().print(table)


def _summary(row: dict[str, Any], money_text: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "user": row["user_id"],
        "tenant": row["tenant"],
        "tags": row["tags"] or [],
        "status": row["status"],
        "provider": row["provider"],
        "model": row["model"],
        "message_count": row["message_count"],
        "total_cost": money_text(row["total_cost"]),
        "unknown_cost_count": row["unknown_cost_count"],
        "total_input_tokens": row["total_input_tokens"],
        "total_output_tokens": row["total_output_tokens"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }


def _load(conversation_id: str, tenant: str | None, user: str | None) -> dict[str, Any]:
    from ai_core.cli.storage_support import open_database
    from ai_core.storage.browse import conversation_detail

    with open_database() as database:
        detail = conversation_detail(database, conversation_id, tenant=tenant, user=user)
        if detail is not None:
            from ai_core.storage.participants import list_participants

            detail["participants"] = list_participants(database, conversation_id)
    if detail is None:  # the same words whether it is missing or another scope's
        raise click.ClickException(
            f"no conversation with id {conversation_id!r} for this tenant and user "
            "(a conversation is shown only with its own --tenant and --user; see `ai conversations list`)"
        )
    return detail


def _scope(command: Any) -> Any:
    command = click.option("--user", help="The user the conversation belongs to.")(command)
    return click.option("--tenant", help="The tenant the conversation belongs to.")(command)


@conversations.command("show")
@click.argument("conversation_id")
@_scope
def show(conversation_id: str, tenant: str | None, user: str | None) -> None:
    """Print one conversation with each response's model, tokens, cost and latency."""
    from rich.console import Console
    from rich.markup import escape

    from ai_core.storage.browse import money_text

    detail = _load(conversation_id, tenant, user)
    console = Console()
    console.print(
        f"[bold]Conversation {detail['id']}[/]  user={detail['user_id'] or '-'} tenant={detail['tenant'] or '-'} "
        f"tags={','.join(detail['tags'] or []) or '-'}"
    )
    cost = money_text(detail["total_cost"])
    unknown = f", {detail['unknown_cost_count']} unpriced" if detail["unknown_cost_count"] else ""
    people = [f"{p.name} ({p.role or p.kind})" for p in detail.get("participants", ())]
    if people:
        console.print(f"participants: {escape(', '.join(people))}")
    console.print(f"{detail['message_count']} messages, total cost {cost} USD{unknown}\n")
    for row in detail["messages"]:
        console.print(f"[bold cyan]{row['role']}[/] {escape(_render(row['message']))}")
        if row["billable"]:
            priced = f"{money_text(row['cost'])} {row['currency'] or ''}" if row["cost_known"] else "unknown cost"
            latency = f", {row['latency_ms']:.0f} ms" if row["latency_ms"] is not None else ""
            console.print(
                f"  [dim]{row['provider']}/{row['model']}: {row['input_tokens']} in, "
                f"{row['output_tokens']} out, {priced}{latency}[/]"
            )
    for failure in detail["failures"]:
        console.print(
            f"[red]failed attempt[/] {failure['provider']}/{failure['model']}: "
            f"{failure['error_type']}: {escape(failure['message'])}"
        )


def _render(message: Any) -> str:
    pieces = []
    for part in message.parts:
        kind = part.type
        if kind == "text":
            pieces.append(part.text)
        elif kind == "reasoning":
            pieces.append(f"(reasoning) {part.text}")
        elif kind == "tool_call":
            pieces.append(f"-> {part.name}({json.dumps(part.arguments)})")
        elif kind == "tool_result":
            pieces.append(f"<- {part.name or 'tool'}: {part.content}")
        elif kind == "image":
            pieces.append(f"[image {part.url or part.media_type}]")
    return "\n".join(pieces)


@conversations.command("export")
@click.argument("conversation_id")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "markdown"]), default="jsonl", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout.")
@_scope
def export(conversation_id: str, fmt: str, output: Path | None, tenant: str | None, user: str | None) -> None:
    """Export a conversation: JSON Lines (one message per line) or Markdown."""
    from ai_core.storage.browse import money_text

    if output is not None:
        _check_writable(output)  # before any work: a typo in -o should not cost a database read
    detail = _load(conversation_id, tenant, user)
    text = _jsonl(detail, money_text) if fmt == "jsonl" else _markdown(detail, money_text)
    if output is None:
        click.echo(text, nl=False)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from None
        click.echo(f"wrote {output}", err=True)


def _check_writable(output: Path) -> None:
    import os

    folder = output.parent
    if not folder.is_dir():
        why = "does not exist" if not folder.exists() else "is not a directory"
        raise click.ClickException(f"cannot write {output}: the directory {folder} {why} (create it, or change -o)")
    if not os.access(folder, os.W_OK):
        raise click.ClickException(f"cannot write {output}: the directory {folder} is not writable (pick another -o)")


def _jsonl(detail: dict[str, Any], money_text: Any) -> str:
    lines = []
    for row in detail["messages"]:
        record: dict[str, Any] = {
            "conversation_id": detail["id"],
            "id": row["id"],
            "position": row["position"],
            "created_at": row["created_at"].isoformat(),
            **row["message"].model_dump(mode="json", exclude_none=True),
        }
        if row["billable"]:
            record.update(
                provider=row["provider"],
                model=row["model"],
                finish_reason=row["finish_reason"],
                usage={k: row[k] for k in ("input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens")},
                cost=money_text(row["cost"]),
                currency=row["currency"],
                latency_ms=row["latency_ms"],
            )
        lines.append(json.dumps(record, ensure_ascii=False))
    return "".join(line + "\n" for line in lines)


def _markdown(detail: dict[str, Any], money_text: Any) -> str:
    out = [f"# Conversation {detail['id']}", ""]
    meta = [
        f"- user: {detail['user_id'] or '-'}",
        f"- tenant: {detail['tenant'] or '-'}",
        f"- tags: {', '.join(detail['tags'] or []) or '-'}",
        f"- messages: {detail['message_count']}",
        f"- total cost: {money_text(detail['total_cost'])} USD",
    ]
    out += [*meta, ""]
    for row in detail["messages"]:
        heading = f"## {row['role']}"
        if row["billable"]:
            cost = money_text(row["cost"]) if row["cost_known"] else "unknown"
            heading += f" ({row['provider']}/{row['model']}, {row['output_tokens']} tokens out, cost {cost})"
        out += [heading, "", _render(row["message"]), ""]
    return "\n".join(out)
