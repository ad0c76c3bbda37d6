"""The progress bar of ``ai batch``: done / failed / cost so far / rate / ETA, on stderr."""

from __future__ import annotations

from decimal import Decimal
from types import TracebackType
from typing import Any

from ai_core.batch.items import BatchResult

__all__ = ["BatchProgress", "Tally"]


class Tally:
    """Counts and money of the results seen so far (Decimal; unknown costs counted apart)."""

    def __init__(self) -> None:
        self.done = 0
        self.failed = 0
        self.resumed = 0
        self.cost = Decimal(0)
        self.unknown_cost = 0
        self.currency = "USD"

    def add(self, result: BatchResult) -> None:
        self.done += 1
        if not result.ok:
            self.failed += 1
        if result.resumed:
            self.resumed += 1
        if result.cost is not None:
            if result.cost.total is None:
                self.unknown_cost += 1
            else:
                self.cost += result.cost.total
                self.currency = result.cost.currency

    def cost_text(self) -> str:
        text = f"{self.cost:.6f} {self.currency}"
        return text + (f" (+{self.unknown_cost} unpriced)" if self.unknown_cost else "")


class BatchProgress:
    """A rich progress bar, or nothing (``enabled=False``); ``force`` draws it even when stderr is no terminal."""

    def __init__(
        self, total: int, *, enabled: bool, force: bool = False, already: int = 0, label: str = "batch"
    ) -> None:
        self.tally = Tally()
        self._progress: Any = None
        self._task: Any = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        console = Console(stderr=True, force_terminal=True if force else None)
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[red]{task.fields[failed]} failed"),
            TextColumn("{task.fields[cost]}"),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=console,
            refresh_per_second=5,
        )
        self._task = self._progress.add_task(label, total=total, completed=already, failed=0, cost="0 USD", rate="")

    def __enter__(self) -> BatchProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()

    def add(self, result: BatchResult) -> None:
        self.tally.add(result)
        if self._progress is not None:
            task = self._progress.tasks[0]
            speed = task.speed
            self._progress.update(
                self._task,
                advance=1,
                failed=self.tally.failed,
                cost=self.tally.cost_text(),
                rate=f"{speed:.1f} items/s" if speed else "",
            )
