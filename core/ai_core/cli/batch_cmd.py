"""``ai batch IN.jsonl -o OUT.jsonl``: many requests, resumable, with a progress bar."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ai_core.batch.items import BatchItem, BatchResult
    from ai_core.batch.progress import BatchProgress


@click.command()
@click.argument("input_path", metavar="IN.jsonl", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o", "--output", "output_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
    help="Where results go, one JSON line per item; an existing file is resumed.",
)  # fmt: skip
@click.option("-c", "--concurrency", default=8, show_default=True, type=click.IntRange(1, 1000), help="Calls at once.")
@click.option("-m", "--model", help="provider/model for items that name none (default: AI_DEFAULT_MODEL).")
@click.option("--job", help="Name of this run in the ledger (default: derived from the output path).")
@click.option("--retry-failed", is_flag=True, help="Send again the items whose output line carries an error.")
@click.option(
    "--progress/--no-progress", default=None,
    help="Show the progress bar (default: when stderr is a terminal).",
)  # fmt: skip
@click.option("--no-persist", is_flag=True, help="Store nothing: resume then relies on the output file alone.")
@click.option(
    "--provider-batch", is_flag=True,
    help="Use the provider's own Batch API (OpenAI: half price, answers within 24 h) as a resumable job.",
)  # fmt: skip
@click.option(
    "--poll-interval", default=30.0, show_default=True, type=click.FloatRange(min=0.01),
    help="With --provider-batch: seconds between status checks.",
)  # fmt: skip
def batch(
    input_path: Path,
    output_path: Path,
    concurrency: int,
    model: str | None,
    job: str | None,
    retry_failed: bool,
    progress: bool | None,
    no_persist: bool,
    provider_batch: bool,
    poll_interval: float,
) -> None:
    """Send every line of IN.jsonl through the pipeline (budgets, prices, the
    ledger) and write one line per item to OUT.jsonl.

    Each input line is {"id": ..., "model": "provider/model", "messages": [...]}
    or "prompt" instead of "messages", plus request options (temperature,
    max_tokens, ..., provider fields under "options"). Each output line has the
    same id, the answer text, usage, cost and error. A bad line becomes an
    output line with its error, never a stop.

    Run the same command again after an interruption: items in OUT.jsonl are
    skipped, and an item answered but not yet written is taken from the ledger,
    never sent twice. The first Ctrl-C lets the calls in flight finish; a
    second one stops at once.
    """
    import anyio

    from ai_core.batch.items import BatchResult
    from ai_core.batch.jsonl import OutputWriter, read_done, read_items
    from ai_core.pipeline.providers import split_model

    if model is not None:
        try:
            split_model(model)
        except Exception as exc:
            raise click.BadParameter(str(exc), param_hint="--model") from None
    done = read_done(output_path)
    rerun = done.failed if retry_failed else set()
    items: list[BatchItem | BatchResult] = []
    for entry in read_items(input_path):
        if entry.id in done.done and entry.id not in rerun:
            continue
        if model is not None and not isinstance(entry, BatchResult) and entry.model is None:
            entry = replace(entry, model=model)
        items.append(entry)
    total = len(done.done - rerun) + len(items)
    job_name = job or f"file:{output_path.resolve()}"
    show = progress if progress is not None else sys.stderr.isatty()
    writer = OutputWriter(output_path, done, drop=rerun & {e.id for e in items})
    try:
        if provider_batch:
            from ai_core.batch.provider_job import run_provider_batch_cli

            outcome = anyio.run(
                run_provider_batch_cli, items, writer, job_name, poll_interval, no_persist, show, progress is True,
                total - len(items),
            )  # fmt: skip
        else:
            outcome = anyio.run(
                _run, items, writer, concurrency, job_name, no_persist, show, progress is True, total - len(items)
            )
    finally:
        writer.close()
    _finish(outcome, output_path, len(done.done - rerun), len(done.failed - rerun))


async def _run(
    items: list[Any], writer: Any, concurrency: int, job: str, no_persist: bool, show: bool, force: bool, already: int
) -> tuple[BatchProgress, str | None]:
    """Run the batch; return its progress and, when interrupted, how (``"int"`` or ``"term"``)."""
    import anyio

    from ai_core.app import AI
    from ai_core.batch.progress import BatchProgress
    from ai_core.batch.runner import run_batch

    ai = AI(persistence=False) if no_persist else AI()
    stop = anyio.Event()
    interrupted: list[str] = []
    bar = BatchProgress(already + len(items), enabled=show, force=force, already=already)
    try:
        with bar:

            def on_result(result: BatchResult) -> None:
                writer.write(result)
                bar.add(result)

            try:
                async with anyio.create_task_group() as group:
                    group.start_soon(_watch_signals, stop, group.cancel_scope, interrupted)
                    await run_batch(ai, items, concurrency=concurrency, job=job, on_result=on_result, stop=stop)
                    group.cancel_scope.cancel()
            except BaseExceptionGroup as group:
                raise single_error(group) from None
    finally:
        with anyio.CancelScope(shield=True):
            await ai.aclose()
    return bar, (interrupted[-1] if interrupted else None)


def single_error(group: BaseExceptionGroup) -> BaseException:
    """The one error inside a task group's group, so the CLI reports it as itself (one line)."""
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


async def _watch_signals(stop: Any, scope: Any, interrupted: list[str]) -> None:
    """First Ctrl-C: start nothing new, let the calls in flight finish. Second Ctrl-C
    (or SIGTERM): cancel them now (what was answered is in the ledger already)."""
    import signal

    import anyio

    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            if signum == signal.SIGINT and not stop.is_set():
                interrupted.append("int")
                stop.set()
                click.echo("\nstopping: finishing the calls in flight (Ctrl-C again to stop at once)", err=True)
                continue
            interrupted.append("term" if signum == signal.SIGTERM else "hard")
            stop.set()
            scope.cancel()
            return


def _finish(outcome: tuple[BatchProgress, str | None], output_path: Path, earlier: int, earlier_failed: int) -> None:
    """The summary line; exit 130/143 when interrupted, 1 when any item of the whole output failed."""
    bar, interrupted = outcome
    tally = bar.tally
    line = f"{tally.done} item(s) done, {tally.failed} failed"
    if earlier:
        line += f" (and {earlier} done by an earlier run, {earlier_failed} of them failed)"
    if tally.resumed:
        line += f", {tally.resumed} taken from the ledger (answered by an earlier run)"
    line += f"; cost {tally.cost_text()}; results in {output_path}"
    click.echo(line, err=True)
    if interrupted is not None:
        if interrupted in ("hard", "term"):
            click.echo("stopped at once: the calls in flight were cancelled (answers already in are kept)", err=True)
        click.echo("interrupted: run the same command again to resume", err=True)
        raise click.exceptions.Exit(143 if interrupted == "term" else 130)
    failed = tally.failed + earlier_failed
    if failed:
        raise click.ClickException(
            f"{failed} item(s) failed: their error is in {output_path} (--retry-failed sends them again)"
        )
