"""The Dask distributed executor: a run's tasks on a cluster of workers, local or remote.

Same contract as the local process pool (:mod:`forecasting.executors`): results in task order,
progress as tasks finish, the task's own error raised to the caller. A run either connects to
the scheduler of an existing cluster (``TALENTCAST_DASK_ADDRESS``: started by ``dask scheduler``
and ``dask worker`` on machines with this package installed) or starts a
:class:`~distributed.LocalCluster` of one single-threaded worker process per job, and closes it
when the run ends (:func:`shared_client`). Workers are processes with one thread each for the
same reason as the local pool's: the model libraries are not all thread-safe, and each library
gets a core of its own rather than threads fighting over one.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Final, TypeVar

from forecasting.executors import Lazy, Progress, worker_count

if TYPE_CHECKING:
    from distributed import Client

Task = TypeVar("Task")
Result = TypeVar("Result")

#: How long connecting to a cluster's scheduler may take before the run fails with a message
#: naming the address: a scheduler that is down must not hold a retrain for minutes.
CONNECT_TIMEOUT: Final = 20.0

#: The client every :class:`DaskExecutor` inside a :func:`shared_client` block maps on.
_SHARED_CLIENT: ContextVar[Lazy[Client] | None] = ContextVar("shared_client", default=None)


@contextmanager
def dask_client(n_jobs: int | None, address: str | None = None) -> Iterator[Client]:
    """A client of the cluster at ``address``, or of a local cluster of ``n_jobs`` worker
    processes (``None`` or -1: one per core) that is closed with the client.

    The local workers are spawned (the default of distributed), so a process running threads
    (the lease heartbeat, the scheduler loop) never forks a copy of a lock held by one of
    them. No dashboard: the service runs on an intranet, and a run's cluster lives minutes.
    """
    from distributed import Client, LocalCluster

    if address is not None:
        try:
            client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except OSError as error:
            raise ConnectionError(
                f"no Dask scheduler answered at {address} (TALENTCAST_DASK_ADDRESS) within "
                f"{CONNECT_TIMEOUT:.0f} s: start one with `dask scheduler` and workers with "
                f"`dask worker {address}`, or leave the address empty for a local cluster"
            ) from error
        with client:
            try:  # a scheduler without workers would hold the run until someone noticed
                client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
            except TimeoutError as error:
                raise ConnectionError(
                    f"the Dask scheduler at {address} (TALENTCAST_DASK_ADDRESS) has no workers: "
                    f"start some with `dask worker {address}` on machines with this package"
                ) from error
            yield client
        return
    with (
        LocalCluster(
            n_workers=worker_count(n_jobs),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            # The scheduler still serves its health routes over HTTP: on a free port of this
            # machine, not on 8787 (which a second cluster here would find taken).
            scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
            # Errors only: a worker slow to stop at the end of a run is no news to an operator.
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        yield client


@contextmanager
def shared_client(n_jobs: int | None, address: str | None = None) -> Iterator[None]:
    """Run every Dask map inside the block on one client (see :func:`dask_client`), as
    :func:`forecasting.executors.shared_pool` does for the process pool; a block inside
    another keeps the outer one's client."""
    if _SHARED_CLIENT.get() is not None:
        yield
        return
    # Connected (or its local cluster started) by the block's first map: a scheduler that
    # does not answer then fails that map, inside the run, which is marked failed with the
    # message, rather than the set-up around it.
    shared: Lazy[Client] = Lazy(lambda: dask_client(n_jobs, address))
    token = _SHARED_CLIENT.set(shared)
    try:
        yield
    finally:
        _SHARED_CLIENT.reset(token)
        shared.close()


class DaskExecutor:
    """Tasks on a Dask cluster: the one of the enclosing :func:`shared_client` block, else one
    connected to (``address``) or started (``n_jobs`` local workers) for this map alone.

    Holds only its parameters, so an engine that keeps its executor stays picklable.
    """

    def __init__(self, n_jobs: int | None = None, address: str | None = None) -> None:
        self.n_jobs = n_jobs
        self.address = address

    def map(
        self,
        function: Callable[[Task], Result],
        tasks: Sequence[Task],
        progress: Progress | None = None,
    ) -> list[Result]:
        if not tasks:
            return []
        shared = _SHARED_CLIENT.get()
        if shared is not None:
            return _gather(shared.get(), function, tasks, progress)
        with dask_client(self.n_jobs, self.address) as client:
            return _gather(client, function, tasks, progress)


def _gather(
    client: Client,
    function: Callable[[Task], Result],
    tasks: Sequence[Task],
    progress: Progress | None,
) -> list[Result]:
    """Results in task order, progress as tasks finish in whatever order they do.

    The function is sent to the cluster once per map, not once per task: a partial carries
    what every task of the map shares (the quota problem's joint samples, megabytes), which
    the graph would otherwise repeat per task. Tasks are keyed by the function's name, so the
    cluster's task stream says what ran. The first task to fail cancels the others and
    raises its own exception, type and message as the task raised them.
    """
    from dask.utils import funcname
    from distributed import as_completed

    shared = client.scatter(function, hash=False)
    name = funcname(function)
    keys = [f"{name}-{uuid.uuid4().hex}" for _ in tasks]
    futures = client.map(_apply, [shared] * len(tasks), tasks, key=keys)
    try:
        for done, future in enumerate(as_completed(futures, loop=client.loop), start=1):
            if future.status == "error":
                future.result()  # raises the task's exception
            if progress is not None:
                progress(done, len(tasks))
        results: list[Result] = client.gather(futures)
    except BaseException:  # a failed task or Ctrl+C: nothing of this map runs on
        client.cancel(futures)
        raise
    return results


def _apply(function: Callable[[Task], Result], task: Task) -> Result:
    return function(task)
