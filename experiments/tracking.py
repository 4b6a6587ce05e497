"""MLflow record of every training run, and the registered forecaster with its aliases.

For each run the store finished, :class:`MlflowTracker` logs an MLflow run with the parameters
(data watermark, configuration, code version), the metrics (backtest errors and interval
coverage per series kind and model family, the quality gates, counts a planner reads, stage
timings), the artifacts (forecast, balance, recommendation and backtest tables, the gate
report, a few plots) and registers the forecaster (:mod:`experiments.forecaster_model`) as a
new version of ``talentcast-forecaster``. The version of the served run carries the alias
``champion``; a run that was kept but not served gets ``challenger``. Aliases, not the
deprecated stages.

The default tracking store is an SQLite file under ``var/``; a tracking server is one URI
away. MLflow's client keeps its tracking URI as process state, so the tracker sets it for the
duration of each call and restores it after.

The MLflow run spans the training itself: it starts when the store run started and ends when
it finished, so MLflow's duration is the training's wall time, not the seconds of logging.

Unless ``verbose``, each call is quiet: MLflow's own log lines and messages, its warnings and
its artifact progress bars are switched off with MLflow's switches for the call's duration,
so that an operator's terminal and a server's log show Talentcast's lines only.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema
from mlflow.utils.autologging_utils import MlflowEventsAndWarningsBehaviorGlobally

from data.store.runs import RunRecord
from forecasting.pipeline import TrainingResult

MODEL_NAME: Final = "talentcast-forecaster"
EXPERIMENT: Final = "talentcast"
CHAMPION: Final = "champion"
CHALLENGER: Final = "challenger"
RUN_TAG: Final = "talentcast.run_id"
MODEL_CODE: Final = Path(__file__).with_name("forecaster_model.py")
#: The forecaster's input: one question per row; only ``output`` is required.
QUESTION_SIGNATURE: Final = ModelSignature(
    inputs=Schema(
        [
            ColSpec("string", "output"),
            *(
                ColSpec("string", name, required=False)
                for name in ("kind", "series_id", "field_code", "level")
            ),
            ColSpec("long", "year", required=False),
        ]
    )
)


class MlflowTracker:
    """Logs finished runs to MLflow and keeps the registry's aliases in step with the store.

    ``tracking_uri``: where MLflow keeps runs and the registry (``sqlite:///var/mlflow.db``
    or ``http://mlflow:5000``); ``artifact_root``: where a new experiment stores artifacts
    (a folder or URI; None lets the server decide); ``verbose``: let MLflow's log lines,
    warnings and progress bars through.
    """

    def __init__(
        self,
        tracking_uri: str,
        artifact_root: str | None = None,
        experiment: str = EXPERIMENT,
        model_name: str = MODEL_NAME,
        *,
        verbose: bool = False,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.artifact_root = artifact_root
        self.experiment = experiment
        self.model_name = model_name
        self.verbose = verbose

    # -- the RunTracker protocol ------------------------------------------------------------

    def log_run(self, result: TrainingResult) -> None:
        """One MLflow run and one registered model version for a finished store run."""
        run = result.run
        with self._tracking() as client, tempfile.TemporaryDirectory() as folder:
            experiment_id = self._experiment_id(client)
            files = _write_tables(result, Path(folder))
            created = client.create_run(
                experiment_id,
                start_time=_millis(run.started_at),
                tags=_tags(result),
                run_name=f"run-{run.id}",
            )
            with mlflow.start_run(run_id=created.info.run_id) as logged:
                mlflow.log_params(_params(run))
                mlflow.log_metrics(_metrics(result))
                for path in files.values():
                    mlflow.log_artifact(str(path), artifact_path="tables")
                for path in _plots(result, Path(folder)):
                    mlflow.log_artifact(str(path), artifact_path="plots")
                mlflow.log_dict(run.config, "config.json")
                mlflow.log_dict(result.gates.to_dict(), "gates.json")
                info = mlflow.pyfunc.log_model(
                    name="forecaster",
                    python_model=str(MODEL_CODE),
                    artifacts={
                        "forecasts": str(files["forecasts"]),
                        "balance": str(files["balance"]),
                    },
                    signature=QUESTION_SIGNATURE,
                    pip_requirements=["mlflow", "pandas"],
                    registered_model_name=self.model_name,
                )
            # Ending the block stamped the end of the logging; the run ended when training did.
            client.set_terminated(logged.info.run_id, end_time=_millis(run.finished_at))
            version = str(info.registered_model_version)
            client.set_model_version_tag(self.model_name, version, RUN_TAG, str(run.id))
            client.set_model_version_tag(self.model_name, version, "mlflow_run", logged.info.run_id)
            alias = CHAMPION if run.served else CHALLENGER
            client.set_registered_model_alias(self.model_name, alias, version)

    # -- registry ---------------------------------------------------------------------------

    def set_champion(self, run: RunRecord) -> ModelVersion:
        """Point ``champion`` at the version of ``run`` (after an admin promotion/rollback)."""
        with self._tracking() as client:
            version = self.version_of(client, run.id)
            client.set_registered_model_alias(self.model_name, CHAMPION, version.version)
            return version

    def alias(self, name: str) -> ModelVersion | None:
        """The version an alias points at, or None if the alias (or the model) is not set."""
        with self._tracking() as client:
            try:
                return client.get_model_version_by_alias(self.model_name, name)
            except mlflow.exceptions.MlflowException:
                return None

    def versions(self) -> list[ModelVersion]:
        """Every registered version of the forecaster, newest first."""
        with self._tracking() as client:
            found = client.search_model_versions(f"name='{self.model_name}'")
            return sorted(found, key=lambda v: int(v.version), reverse=True)

    def version_of(self, client: MlflowClient, run_id: int) -> ModelVersion:
        found = client.search_model_versions(
            f"name='{self.model_name}' and tags.`{RUN_TAG}` = '{run_id}'"
        )
        if not found:
            raise LookupError(f"run {run_id} has no registered version of {self.model_name}")
        return max(found, key=lambda v: int(v.version))

    # -- helpers ----------------------------------------------------------------------------

    @contextmanager
    def _tracking(self) -> Iterator[MlflowClient]:
        if self.tracking_uri.startswith("sqlite:///"):
            # MLflow creates the database file but not its folder (var/ on a fresh checkout).
            Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(
                parents=True, exist_ok=True
            )
        previous = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        try:
            with nullcontext() if self.verbose else _quiet_mlflow():
                yield MlflowClient(self.tracking_uri, self.tracking_uri)
        finally:
            if previous is not None:
                mlflow.set_tracking_uri(previous)

    def _experiment_id(self, client: MlflowClient) -> str:
        experiment = client.get_experiment_by_name(self.experiment)
        if experiment is not None:
            return str(experiment.experiment_id)
        location = _artifact_uri(self.artifact_root) if self.artifact_root else None
        return str(client.create_experiment(self.experiment, artifact_location=location))


@contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """MLflow without its chatter for the duration of the block: its event log (INFO lines
    such as "Creating initial MLflow database tables" and messages such as "Created
    version"), its warnings (coloured with raw ANSI codes) and its artifact progress bars.

    MLflow's own counted switch is used for the first two: MLflow flips the same switch
    inside some of its modules when they are imported, and a plain ``disable_logging()``
    would be undone by the first such import during the call.
    """
    bar = MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.name
    previous_bar = os.environ.get(bar)
    os.environ[bar] = "false"
    try:
        with MlflowEventsAndWarningsBehaviorGlobally(
            reroute_warnings=False, disable_event_logs=True, disable_warnings=True
        ):
            yield
    finally:
        if previous_bar is None:
            os.environ.pop(bar, None)
        else:
            os.environ[bar] = previous_bar


def _millis(moment: datetime | None) -> int | None:
    """A store timestamp as MLflow's milliseconds since the epoch (None: MLflow's now)."""
    return None if moment is None else int(moment.timestamp() * 1000)


def _artifact_uri(root: str) -> str:
    """A folder becomes an absolute file URI (MLflow resolves relative ones against the
    working directory of whoever reads them later)."""
    if "://" in root:
        return root
    return Path(root).resolve().as_uri()


def _tags(result: TrainingResult) -> dict[str, str]:
    run = result.run
    return {
        RUN_TAG: str(run.id),
        "talentcast.watermark": str(run.watermark),
        "talentcast.served": str(run.served).lower(),
        "talentcast.gates_passed": str(result.gates.passed).lower(),
    }


def _params(run: RunRecord) -> dict[str, Any]:
    """The watermark, code version and the configuration, flattened (the policy's rules go
    to ``config.json`` whole: they are too long for parameters)."""
    params: dict[str, Any] = {"watermark": run.watermark, "code_version": run.code_version}
    for section, values in run.config.items():
        if isinstance(values, Mapping):
            for key, value in values.items():
                if key != "rules":
                    params[f"{section}.{key}"] = (
                        json.dumps(value) if isinstance(value, Mapping | list) else value
                    )
        else:
            params[section] = values
    return params


def _metrics(result: TrainingResult) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for row in result.backtests.to_dict(orient="records"):
        for name in ("mase", "smape", "relative", "coverage_80", "coverage_95"):
            value = row.get(name)
            if value is not None and pd.notna(value):
                metrics[f"backtest.{row['kind']}.{row['model']}.{name}"] = float(value)
    for name, value in result.run.metrics.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            metrics[f"run.{name}"] = float(value)
    for stage, seconds in result.run.timings.items():
        metrics[f"seconds.{stage}"] = float(seconds)
    metrics["gates.passed"] = float(result.gates.passed)
    return metrics


def _write_tables(result: TrainingResult, folder: Path) -> dict[str, Path]:
    tables = {**result.outputs, "backtest": result.backtests}
    paths = {}
    for name in ("forecasts", "balance", "recommendations", "warnings", "drivers", "backtest"):
        frame = tables.get(name)
        if frame is None:
            continue
        path = folder / f"{name}.csv"
        frame.to_csv(path, index=False)
        paths[name] = path
    return paths


def _plots(result: TrainingResult, folder: Path) -> list[Path]:
    """Two pictures a reviewer looks at first: P(shortage) by field and year, and the
    backtest score of each kind's chosen forecast against naive."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers
    import matplotlib.pyplot as plt

    paths = []
    balance = result.outputs["balance"]
    last = int(result.run.metrics.get("last_observed_year", 0))
    future = balance[(balance["level"] == "all") & (balance["field_code"] != "all")]
    future = future[future["year"] > last]
    if not future.empty:
        grid = future.pivot_table(index="field_code", columns="year", values="p_shortage")
        figure, axes = plt.subplots(figsize=(8, max(3, 0.25 * len(grid))))
        image = axes.imshow(grid.to_numpy(), aspect="auto", cmap="RdYlBu_r", vmin=0, vmax=1)
        axes.set_yticks(range(len(grid)), grid.index)
        axes.set_xticks(range(len(grid.columns)), [str(c) for c in grid.columns])
        axes.set_title(f"P(shortage), all levels — run {result.run.id}")
        figure.colorbar(image, ax=axes)
        figure.tight_layout()
        path = folder / "p_shortage.png"
        figure.savefig(path, dpi=100)
        plt.close(figure)
        paths.append(path)
    selected = result.backtests[result.backtests["model"] == "selected"]
    if not selected.empty:
        figure, axes = plt.subplots(figsize=(6, 3))
        axes.bar(selected["kind"], selected["relative"], color="#4C78A8")
        axes.axhline(1.0, color="#555", linestyle="--", linewidth=1)
        axes.set_ylabel("backtest error ÷ naive")
        axes.set_title(f"Chosen forecasts vs naive — run {result.run.id}")
        figure.tight_layout()
        path = folder / "backtest_relative.png"
        figure.savefig(path, dpi=100)
        plt.close(figure)
        paths.append(path)
    return paths
