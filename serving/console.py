"""What every command shares: the consoles, exit codes, settings and opening the store."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any, Final

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.markup import escape

from data.ingest import open_store
from data.store import Store
from forecasting.executors import ExecutorKind
from serving.settings import Settings

EXIT_REJECTED: Final = 1
EXIT_CONFIG: Final = 2
#: Columns of output that goes to a file or pipe (no terminal to ask): tables and help are not
#: squeezed into 80 columns there.
UNBOUNDED_WIDTH: Final = 200


def make_console(*, stderr: bool = False) -> Console:
    """A console that does not squeeze tables to 80 columns when output goes to a file."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else UNBOUNDED_WIDTH
    return Console(stderr=stderr, highlight=False, width=width)


def help_width() -> dict[str, str]:
    """The ``TERMINAL_WIDTH`` typer draws help with, when the terminal cannot tell (a pipe, a
    file, a terminal that reports no size): without it, help falls back to 80 columns and
    wraps every option's text. Empty on a terminal that knows its width, or when the variable
    is set already."""
    if "TERMINAL_WIDTH" in os.environ:
        return {}
    try:
        columns = os.get_terminal_size(sys.stdout.fileno()).columns
    except (OSError, ValueError):  # not a terminal (or no file descriptor at all)
        columns = 0
    return {} if columns else {"TERMINAL_WIDTH": str(UNBOUNDED_WIDTH)}


class _Lazy:
    """Consoles are made when first printed to, so that importing this module does no work."""

    def __init__(self, *, stderr: bool) -> None:
        self._stderr = stderr

    def __getattr__(self, name: str) -> Any:
        return getattr(make_console(stderr=self._stderr), name)


out = _Lazy(stderr=False)
err = _Lazy(stderr=True)


def settings_of(ctx: typer.Context) -> Settings:
    settings = ctx.obj
    if not isinstance(settings, Settings):  # pragma: no cover - the callback always sets it
        raise typer.Exit(EXIT_CONFIG)
    return settings


#: ``--executor`` of the commands that train or forecast (default: TALENTCAST_EXECUTOR).
ExecutorOption = Annotated[
    ExecutorKind | None,
    typer.Option(
        help="Where the tasks run: 'processes' (local worker processes) or 'dask' (the Dask "
        "cluster at TALENTCAST_DASK_ADDRESS, else a local one for this run); default "
        "TALENTCAST_EXECUTOR, else processes.",
        show_default=False,
    ),
]


def with_executor(settings: Settings, executor: ExecutorKind | None) -> Settings:
    """``settings`` with the executor a command was given (``None``: as configured)."""
    if executor is None:
        return settings
    return settings.model_copy(update={"executor": executor})


def open_configured(settings: Settings) -> Store:
    try:
        return open_store(settings.database_url)
    except sa.exc.OperationalError as error:
        reason = escape(str(error.orig))
        err.print(f"[red]cannot open the store at {settings.database_url}:[/red] {reason}")
        raise typer.Exit(EXIT_CONFIG) from error
