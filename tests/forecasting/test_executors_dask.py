"""The Dask executor on a real cluster: the same results as serial and the process pool, in
task order, with progress, and a task's own error raised to the caller."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from distributed import Client, LocalCluster, get_task_stream
from pool_tasks import nap, pid, refuse_three, square
from worlds import load_world

from data.ingest import open_store
from data.store.tables import balance_replays
from features.panel import Panel
from forecasting import executors_dask
from forecasting.engine import ForecastEngine
from forecasting.executors import (
    Executor,
    ProcessExecutor,
    SerialExecutor,
    executor_for,
    run_executor,
)
from forecasting.executors_dask import DaskExecutor
from forecasting.pipeline import TrainingConfig, train
from forecasting.promotion import Gates
from forecasting.quotas import QuotaSettings
from forecasting.settings import BalanceSettings
from models.base import ModelError
from serving.settings import Settings

#: A small city's run: two jobs, one cut year replayed with both candidate demand models (two
#: balances, so they run as tasks), two quota re-solves; coverage gates open (short backtests).
SMALL = TrainingConfig(
    balance=BalanceSettings(horizon=3, n_samples=200, n_jobs=2),
    quotas=QuotaSettings(scenarios=30, resamples=2),
    gates=Gates(coverage_80=(0.0, 1.0), coverage_95=(0.0, 1.0)),
    # Two cut years: the replays of one alone would map its series fits, not itself.
    balance_backtest_cuts=2,
)
#: A statistical member, a global learner and the naive baseline, on yearly series.
MODELS = ["naive", "drift", "damped", "lightgbm"]


def walks(n: int, length: int, seed: int) -> Panel:
    rng = np.random.default_rng(seed)
    return Panel.from_arrays(
        {f"s{i}": 80 + np.cumsum(0.5 + rng.normal(0, 2, length)) for i in range(n)}, freq="Y"
    )


def test_tasks_run_on_the_clusters_workers_in_task_order(dask_cluster: LocalCluster) -> None:
    with Client(dask_cluster) as client:
        workers = set(client.run(os.getpid).values())
    executor = DaskExecutor(address=dask_cluster.scheduler_address)
    assert executor.map(square, list(range(9))) == [v * v for v in range(9)]
    assert set(executor.map(pid, list(range(8)))) <= workers
    assert executor.map(square, []) == []


def test_progress_counts_tasks_as_they_finish_and_results_stay_in_order(
    dask_cluster: LocalCluster,
) -> None:
    seen: list[tuple[int, int]] = []
    tasks = list(range(10))
    results = DaskExecutor(address=dask_cluster.scheduler_address).map(
        nap, tasks, lambda done, total: seen.append((done, total))
    )
    assert results == tasks
    assert seen == [(done, 10) for done in range(1, 11)]


def test_a_failing_task_raises_its_own_error_to_the_caller(dask_cluster: LocalCluster) -> None:
    with pytest.raises(ModelError, match="series 3 cannot be fitted"):
        DaskExecutor(address=dask_cluster.scheduler_address).map(refuse_three, list(range(6)))
    # The cluster is still usable afterwards: nothing of the failed map is left running.
    assert DaskExecutor(address=dask_cluster.scheduler_address).map(square, [4]) == [16]


def test_a_run_starts_one_local_cluster_of_its_job_count_and_closes_it() -> None:
    executor = executor_for(2, "dask")
    with run_executor(2, "dask"):
        first = set(executor.map(pid, list(range(6))))
        second = set(executor.map(pid, list(range(6))))
    assert os.getpid() not in first
    assert first == second, "one cluster for every map of the run"
    assert len(first) <= 2, "two workers for two jobs"
    for worker in first:  # the workers ended with the run
        with pytest.raises(ProcessLookupError):
            os.kill(worker, 0)


@pytest.mark.slow
def test_the_engine_gives_identical_arrays_on_every_executor(dask_cluster: LocalCluster) -> None:
    panel = walks(12, 14, seed=3)
    address = dask_cluster.scheduler_address
    executors: list[tuple[str, Executor]] = [
        ("processes", SerialExecutor()),
        ("processes", ProcessExecutor(2)),
        ("dask", DaskExecutor(address=address)),
    ]
    outputs = []
    for kind, executor in executors:
        with run_executor(2, kind, address if kind == "dask" else None):
            engine = ForecastEngine(3, models=MODELS, executor=executor).fit(panel)
        forecast = engine.predict()
        samples = engine.sample(300, seed=11)
        outputs.append([forecast.mean, forecast.lower[80], forecast.upper[95], samples])
    serial, *others = outputs
    for other in others:
        for mine, expected in zip(other, serial, strict=True):
            np.testing.assert_array_equal(mine, expected)


@pytest.mark.slow
def test_a_training_run_stores_the_same_balance_on_processes_and_on_dask(
    dask_cluster: LocalCluster, tmp_path: Path
) -> None:
    """Replays of the balance backtest, series fits and quota solves all run as tasks."""
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    address = dask_cluster.scheduler_address
    try:
        load_world(store)
        on_processes = train(store, SMALL, serve=False)
        with store.engine.begin() as connection:  # replayed again, not reused
            connection.execute(sa.delete(balance_replays))
        on_cluster = replace(SMALL.balance, executor="dask", dask_address=address)
        with Client(dask_cluster) as client, get_task_stream(client) as stream:
            on_dask = train(store, replace(SMALL, balance=on_cluster), serve=False)
    finally:
        store.dispose()
    ran = {str(task["key"]).split("-")[0] for task in stream.data}
    assert {"_run_task", "replay_missing", "_solve"} <= ran, "fits, replays, quota solves"
    assert on_dask.run.config["balance"]["executor"] == "dask"
    assert on_processes.run.metrics["demand_model"] == on_dask.run.metrics["demand_model"]
    backtest = on_processes.run.metrics["balance_backtest"]
    assert {row["cut"] for row in backtest} == {2021, 2020}, "replayed, not skipped"
    assert backtest == on_dask.run.metrics["balance_backtest"]
    assert on_processes.outputs.keys() == on_dask.outputs.keys()
    for name, frame in on_processes.outputs.items():
        pd.testing.assert_frame_equal(frame, on_dask.outputs[name], obj=name)
    for samples in ("supply", "demand", "intake"):
        np.testing.assert_array_equal(
            getattr(on_processes.samples, samples), getattr(on_dask.samples, samples)
        )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"executor": "threads"}, "executor must be one of processes, dask"),
        ({"executor": "dask", "dask_address": "tcp://scheduler"}, "dask_address"),
        ({"executor": "dask", "dask_address": "http://scheduler:8786"}, "dask_address"),
        ({"executor": "dask", "dask_address": "scheduler:port"}, "TALENTCAST_DASK_ADDRESS"),
    ],
)
def test_a_bad_executor_setting_is_refused_before_anything_runs(
    changes: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        BalanceSettings(**changes)  # type: ignore[arg-type]


def test_a_scheduler_address_may_omit_the_scheme() -> None:
    settings = BalanceSettings(executor="dask", dask_address="10.0.0.5:8786")
    assert isinstance(settings.make_executor(), DaskExecutor)


def test_the_service_settings_carry_the_executor_into_training(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TALENTCAST_EXECUTOR", "dask")
    monkeypatch.setenv("TALENTCAST_DASK_ADDRESS", " tcp://10.0.0.5:8786 ")
    balance = Settings().training_config().balance
    assert (balance.executor, balance.dask_address) == ("dask", "tcp://10.0.0.5:8786")
    monkeypatch.delenv("TALENTCAST_DASK_ADDRESS")
    assert Settings().training_config().balance.dask_address is None  # a local cluster


@pytest.mark.slow
def test_a_run_whose_scheduler_does_not_answer_fails_naming_the_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing listens on port 1: the run's first map waits for the connect timeout (once,
    though two threads map), then the run is marked failed with the address, and nothing is
    served."""
    monkeypatch.setattr(executors_dask, "CONNECT_TIMEOUT", 5.0)
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        load_world(store)
        away = replace(SMALL.balance, executor="dask", dask_address="tcp://127.0.0.1:1")
        started = time.perf_counter()
        with pytest.raises(ConnectionError, match=r"no Dask scheduler answered at tcp://127"):
            train(store, replace(SMALL, balance=away))
        assert time.perf_counter() - started < 2 * 5.0, "the timeout was waited twice"
        (run,) = store.runs()
        assert run.status == "failed"
        assert "TALENTCAST_DASK_ADDRESS" in (run.error or "")
        assert store.served_run() is None
    finally:
        store.dispose()


@pytest.mark.slow
def test_a_scheduler_without_workers_is_refused_rather_than_waited_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No worker at all: a scheduler and nothing else, in this process.
    monkeypatch.setattr(executors_dask, "CONNECT_TIMEOUT", 3.0)
    with LocalCluster(n_workers=0, processes=False, dashboard_address=None) as empty:
        executor = DaskExecutor(address=empty.scheduler_address)
        with pytest.raises(ConnectionError, match="has no workers: start some with `dask worker"):
            executor.map(square, [1, 2])
