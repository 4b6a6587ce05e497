"""Where uploads are read and validated: worker processes, a few at a time.

Reading and validating a large file is seconds of pure-Python work. On the event loop it
stops every other request; in a thread of the server process it still competes with the loop
for the interpreter lock, and reads slow down by hundreds of milliseconds. Spawned worker
processes take that work out of the server process altogether; only the store write (a bulk
insert) runs in a thread here. The limiter bounds how many uploads are in flight, and with
it the memory their bytes hold.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from anyio import CapacityLimiter
from fastapi import HTTPException, status

from forecasting.executors import spawned_pool

T = TypeVar("T")


class UploadWorkers:
    """A pool of ``size`` spawned processes (started on first use) and a limiter of the same
    size. Built inside the event loop by :func:`serving.api.deps.get_upload_workers`."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.limiter = CapacityLimiter(size)
        self._pool: ProcessPoolExecutor | None = None

    async def run(self, function: Callable[[], T]) -> T:
        """``function()`` in a worker process. A worker that died (killed, out of memory)
        breaks the pool: it is replaced for the next upload and this one gets a 503."""
        if self._pool is None:
            # Spawned, not forked: the server process runs threads, and a fork copies
            # whatever locks they hold. They exit when the server does, even by SIGKILL.
            self._pool = spawned_pool(self.size)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, function)
        except BrokenProcessPool:
            self.shutdown()
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                "the worker reading the file stopped before it finished; send it again",
            ) from None

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
