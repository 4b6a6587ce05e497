"""Executors: where independent forecasting tasks run.

Backtests and final fits split into tasks (a chunk of series × the candidate models) that share
nothing, so they can run in this process, in a pool of local processes, or — through the same
interface — on a Dask cluster when the series outgrow one machine
(:mod:`forecasting.executors_dask`). An executor only has to map a picklable function over
picklable tasks, return the results in task order and report progress; a task depends on its
arguments only (its own seed, never a worker's state or the global random generator), so the
same seed gives the same results on every executor.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager
from contextvars import ContextVar
from typing import Final, Generic, Literal, Protocol, TypeVar, get_args
from urllib.parse import urlsplit

Task = TypeVar("Task")
Result = TypeVar("Result")
Resource = TypeVar("Resource")

#: Called with (tasks done, tasks total) after each task.
Progress = Callable[[int, int], None]

#: Where a run's tasks run: a pool of local processes, or a Dask distributed cluster.
ExecutorKind = Literal["processes", "dask"]
EXECUTORS: Final[tuple[str, ...]] = get_args(ExecutorKind)
#: The schemes of a Dask scheduler address this product can reach (TCP, or TCP with TLS).
DASK_SCHEMES: Final = ("tcp", "tls")


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


class Lazy(Generic[Resource]):
    """A run's shared resource (a process pool, a Dask client), opened by the first map that
    needs it and closed with the block that holds it: a block whose maps never need one —
    every map a single task — never pays for starting workers."""

    def __init__(self, open_: Callable[[], AbstractContextManager[Resource]]) -> None:
        self._open = open_
        self._stack = ExitStack()
        self._resource: Resource | None = None
        self._error: BaseException | None = None
        # Two threads of a run may map at once (the balance backtest beside the run's own
        # fits): the first to need the resource opens it, the other waits and shares it, or
        # its failure: a scheduler that did not answer is not waited on twice.
        self._lock = threading.Lock()

    def get(self) -> Resource:
        with self._lock:
            if self._error is not None:
                raise self._error
            if self._resource is None:
                try:
                    self._resource = self._stack.enter_context(self._open())
                except Exception as error:
                    self._error = error
                    raise
            return self._resource

    def close(self) -> None:
        self._stack.close()


#: The pool every :class:`ProcessExecutor` inside a :func:`shared_pool` block maps on.
_SHARED_POOL: ContextVar[Lazy[ProcessPoolExecutor] | None] = ContextVar("shared_pool", default=None)


def spawned_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of *spawned* processes that exit when the process that started them is gone.

    Spawned, not forked: a training process runs threads (the lease heartbeat, the server's or
    the scheduler's), and a forked child inherits their locks in whatever state they were in,
    so a fork can deadlock; a spawned child starts a clean interpreter. A spawned child holds
    both ends of its task queue, so it would wait for tasks forever after its parent was
    killed; each one watches its parent instead (:func:`watch_parent`).
    """
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_exit_with_parent,
        initargs=(os.getpid(),),
    )


def watch_parent(parent: int, on_gone: Callable[[], object], interval: float = 1.0) -> None:
    """Call ``on_gone`` (once, in a daemon thread) when process ``parent`` is no longer this
    process's parent: it ended, however abruptly, and this process was handed to init."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        on_gone()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    watch_parent(parent, lambda: os._exit(1))


@contextmanager
def shared_pool(n_jobs: int | None) -> Iterator[None]:
    """Run every process-pool map inside the block on one pool of ``n_jobs`` processes
    (``None`` or -1: one per core; 1: no pool at all).

    A training run maps dozens of times (each model kind, each cut year of the balance
    backtest); a spawned process pays the model libraries' import once, so one pool for the
    whole run costs a few seconds where a pool per map would cost minutes. The pool starts with
    the first map that has two or more tasks and is closed when the block ends, so nothing
    outlives the run.
    """
    workers = worker_count(n_jobs)
    if workers <= 1 or _SHARED_POOL.get() is not None:
        yield
        return
    pool = Lazy(lambda: _closing_pool(workers))
    token = _SHARED_POOL.set(pool)
    try:
        yield
    finally:
        _SHARED_POOL.reset(token)
        pool.close()


@contextmanager
def _closing_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A :func:`spawned_pool` whose queued tasks are cancelled when the block ends (a failed
    run must not keep computing the rest of its map)."""
    pool = spawned_pool(workers)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def worker_count(n_jobs: int | None) -> int:
    """Workers for ``n_jobs`` (``None`` or -1: one per core)."""
    if n_jobs is not None and n_jobs < 0:
        n_jobs = None
    return n_jobs or os.cpu_count() or 1


class ProcessExecutor:
    """A pool of local worker processes (one per core by default).

    Inside a :func:`shared_pool` block the maps use that block's pool; otherwise a pool is
    created per call and closed afterwards: forecasting jobs are minutes apart, and a pool that
    outlives its job would hold memory and block clean shutdown.
    """

    def __init__(self, n_jobs: int | None = None) -> None:
        self.n_jobs = n_jobs

    def map(
        self,
        function: Callable[[Task], Result],
        tasks: Sequence[Task],
        progress: Progress | None = None,
    ) -> list[Result]:
        workers = min(worker_count(self.n_jobs), len(tasks))
        if workers <= 1:
            return SerialExecutor().map(function, tasks, progress)
        shared = _SHARED_POOL.get()
        if shared is not None:
            return _collect(shared.get().map(function, tasks), len(tasks), progress)
        with spawned_pool(workers) as pool:
            return _collect(pool.map(function, tasks), len(tasks), progress)


def _collect(results: Iterable[Result], total: int, progress: Progress | None) -> list[Result]:
    collected: list[Result] = []
    for done, result in enumerate(results, start=1):
        collected.append(result)
        if progress is not None:
            progress(done, total)
    return collected


def executor_for(
    n_jobs: int | None, kind: str = "processes", address: str | None = None
) -> Executor:
    """The executor of ``kind`` (:data:`EXECUTORS`). Processes: serial for one job, a process
    pool otherwise (``None`` or ``-1``: one per core). Dask: the cluster at ``address``, or a
    local cluster of ``n_jobs`` workers — even for one job, since asking for Dask is asking
    for its workers."""
    check_executor(kind, address)
    if kind == "dask":
        from forecasting.executors_dask import DaskExecutor  # loads distributed: only when used

        return DaskExecutor(n_jobs, address)
    if n_jobs is not None and n_jobs < 0:
        n_jobs = None
    if n_jobs == 1:
        return SerialExecutor()
    return ProcessExecutor(n_jobs)


@contextmanager
def run_executor(
    n_jobs: int | None, kind: str = "processes", address: str | None = None
) -> Iterator[None]:
    """One pool of processes (:func:`shared_pool`) or one Dask client — of a local cluster or
    of the cluster at ``address``, made by the first map — for every map of its kind inside
    the block, closed when the block ends: a run maps dozens of times, and starting workers
    (and importing the model libraries in each) once per run rather than per map saves
    minutes."""
    check_executor(kind, address)
    if kind == "dask":
        from forecasting.executors_dask import shared_client

        with shared_client(n_jobs, address):
            yield
        return
    with shared_pool(n_jobs):
        yield


def check_executor(kind: str, address: str | None = None) -> None:
    """Refuse an unknown executor or a malformed Dask scheduler address (``ValueError`` naming
    the setting and what a valid value looks like) before a run starts, not in its middle."""
    if kind not in EXECUTORS:
        raise ValueError(
            f"executor must be one of {', '.join(EXECUTORS)}, got {kind!r} "
            "(TALENTCAST_EXECUTOR or --executor)"
        )
    if address is None:
        return
    example = "e.g. tcp://10.0.0.5:8786 (the address `dask scheduler` prints)"
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        port = parts.port
    except ValueError:  # not a number, or beyond 65535
        port = None
    if parts.scheme not in DASK_SCHEMES or not parts.hostname or port is None or parts.path:
        raise ValueError(
            f"dask_address {address!r} is not a Dask scheduler address {example} "
            "(TALENTCAST_DASK_ADDRESS)"
        )
