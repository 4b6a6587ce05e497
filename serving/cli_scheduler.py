"""``talentcast scheduler`` and ``talentcast worker``: the processes that train.

The API only queues runs; these execute them, each under the store's retrain lease. The
scheduler also retrains on a schedule and after new uploads settle; the worker (which
``talentcast serve`` starts beside the server) executes queued runs and nothing else.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.markup import escape

from serving.console import (
    EXIT_REJECTED,
    ExecutorOption,
    err,
    open_configured,
    out,
    settings_of,
    with_executor,
)

#: Exit status after Ctrl+C twice (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130

#: The loggers whose records the command shows: the scheduler's decisions, the job's steps and
#: the stages of each run.
_LOGGERS = ("serving.scheduler", "forecasting.jobs", "forecasting.progress")


def scheduler(
    ctx: typer.Context,
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Check once, retrain if due, and exit (run it every few minutes from cron or "
            "a Kubernetes CronJob; TALENTCAST_RETRAIN_SCHEDULE still decides when the "
            "scheduled retrain is due).",
        ),
    ] = False,
    executor: ExecutorOption = None,
) -> None:
    """Retrain at TALENTCAST_RETRAIN_SCHEDULE, after new uploads settle and for runs queued
    with POST /runs, one retrain at a time across processes, until SIGTERM or Ctrl+C."""
    from serving.scheduler import Scheduler

    settings = with_executor(settings_of(ctx), executor)
    store = open_configured(settings)
    _lower_priority(settings.train_niceness)
    try:
        with _log_to_stderr():
            runner = Scheduler(store, settings)
            if not once:
                runner.run_forever()
                return
            tick = runner.tick()
    except KeyboardInterrupt:
        err.print("[red]interrupted:[/red] the retrain was stopped and its run marked failed")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        store.dispose()
    if tick.decision is None:
        out.print(f"nothing to do: {escape(tick.note)}")
        return
    assert tick.outcome is not None
    out.print(f"{tick.decision.detail}: {escape(tick.outcome.describe())}")
    if tick.outcome.status == "failed":
        raise typer.Exit(EXIT_REJECTED)


def worker(
    ctx: typer.Context,
    parent_pid: Annotated[
        int | None,
        typer.Option(
            hidden=True,
            help="Stop (after the retrain under way) once this process has ended: "
            "`talentcast serve` passes its own, so that its worker never outlives it.",
        ),
    ] = None,
    executor: ExecutorOption = None,
) -> None:
    """Execute runs queued with POST /api/v1/runs, oldest first, one retrain at a time across
    processes, until SIGTERM or Ctrl+C (`talentcast serve` starts one unless
    TALENTCAST_RUN_WORKER=false)."""
    from forecasting.executors import watch_parent
    from serving.scheduler import QUEUED_ONLY, Scheduler

    settings = with_executor(settings_of(ctx), executor)
    store = open_configured(settings)
    _lower_priority(settings.train_niceness)
    try:
        with _log_to_stderr():
            runner = Scheduler(
                store,
                settings,
                holder=settings.lease_holder("worker"),
                triggers=QUEUED_ONLY,
                poll_seconds=settings.worker_poll_seconds,
            )
            if parent_pid is not None:
                watch_parent(parent_pid, runner.stop)
            runner.run_forever()
    except KeyboardInterrupt:
        err.print("[red]interrupted:[/red] the retrain was stopped and its run marked failed")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        store.dispose()


def _lower_priority(niceness: int) -> None:
    """Train at a lower CPU priority (inherited by the training pool's processes), so that a
    server on the same machine keeps answering at its usual latency during a retrain."""
    current = os.nice(0)
    if niceness > current:
        os.nice(niceness - current)


@contextmanager
def _log_to_stderr() -> Iterator[None]:
    """Show what the scheduler decides and does on stderr, with times, while the command runs
    (configured here, not at import: importing a module configures nothing)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    loggers = [logging.getLogger(name) for name in _LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)
