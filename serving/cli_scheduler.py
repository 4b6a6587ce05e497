"""``talentcast scheduler``: retrain on a schedule, after new uploads and for queued runs."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.markup import escape

from serving.console import EXIT_REJECTED, err, open_configured, out, settings_of

#: Exit status after Ctrl+C twice (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130

#: The loggers whose records the command shows: the scheduler's decisions and the job's steps.
_LOGGERS = ("serving.scheduler", "forecasting.jobs")


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
) -> None:
    """Retrain at TALENTCAST_RETRAIN_SCHEDULE, after new uploads settle and for runs queued
    with POST /runs, one retrain at a time across processes, until SIGTERM or Ctrl+C."""
    from serving.scheduler import Scheduler

    settings = settings_of(ctx)
    store = open_configured(settings)
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
