"""``ai chat``: one prompt streamed to the terminal, or a REPL that keeps the conversation."""

from __future__ import annotations

import sys
from decimal import Decimal
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from ai_core.app import AI
    from ai_core.pipeline.builder import ConversationBuilder
    from ai_core.types import ChatResponse, Cost, TokenUsage

EXIT_WORDS = frozenset({"exit", "quit", ":q"})


@click.command()
@click.argument("prompt", required=False)
@click.option("-m", "--model", help="provider/model, e.g. fake/echo (default: AI_DEFAULT_MODEL).")
@click.option("-s", "--system", help="System prompt.")
@click.option("--no-persist", is_flag=True, help="Do not store the conversation.")
@click.option("--cid", "conversation_id", help="Continue a stored conversation by id.")
def chat(
    prompt: str | None, model: str | None, system: str | None, no_persist: bool, conversation_id: str | None
) -> None:
    """Chat with a model: stream the answer to PROMPT, or with no PROMPT open a
    REPL that keeps the conversation (type 'exit' or press Ctrl-D to leave).
    PROMPT '-' reads the prompt from standard input.

    Token usage and cost are printed to standard error after each answer.
    Ctrl-C stops at once (exit status 130); what a stream delivered until then
    is recorded and charged like any answer.
    """
    from ai_core.app import AI
    from ai_core.errors import AIError

    try:
        if prompt == "-":
            prompt = sys.stdin.read()
        try:
            ai = AI(persistence=False) if no_persist else AI()
        except AIError as exc:
            raise click.ClickException(str(exc)) from exc
        try:
            note = budgets_note(ai)
            if note:
                click.echo(note, err=True)
            conversation = ai.conversation(model, id=conversation_id)
            if system:
                conversation.system(system)
            if prompt is not None:
                _turn(conversation, prompt)
            else:
                _repl(conversation)
        except AIError as exc:
            raise click.ClickException(str(exc)) from exc
        finally:
            ai.close()
    except KeyboardInterrupt as exc:
        _interrupted(exc)


def _interrupted(interrupt: KeyboardInterrupt) -> None:
    """Ctrl-C (or SIGTERM): end the line being printed and leave with 128 + the signal, as shells expect."""
    from ai_core.cli import exit_status

    click.echo(err=True)
    raise click.exceptions.Exit(exit_status(interrupt))


def budgets_note(ai: AI) -> str | None:
    """One line when budgets apply but nothing is stored: their counters then
    live in this process only, and start from zero in the next one."""
    if ai.services.database is not None:
        return None
    from ai_core.budgets.middleware import BudgetMiddleware

    configured = bool(ai.settings.budgets) or any(
        isinstance(layer, BudgetMiddleware) and layer.budgets for layer in ai.middleware
    )
    if not configured:
        return None
    return "note: persistence is off, so budgets count only this process's spending (they start at zero next time)"


def _turn(conversation: ConversationBuilder, prompt: str) -> ChatResponse:
    """Send one user message, echoing text deltas as they arrive."""
    from ai_core.types import ReasoningDelta, StreamCompleted, TextDelta

    conversation.user(prompt)
    response: ChatResponse | None = None
    events = conversation.stream()
    try:
        for event in events:
            if isinstance(event, TextDelta):
                click.echo(event.text, nl=False)
                sys.stdout.flush()
            elif isinstance(event, ReasoningDelta):
                click.secho(event.text, nl=False, dim=True, err=True)
            elif isinstance(event, StreamCompleted):
                response = event.response
    finally:
        close = getattr(events, "close", None)
        if close is not None:  # stopped early (Ctrl-C while printing): end the stream now, not at GC
            close()
    click.echo()
    if response is None:  # a driver that breaks the contract; never print a made-up usage line
        raise click.ClickException("the stream ended without a final response")
    click.echo(describe_usage(response.provider, response.model, response.usage, response.cost), err=True)
    return response


def _repl(conversation: ConversationBuilder) -> None:
    from ai_core.types import TokenUsage

    click.echo("Chatting; type 'exit' or press Ctrl-D to leave.", err=True)
    total_usage, total_cost, unknown_cost, turns = TokenUsage(), Decimal(0), False, 0
    while True:
        try:
            line = click.prompt(">", prompt_suffix=" ", default="", show_default=False)
        except click.Abort as exc:  # click turns both Ctrl-C and Ctrl-D into Abort
            if isinstance(exc.__context__, KeyboardInterrupt):  # Ctrl-C or SIGTERM at the prompt
                raise exc.__context__ from None
            click.echo(err=True)
            break
        except EOFError:
            click.echo(err=True)
            break
        if line.strip().lower() in EXIT_WORDS:
            break
        if not line.strip():
            continue
        response = _turn(conversation, line)
        turns += 1
        total_usage = total_usage + response.usage
        if response.cost is None or response.cost.total is None:
            unknown_cost = True
        else:
            total_cost += response.cost.total
    if turns:
        cost = "unknown" if unknown_cost else f"${total_cost:.6f}"
        click.echo(f"{turns} turn(s), {total_usage.total_tokens} tokens, cost {cost}", err=True)


def describe_usage(provider: str, model: str, usage: TokenUsage, cost: Cost | None) -> str:
    """One line: tokens by kind and the cost (``unknown`` when no price was found, never $0)."""
    parts = [f"{usage.input_tokens} in"]
    if usage.cached_input_tokens:
        parts.append(f"{usage.cached_input_tokens} cached")
    parts.append(f"{usage.output_tokens} out")
    if usage.reasoning_tokens:
        parts.append(f"{usage.reasoning_tokens} reasoning")
    money = "cost unknown" if cost is None or cost.total is None else f"cost {cost.total:.6f} {cost.currency}"
    return f"[{provider}/{model}] {', '.join(parts)} tokens; {money}"
