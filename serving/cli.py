"""The ``talentcast`` command line.

Each command builds the settings once (environment, ``.env`` or ``--database-url``), opens the
store and calls the same functions the HTTP API uses; nothing here holds logic of its own beyond
argument handling and printing.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from data.catalog import REFERENCE_CATALOGS, load_default_catalog, load_reference_catalog
from data.ingest import ingest_catalog, ingest_file
from data.problems import UploadRejected
from data.store import NoCatalog, Store, StoredUpload, UnknownUpload, UploadRecord
from data.vocabulary import Kind
from serving.cli_keys import cli_actor, keys_app
from serving.cli_policy import policy_app, scenario
from serving.cli_runs import runs_app
from serving.cli_scheduler import scheduler, worker
from serving.console import (
    EXIT_CONFIG,
    EXIT_REJECTED,
    ExecutorOption,
    err,
    help_width,
    out,
    with_executor,
)
from serving.console import open_configured as _open
from serving.console import settings_of as _settings
from serving.progress import Timings, terminal_progress
from serving.settings import Settings

app = typer.Typer(
    help="Talentcast: talent supply-demand forecasts for a city's education commission.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
uploads_app = typer.Typer(help="Uploads stored so far.", no_args_is_help=True)
catalog_app = typer.Typer(help="Fields, programmes and the crosswalk.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(uploads_app, name="uploads")
app.add_typer(catalog_app, name="catalog")
app.add_typer(policy_app, name="policy")
app.add_typer(keys_app, name="keys")
app.add_typer(runs_app, name="runs")
app.command()(scenario)
app.command()(scheduler)
app.command()(worker)


@app.callback()
def _configure(
    ctx: typer.Context,
    database_url: Annotated[
        str | None,
        typer.Option(help="Store URL (overrides TALENTCAST_DATABASE_URL).", show_default=False),
    ] = None,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            help="Show the libraries' log lines, warnings and progress bars too "
            "(TALENTCAST_VERBOSE).",
        ),
    ] = False,
) -> None:
    overrides: dict[str, object] = {"database_url": database_url} if database_url else {}
    if verbose:
        overrides["verbose"] = True
    try:
        ctx.obj = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        err.print(f"[red]invalid settings:[/red] {escape(str(error))}")
        raise typer.Exit(EXIT_CONFIG) from error


def _print_rejection(rejected: UploadRejected, as_json: bool) -> None:
    if as_json:
        payload = {
            "status": "rejected",
            "problem_count": rejected.total,
            "problems": [problem.to_dict() for problem in rejected.problems],
        }
        out.print_json(json.dumps(payload, ensure_ascii=False))
        return
    err.print(f"[red]rejected[/red]: {rejected.total} problem(s); nothing was stored")
    for problem in rejected.problems:
        err.print(f"  {problem}", markup=False)
    if rejected.total > len(rejected.problems):
        err.print(f"  ... and {rejected.total - len(rejected.problems)} more")


def _describe(stored: StoredUpload) -> str:
    upload = stored.upload
    if not stored.created:
        return (
            f"identical content is already stored as upload #{upload.id} "
            f"({upload.created_at:%Y-%m-%d %H:%M} UTC); nothing changed"
        )
    replaced = f", {upload.replaced_rows} replace earlier values" if upload.replaced_rows else ""
    return f"accepted {upload.row_count} rows as upload #{upload.id}{replaced}"


def _upload_dict(upload: UploadRecord) -> dict[str, object]:
    return {**upload.__dict__, "created_at": upload.created_at.isoformat()}


@app.command()
def ingest(
    ctx: typer.Context,
    kind: Annotated[Kind, typer.Argument(help="What the file holds.")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    uploader: Annotated[str, typer.Option(help="Who sends the data (recorded).")] = "cli",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Validate FILE (CSV, XLSX or JSON) and store it as one upload, or list its problems."""
    settings = _settings(ctx)
    store = _open(settings)
    try:
        with terminal_progress(f"ingest {file.name}", quiet=as_json) as progress:
            timings = Timings(progress)
            with timings.stage("read"):
                content = file.read_bytes()
            with timings.stage("validate and store"):
                stored = ingest_file(
                    store,
                    kind,
                    content,
                    filename=file.name,
                    uploader=uploader,
                    options=settings.ingest_options(),
                )
            timings.finished()
    except UploadRejected as rejected:
        _print_rejection(rejected, as_json)
        raise typer.Exit(EXIT_REJECTED) from rejected
    except NoCatalog as missing:
        err.print(f"[red]{escape(str(missing))}[/red]")
        raise typer.Exit(EXIT_REJECTED) from missing
    finally:
        store.dispose()
    if as_json:
        payload = {"status": "accepted", "created": stored.created, **_upload_dict(stored.upload)}
        out.print_json(json.dumps(payload, ensure_ascii=False))
    else:
        out.print(_describe(stored))


@app.command()
def forecast(
    ctx: typer.Context,
    input_file: Annotated[
        Path,
        typer.Option("--input", exists=True, dir_okay=False, help="series_id,period,value file."),
    ],
    horizon: Annotated[int, typer.Option(min=1, help="Periods to forecast.")],
    output: Annotated[Path, typer.Option(dir_okay=False, help="Where to write the forecasts.")],
    level: Annotated[
        list[int] | None, typer.Option(help="Interval level in percent (repeatable).")
    ] = None,
    models: Annotated[
        list[str] | None,
        typer.Option(
            help="Candidate models (repeatable or comma-separated); default by frequency."
        ),
    ] = None,
    jobs: Annotated[int, typer.Option(help="Worker processes (-1: one per core).")] = 1,
    fill_gaps: Annotated[
        bool, typer.Option(help="Interpolate missing periods instead of refusing the file.")
    ] = False,
    executor: ExecutorOption = None,
) -> None:
    """Forecast every series of a file with backtested model selection and calibrated intervals."""
    from features.panel import MissingPeriods, PanelError
    from features.series_file import forecast_file, read_series_file
    from forecasting.engine import ForecastEngine
    from forecasting.executors import executor_for, run_executor
    from forecasting.progress import fitting
    from models.base import ModelError

    settings = with_executor(_settings(ctx), executor)
    # One pool or cluster for the backtests and the fit: jobs workers, or the configured cluster.
    where = (jobs, settings.executor, settings.dask_address or None)
    levels = tuple(level or (80, 95))
    names = [n.strip() for item in (models or []) for n in item.split(",") if n.strip()] or None
    try:
        with terminal_progress(f"forecast {input_file.name}") as progress:
            timings = Timings(progress)
            with timings.stage("read"):
                panel = read_series_file(
                    input_file.read_bytes(),
                    input_file.name,
                    gaps="interpolate" if fill_gaps else "error",
                )
            engine = ForecastEngine(
                horizon, models=names, levels=levels, n_jobs=jobs, executor=executor_for(*where)
            )
            with timings.stage("backtest and fit"), run_executor(*where):
                engine.fit(panel, fitting(progress, "input", panel))
            with timings.stage("predict"):
                result = engine.predict(levels)
            timings.finished()
    except UploadRejected as rejected:
        _print_rejection(rejected, as_json=False)
        raise typer.Exit(EXIT_REJECTED) from rejected
    except MissingPeriods as error:
        again = ["talentcast", "forecast", "--input", str(input_file), "--horizon", str(horizon)]
        again += ["--output", str(output), *(f"--level={lv}" for lv in level or ())]
        again += [*(f"--models={name}" for name in names or ()), f"--jobs={jobs}", "--fill-gaps"]
        again += [f"--executor={executor}"] if executor else []
        err.print(f"[red]cannot forecast:[/red] {escape(str(error))}:")
        err.print(f"  {shlex.join(again)}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_REJECTED) from error
    except (PanelError, ModelError, ConnectionError) as error:
        err.print(f"[red]cannot forecast:[/red] {escape(str(error))}")
        raise typer.Exit(EXIT_REJECTED) from error
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(forecast_file(result.to_frame(), levels))
    report = engine.report_
    out.print(
        f"forecast {panel.n_series} {panel.freq} series {horizon} steps ahead with "
        f"{report.selection.label} (backtest score {report.selection.score:.3f} vs naive = 1); "
        f"{report.seconds['total']:.1f} s; wrote {output}"
    )
    if result.fallback:
        out.print(f"{len(result.fallback)} series were too short for some models (naive fallback)")
    for note in report.interval_notes():
        err.print(f"[yellow]intervals:[/yellow] {escape(note)}")


@app.command()
def demo(
    ctx: typer.Context,
    reset: Annotated[
        bool, typer.Option(help="Delete the SQLite store first (refused for PostgreSQL).")
    ] = False,
    serve: Annotated[bool, typer.Option(help="Serve the API and dashboard afterwards.")] = True,
) -> None:
    """Load the embedded Tianjin demo dataset, train on it, and serve the API and dashboard."""
    from data.demo import demo_files, load_demo

    settings = _settings(ctx)
    if reset:
        _reset_sqlite(settings.database_url)
    store = _open(settings)
    try:
        results = load_demo(store, settings.ingest_options())
        served = store.served_run()
        table = Table(title="Demo uploads")
        for column in ("upload", "kind", "file", "rows", "replaced", "result"):
            table.add_column(column, overflow="fold")
        for (kind, filename, _uploader), stored in zip(demo_files(), results, strict=True):
            table.add_row(
                f"#{stored.upload.id}",
                kind,
                filename,
                str(stored.upload.row_count),
                str(stored.upload.replaced_rows),
                "stored" if stored.created else "already stored",
            )
        out.print(table)
        out.print(f"store {store.url} is at upload #{store.watermark()}")
        if served is not None and served.watermark == store.watermark():
            out.print(f"run #{served.id} already covers these data; not retraining")
        else:
            _train_and_report(store, settings)
        keys = _demo_keys(store)
    finally:
        store.dispose()
    out.print("demo keys (new each time `talentcast demo` runs; the previous ones are revoked):")
    for name, secret in keys.items():
        out.print(f"  {name:<24} {secret}", markup=False)
    if serve:
        _serve(settings)


def _demo_keys(store: Store) -> dict[str, str]:
    """Fresh keys for the demo's three kinds of users (old demo keys are revoked)."""
    from serving.auth import issue_key

    wanted = {
        "demo-admin": ("admin", []),
        "demo-planner": ("planner", []),
        "demo-ic-association": ("association", ["ic"]),
    }
    active = {record.name for record in store.keys(include_revoked=False)}
    secrets = {}
    for name, (role, fields) in wanted.items():
        if name in active:
            store.revoke_key(name, actor="demo")
        secrets[name] = issue_key(store, name, role, fields, actor="demo")[1]
    return secrets


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Listen address (TALENTCAST_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (TALENTCAST_PORT).")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Server processes (TALENTCAST_WORKERS).")
    ] = None,
) -> None:
    """Serve the HTTP API and the dashboard until interrupted."""
    settings = _settings(ctx)
    overrides = {"host": host, "port": port, "workers": workers}
    try:
        settings = settings.model_copy(
            update={key: value for key, value in overrides.items() if value is not None}
        )
        settings = Settings.model_validate(settings.model_dump())
    except ValidationError as error:
        err.print(f"[red]invalid settings:[/red] {escape(str(error))}")
        raise typer.Exit(EXIT_CONFIG) from error
    _open(settings).dispose()  # migrate and check the store before announcing anything
    _serve(settings)


def _serve(settings: Settings) -> None:
    import uvicorn

    from serving.worker import companion_worker

    # Server processes build their own app from the environment (serving.asgi).
    os.environ.update(settings.as_environment())
    out.print(
        f"serving the dashboard at http://{settings.host}:{settings.port}/ and the API at "
        f"http://{settings.host}:{settings.port}/api/v1 (Ctrl+C to stop)"
    )
    with companion_worker(settings):  # the server only queues runs; the worker trains
        uvicorn.run(
            "serving.asgi:create",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            http="serving.http:NoDelayH11Protocol",
            log_level="info" if settings.verbose else "warning",
        )


@app.command()
def retrain(
    ctx: typer.Context,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the run's record as JSON (no progress).")
    ] = False,
    executor: ExecutorOption = None,
) -> None:
    """Train on everything stored now and serve the new run if it succeeds."""
    settings = with_executor(_settings(ctx), executor)
    store = _open(settings)
    try:
        _train_and_report(store, settings, as_json=as_json)
    finally:
        store.dispose()


def _train_and_report(store: Store, settings: Settings, *, as_json: bool = False) -> None:
    """One retrain under the lease (so it never overlaps the scheduler's or the server's)."""
    from forecasting.jobs import retrain
    from forecasting.pipeline import STAGES

    try:
        store.catalog()
    except NoCatalog as missing:
        err.print(f"[red]not retraining:[/red] {escape(str(missing))}")
        raise typer.Exit(EXIT_REJECTED) from missing
    if not as_json:
        out.print(
            f"training on uploads up to #{store.watermark()} "
            f"({settings.horizon_years} years ahead, {settings.samples} samples) ..."
        )
    with terminal_progress("training", quiet=as_json) as progress:
        outcome = retrain(
            store,
            settings.training_config(),
            holder=f"{cli_actor()}@{socket.gethostname()}:{os.getpid()}",
            city_region=settings.city_region,
            ttl_seconds=settings.retrain_lease_seconds,
            queued_first=False,
            tracker=settings.tracker(),
            requested_by=cli_actor(),
            progress=progress,
        )
    if outcome.status == "skipped":
        err.print(f"[red]not retraining:[/red] {escape(outcome.describe())}")
        raise typer.Exit(EXIT_REJECTED)
    if outcome.status == "failed" or outcome.result is None:
        label = f"run #{outcome.run.id}" if outcome.run is not None else "the run"
        err.print(f"[red]{label} failed:[/red] {escape(outcome.error or '')}")
        raise typer.Exit(EXIT_REJECTED)
    result = outcome.result
    run = result.run
    if as_json:
        payload = {
            "run": run.id,
            "status": str(run.status),
            "served": run.served,
            "watermark": run.watermark,
            "gate_failures": list(result.gates.failures),
            "timings": {stage: run.timings[stage] for stage in STAGES if stage in run.timings},
            "metrics": {key: run.metrics.get(key) for key in _SUMMARY_METRICS},
        }
        out.print_json(json.dumps(payload, ensure_ascii=False))
        return
    seconds = ", ".join(
        f"{stage} {run.timings[stage]:.1f} s" for stage in STAGES if stage in run.timings
    )
    if result.promoted:
        out.print(f"run #{run.id} {run.status} and served ({seconds})")
    else:
        out.print(f"run #{run.id} {run.status} but NOT served: it failed the quality gates")
        for failure in result.gates.failures:
            out.print(f"  {failure}", markup=False)
    metrics = run.metrics
    out.print(
        f"{metrics['programmes_warned']} programmes warned by the employment rules; quotas for "
        f"{metrics['quota_intake_year']}: {metrics['quotas_raised']} raised, "
        f"{metrics['quotas_cut']} cut, {metrics['quotas_stopped']} stopped"
    )


#: The counts ``retrain --json`` reports besides the run's record.
_SUMMARY_METRICS = (
    "programmes_warned",
    "quota_intake_year",
    "quotas_raised",
    "quotas_cut",
    "quotas_stopped",
)


def _reset_sqlite(url: str) -> None:
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        err.print(
            "[red]--reset only deletes SQLite files; empty a PostgreSQL database yourself[/red]"
        )
        raise typer.Exit(EXIT_CONFIG)
    for suffix in ("", "-wal", "-shm"):
        Path(parsed.database + suffix).unlink(missing_ok=True)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create or migrate the store's tables (an empty store stays empty: load a catalog next)."""
    store = _open(_settings(ctx))
    out.print(f"store {store.url} is up to date (upload #{store.watermark()})")
    store.dispose()


@uploads_app.command("list")
def uploads_list(
    ctx: typer.Context,
    kind: Annotated[str | None, typer.Option(help="Only this kind.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
) -> None:
    """Newest uploads first."""
    store = _open(_settings(ctx))
    try:
        table = Table()
        for column in (
            "id",
            "kind",
            "uploader",
            "file",
            "rows",
            "replaced",
            "status",
            "time (UTC)",
        ):
            table.add_column(column)
        for upload in store.uploads(kind=kind, limit=limit):
            table.add_row(
                str(upload.id),
                upload.kind,
                upload.uploader,
                upload.filename or "",
                str(upload.row_count),
                str(upload.replaced_rows),
                upload.status,
                f"{upload.created_at:%Y-%m-%d %H:%M:%S}",
            )
        out.print(table)
    finally:
        store.dispose()


@uploads_app.command("show")
def uploads_show(ctx: typer.Context, upload_id: int) -> None:
    """One upload's record as JSON."""
    store = _open(_settings(ctx))
    try:
        upload = store.upload(upload_id)
    except UnknownUpload as error:
        err.print(f"[red]{escape(str(error))}[/red]")
        raise typer.Exit(EXIT_REJECTED) from error
    finally:
        store.dispose()
    out.print_json(json.dumps(_upload_dict(upload), ensure_ascii=False))


@catalog_app.command("load")
def catalog_load(
    ctx: typer.Context,
    programmes: Annotated[
        Path | None,
        typer.Argument(exists=True, dir_okay=False, help="Programmes with their crosswalk."),
    ] = None,
    fields: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="New fields file.")
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option(help=f"A shipped catalog instead of files: {', '.join(REFERENCE_CATALOGS)}."),
    ] = None,
    uploader: Annotated[str, typer.Option()] = "cli",
) -> None:
    """Replace the catalog (programmes with crosswalk; optionally the fields; a store's first
    catalog needs both), or load a shipped one with ``--reference``."""
    if (programmes is None) == (reference is None):
        err.print("[red]give either a programmes file or --reference NAME[/red]")
        raise typer.Exit(EXIT_CONFIG)
    settings = _settings(ctx)
    store = _open(settings)
    try:
        if reference is not None:
            stored = store.add_catalog(
                load_reference_catalog(reference), uploader=uploader, filename=reference
            )
        elif programmes is not None:
            stored = ingest_catalog(
                store,
                programmes.read_bytes(),
                fields=fields.read_bytes() if fields else None,
                uploader=uploader,
                filename=programmes.name,
                max_bytes=settings.ingest_options().max_bytes,
            )
        else:  # pragma: no cover - refused above
            raise typer.Exit(EXIT_CONFIG)
    except UploadRejected as rejected:
        _print_rejection(rejected, as_json=False)
        raise typer.Exit(EXIT_REJECTED) from rejected
    except ValueError as error:
        err.print(f"[red]{escape(str(error))}[/red]")
        raise typer.Exit(EXIT_CONFIG) from error
    finally:
        store.dispose()
    out.print(_describe(stored))


@catalog_app.command("export")
def catalog_export(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Argument(file_okay=False, help="Where to write the files.")],
    default: Annotated[bool, typer.Option(help="Export the shipped default instead.")] = False,
) -> None:
    """Write the catalog in force as fields.csv and programmes.csv (UTF-8 with BOM, for Excel)."""
    if default:
        catalog = load_default_catalog()
    else:
        store = _open(_settings(ctx))
        try:
            catalog = store.catalog()
        finally:
            store.dispose()
    folder.mkdir(parents=True, exist_ok=True)
    catalog.fields.to_csv(folder / "fields.csv", index=False, encoding="utf-8-sig")
    catalog.to_long_programmes().to_csv(
        folder / "programmes.csv", index=False, encoding="utf-8-sig"
    )
    out.print(
        f"wrote {len(catalog.fields)} fields and {len(catalog.programmes)} programmes to {folder}"
    )


def main() -> None:
    """Console entry point (``talentcast``)."""
    os.environ.update(help_width())  # read when help is first drawn, so set before the app runs
    app()


__all__ = ["app", "main"]


if __name__ == "__main__":
    main()
