"""``talentcast runs``: training runs, and the admin's explicit promote and rollback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from data.store import RunRecord, Store, StoreError
from forecasting.promotion import PromotionError, not_served_reason, promote, rollback
from serving.cli_keys import cli_actor
from serving.console import EXIT_REJECTED, err, open_configured, out, settings_of
from serving.settings import Settings

runs_app = typer.Typer(help="Training runs: list, promote, roll back.", no_args_is_help=True)


@runs_app.command("list")
def runs_list(
    ctx: typer.Context, limit: Annotated[int, typer.Option(help="Newest runs to show.")] = 20
) -> None:
    """Runs, newest first, with status, watermark, gates, which one is served and how each cut
    year of its balance backtest was done (replayed, or reused from an earlier retrain)."""
    store = open_configured(settings_of(ctx))
    try:
        records = store.runs(limit=limit)
    finally:
        store.dispose()
    table = Table(title="Training runs")
    columns = (
        "run",
        "status",
        "watermark",
        "finished",
        "gates",
        "served",
        "backtest",
        "error / why",
    )
    for column in columns:
        table.add_column(column, overflow="fold")
    for record in records:
        gates = record.metrics.get("gates", {})
        table.add_row(
            f"#{record.id}",
            record.status.value,
            f"#{record.watermark}",
            record.finished_at.strftime("%Y-%m-%d %H:%M") if record.finished_at else "",
            "" if not gates else ("passed" if gates.get("passed") else "failed"),
            "served" if record.served else "",
            backtest_cuts(record),
            escape((record.error or not_served_reason(record) or "")[:300]),
        )
    out.print(table)


def backtest_cuts(record: RunRecord) -> str:
    """``2021 reused 1.1 s``, one line per cut year of the run's balance backtest."""
    return "\n".join(
        f"{cut['cut']} {cut['status']} {float(cut['seconds']):.1f} s"
        for cut in record.metrics.get("balance_backtest_replays", [])
    )


@runs_app.command("promote")
def runs_promote(
    ctx: typer.Context, run_id: Annotated[int, typer.Argument(help="A succeeded run.")]
) -> None:
    """Serve this run now, whatever its gates said (an audited admin decision)."""
    settings = settings_of(ctx)
    _change(settings, lambda store: promote(store, run_id, actor=cli_actor()))


@runs_app.command("rollback")
def runs_rollback(ctx: typer.Context) -> None:
    """Serve again the run that was served before the current one."""
    settings = settings_of(ctx)
    _change(settings, lambda store: rollback(store, actor=cli_actor()))


def _change(settings: Settings, action: Callable[[Store], RunRecord]) -> None:
    store = open_configured(settings)
    try:
        run = action(store)
    except (PromotionError, StoreError) as error:
        err.print(f"[red]refused:[/red] {escape(str(error))}")
        raise typer.Exit(EXIT_REJECTED) from error
    finally:
        store.dispose()
    tracker = settings.tracker()
    if tracker is not None:
        try:
            tracker.set_champion(run)
        except LookupError as error:
            err.print(f"[yellow]MLflow alias unchanged:[/yellow] {escape(str(error))}")
    out.print(f"run #{run.id} is served")
