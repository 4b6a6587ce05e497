"""Progress on the operator's terminal while a command trains, ingests or forecasts.

A live line names the stage being run, the count within it where there is one (series
batches fitted, cut years replayed) and the time elapsed; each finished stage leaves a line
with its time, and the run ends with a table of seconds per stage. Drawn on standard error,
and only when that is a terminal: a script or a pipe gets the command's result and nothing
else, and ``--json`` output stays pure JSON.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TimeElapsedColumn
from rich.table import Table

from forecasting.progress import RunProgress
from serving.console import make_console


class TerminalProgress:
    """A :class:`~forecasting.progress.RunProgress` drawn with rich on ``console``; use it as
    a context manager around the work, so that the live line is always taken down."""

    def __init__(self, console: Console, title: str) -> None:
        self._console = console
        self._title = title
        self._bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._task: TaskID | None = None
        self._stage = ""
        self._stage_started = 0.0
        self._started = 0.0

    def __enter__(self) -> TerminalProgress:
        self._started = time.perf_counter()
        self._bar.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._end_stage("stopped after")  # finished() ends the last stage of work that succeeds
        self._bar.stop()

    def stage(self, name: str) -> None:
        self._end_stage()
        self._stage, self._stage_started = name, time.perf_counter()
        self._task = self._bar.add_task(f"{self._title}: {name}", total=None)

    def count(self, what: str, done: int, total: int) -> None:
        if self._task is None:
            return
        self._bar.update(
            self._task,
            description=f"{self._title}: {self._stage} · {what} {done}/{total}",
            completed=done,
            total=total,
        )

    def finished(self, timings: Mapping[str, float]) -> None:
        self._end_stage()
        self._bar.console.print(f"{self._title}: seconds per stage", highlight=False)
        table = Table()
        table.add_column("stage")
        table.add_column("seconds", justify="right")
        for stage, seconds in timings.items():
            table.add_row(stage, f"{seconds:.1f}")
        table.add_row("total", f"{time.perf_counter() - self._started:.1f}", style="bold")
        self._bar.console.print(table)

    def _end_stage(self, how: str = "done in") -> None:
        if self._task is None:
            return
        seconds = time.perf_counter() - self._stage_started
        self._bar.remove_task(self._task)
        self._bar.console.print(f"  {self._stage} {how} {seconds:.1f} s", highlight=False)
        self._task = None


class Timings:
    """Seconds per stage of a command that is not a training run (ingest, forecast), told to
    ``progress`` as a run's are."""

    def __init__(self, progress: RunProgress | None) -> None:
        self._progress = progress
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self._progress is not None:
            self._progress.stage(name)
        started = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - started

    def finished(self) -> None:
        if self._progress is not None:
            self._progress.finished(self.seconds)


@contextmanager
def terminal_progress(title: str, *, quiet: bool = False) -> Iterator[RunProgress | None]:
    """A :class:`TerminalProgress` on standard error when that is a terminal and the command
    is not ``quiet`` (``--json``); otherwise None, and the work runs silently."""
    console = make_console(stderr=True)
    if quiet or not console.is_terminal:
        yield None
        return
    with TerminalProgress(console, title) as progress:
        yield progress
