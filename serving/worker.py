"""The worker beside the server: ``talentcast serve`` starts one ``talentcast worker`` process.

The server processes answer requests and never train: ``POST /runs`` only queues a run (a row
with status ``pending``). Training takes minutes of both cores and a pool of processes, which
must not share a process with the event loop, and a pool forked from a process that runs
threads can deadlock on a lock copied in its held state. So the worker is a process of its own,
a fresh interpreter started with the same settings, which executes queued runs under the
store's retrain lease (:mod:`serving.scheduler` with only the "queued" trigger). Starting a
run is a conditional update (pending → running) under that lease, so any number of workers
and schedulers on one store never execute a run twice.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from serving.settings import Settings

log = logging.getLogger(__name__)

#: How long the worker may take to stop between runs before it is asked again (which
#: interrupts a retrain under way and marks its run failed), and then killed.
STOP_SECONDS = 10.0


def worker_command() -> list[str]:
    """The command line of the worker process; its settings come through the environment
    (:meth:`Settings.as_environment`), which keeps a database password out of ``ps``. It stops
    when this process ends, even by SIGKILL (``--parent-pid``)."""
    return [sys.executable, "-m", "serving.cli", "worker", "--parent-pid", str(os.getpid())]


@contextmanager
def companion_worker(settings: Settings) -> Iterator[subprocess.Popen[bytes] | None]:
    """Run a ``talentcast worker`` process for as long as the block runs (none when
    ``settings.run_worker`` is off). On the way out it is asked to stop (SIGTERM: it finishes
    nothing new), then asked again (a retrain under way is interrupted and its run marked
    failed, so no run is left "running"), then killed."""
    if not settings.run_worker:
        yield None
        return
    process = subprocess.Popen(worker_command(), env={**os.environ, **settings.as_environment()})
    log.info("started the run worker (process %s)", process.pid)
    try:
        yield process
    finally:
        stop_worker(process)


def stop_worker(process: subprocess.Popen[bytes], seconds: float = STOP_SECONDS) -> int:
    """Stop the worker process as :func:`companion_worker` describes; returns its exit code."""
    for attempt in (signal.SIGTERM, signal.SIGTERM):
        if process.poll() is not None:
            break
        process.send_signal(attempt)
        try:
            return process.wait(seconds)
        except subprocess.TimeoutExpired:
            continue
    if process.poll() is None:
        log.warning("the run worker (process %s) did not stop; killing it", process.pid)
        process.kill()
    return process.wait()
