"""``--executor`` and TALENTCAST_EXECUTOR / TALENTCAST_DASK_ADDRESS: the same forecasts and runs
on a Dask cluster as on local processes, and bad values refused before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from distributed import Client, LocalCluster, get_task_stream
from typer.testing import CliRunner
from worlds import load_world

from data.ingest import open_store
from forecasting.pipeline import TrainingConfig, queue_run
from serving.cli import app

SERIES = "series_id,period,value\n" + "".join(
    f"{sid},{year},{base + 3 * (year - 2000) + (year * 7 + base) % 5}\n"
    for sid, base in (("a", 10), ("b", 100), ("c", 40))
    for year in range(2000, 2015)
)
#: A small city trained with small settings, so that a retrain takes seconds.
SMALL = {
    "TALENTCAST_SAMPLES": "200",
    "TALENTCAST_TRAIN_JOBS": "2",
    "TALENTCAST_HORIZON_YEARS": "3",
    # Two cut years: the replays of one alone would map its series fits, not itself.
    "TALENTCAST_BALANCE_BACKTEST_CUTS": "2",
    "TALENTCAST_MLFLOW_TRACKING_URI": "",
}


def forecast(tmp_path: Path, name: str, *extra: str) -> tuple[int, str, bytes]:
    source = tmp_path / "in.csv"
    source.write_text(SERIES, encoding="utf-8")
    target = tmp_path / f"{name}.csv"
    arguments = ["forecast", "--input", str(source), "--horizon", "3", "--output", str(target)]
    result = CliRunner().invoke(app, [*arguments, "--models", "naive,drift,damped", *extra])
    written = target.read_bytes() if target.exists() else b""
    return result.exit_code, result.stdout + result.stderr, written


def test_forecast_on_a_dask_cluster_writes_the_same_file(
    tmp_path: Path, dask_cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, output, local = forecast(tmp_path, "processes", "--jobs", "2")
    assert code == 0, output
    monkeypatch.setenv("TALENTCAST_DASK_ADDRESS", dask_cluster.scheduler_address)
    code, output, on_cluster = forecast(tmp_path, "dask", "--executor", "dask")
    assert code == 0, output
    assert on_cluster == local
    assert "run_task" in dask_cluster.scheduler.task_prefixes, "the backtests ran on the cluster"


def test_the_executor_setting_starts_a_local_cluster_for_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, output, serial = forecast(tmp_path, "serial")
    assert code == 0, output
    monkeypatch.setenv("TALENTCAST_EXECUTOR", "dask")
    code, output, on_cluster = forecast(tmp_path, "dask", "--jobs", "2")
    assert code == 0, output
    assert on_cluster == serial


def test_an_unknown_executor_is_a_usage_error(tmp_path: Path) -> None:
    code, output, written = forecast(tmp_path, "threads", "--executor", "threads")
    assert code == 2
    assert "Invalid value for '--executor'" in output
    assert "'processes', 'dask'" in output
    assert not written


@pytest.mark.parametrize(
    ("variable", "value"),
    [("TALENTCAST_EXECUTOR", "threads"), ("TALENTCAST_DASK_ADDRESS", "scheduler-without-port")],
)
def test_bad_executor_settings_are_named_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    code, output, written = forecast(tmp_path, "bad")
    assert code == 2
    assert "invalid settings" in output
    assert variable.removeprefix("TALENTCAST_").lower() in output
    assert not written


@pytest.mark.slow
@pytest.mark.parametrize("command", ["retrain", "scheduler"])
def test_retrain_and_the_scheduler_train_on_the_dask_cluster(
    tmp_path: Path, dask_cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    url = f"sqlite:///{tmp_path / 'world.db'}"
    store = open_store(url)
    try:
        load_world(store)
        queue_run(store, TrainingConfig())  # what the scheduler finds to do
    finally:
        store.dispose()
    for name, value in {**SMALL, "TALENTCAST_DASK_ADDRESS": dask_cluster.scheduler_address}.items():
        monkeypatch.setenv(name, value)
    arguments = [command, "--once"] if command == "scheduler" else [command]
    with Client(dask_cluster) as client, get_task_stream(client) as stream:
        result = CliRunner().invoke(app, ["--database-url", url, *arguments, "--executor", "dask"])
    assert result.exit_code == 0, result.stdout + result.stderr
    # Series fits, the balance backtest's replays and the quota solves all ran there.
    ran = {str(task["key"]).split("-")[0] for task in stream.data}
    assert {"_run_task", "replay_missing", "_solve"} <= ran


@pytest.mark.parametrize("command", ["retrain", "scheduler", "worker"])
def test_every_training_command_takes_the_executor_and_refuses_an_unknown_one(
    tmp_path: Path, command: str
) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = CliRunner().invoke(app, ["--database-url", url, command, "--executor", "threads"])
    assert result.exit_code == 2
    assert "Invalid value for '--executor'" in result.stdout + result.stderr
