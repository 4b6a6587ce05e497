"""Process pools: spawned (safe in a process that runs threads) and shared across a run."""

from __future__ import annotations

import os
import threading

import pytest
from pool_tasks import LOCK, pid, square, under_lock

from forecasting.executors import ProcessExecutor, SerialExecutor, shared_pool


def test_a_map_runs_in_other_processes_and_keeps_task_order() -> None:
    seen: list[tuple[int, int]] = []
    results = ProcessExecutor(2).map(square, list(range(7)), lambda d, t: seen.append((d, t)))
    assert results == [value * value for value in range(7)]
    assert seen[-1] == (7, 7)
    assert SerialExecutor().map(square, list(range(7))) == results


def test_maps_inside_one_shared_pool_reuse_its_processes_and_it_closes_after() -> None:
    executor = ProcessExecutor(2)
    with shared_pool(2):
        served = set().union(*(executor.map(pid, list(range(8))) for _ in range(3)))
    assert os.getpid() not in served
    # Two processes served all three maps (the libraries are imported once per run): a pool
    # per map would have brought at least one new process each time, three or more in all.
    assert len(served) <= 2
    outside = set(executor.map(pid, list(range(8))))
    assert outside.isdisjoint(served)  # the shared pool is gone; a new one served this map


def test_a_pool_started_while_another_thread_holds_a_lock_does_not_inherit_it() -> None:
    """A forked child copies a lock held by another thread of the parent in its held state and
    waits on it forever; a spawned child starts clean. The retrain lease's heartbeat is such a
    thread in every training process."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with LOCK:
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert held.wait(5)
    answer: list[list[int]] = []
    mapper = threading.Thread(
        target=lambda: answer.append(ProcessExecutor(2).map(under_lock, [1, 2, 3])),
        daemon=True,
    )
    try:
        mapper.start()
        mapper.join(30)
        assert answer == [[1, 2, 3]], "the pool's processes waited on a lock copied held"
    finally:
        release.set()
        holder.join()


@pytest.mark.parametrize("n_jobs", [1, None, -1])
def test_one_job_never_starts_a_pool_and_none_means_every_core(n_jobs: int | None) -> None:
    with shared_pool(n_jobs):
        pids = set(ProcessExecutor(n_jobs).map(pid, list(range(4))))
    if n_jobs == 1 or (os.cpu_count() or 1) == 1:
        assert pids == {os.getpid()}
    else:
        assert os.getpid() not in pids
