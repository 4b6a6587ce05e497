"""Executors: where independent forecasting tasks run.

Backtests and final fits split into tasks (a chunk of series × the candidate models) that share
nothing, so they can run in this process, in a pool of local processes, or — through the same
interface — on a Dask cluster when the series outgrow one machine. An executor only has to map a
picklable function over picklable tasks and report progress.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Protocol, TypeVar

Task = TypeVar("Task")
Result = TypeVar("Result")

#: Called with (tasks done, tasks total) after each task.
Progress = Callable[[int, int], None]


class Executor(Protocol):
    """Runs ``function`` over ``tasks`` and returns results in task order."""

    def map(
        self,
        function: Callable[[Task], Result],
        tasks: Sequence[Task],
        progress: Progress | None = None,
    ) -> list[Result]: ...


class SerialExecutor:
    """Everything in the calling process: the default for small jobs and for tests."""

    def map(
        self,
        function: Callable[[Task], Result],
        tasks: Sequence[Task],
        progress: Progress | None = None,
    ) -> list[Result]:
        results = []
        for done, task in enumerate(tasks, start=1):
            results.append(function(task))
            if progress is not None:
                progress(done, len(tasks))
        return results


class ProcessExecutor:
    """A pool of local worker processes (one per core by default).

    The pool is created per call and closed afterwards: forecasting jobs are minutes apart, and
    a pool that outlives its job would hold memory and block clean shutdown.
    """

    def __init__(self, n_jobs: int | None = None) -> None:
        self.n_jobs = n_jobs

    def map(
        self,
        function: Callable[[Task], Result],
        tasks: Sequence[Task],
        progress: Progress | None = None,
    ) -> list[Result]:
        workers = min(self.n_jobs or os.cpu_count() or 1, len(tasks))
        if workers <= 1:
            return SerialExecutor().map(function, tasks, progress)
        results: list[Result] = []
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for done, result in enumerate(pool.map(function, tasks), start=1):
                results.append(result)
                if progress is not None:
                    progress(done, len(tasks))
        return results


def executor_for(n_jobs: int | None) -> Executor:
    """Serial for one job, a process pool otherwise (``None`` or ``-1``: one per core)."""
    if n_jobs is not None and n_jobs < 0:
        n_jobs = None
    if n_jobs == 1:
        return SerialExecutor()
    return ProcessExecutor(n_jobs)


def chunked(items: Sequence[int], size: int) -> Iterable[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
