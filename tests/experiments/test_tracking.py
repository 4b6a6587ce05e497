"""MLflow records every run; the registry's aliases follow what the store serves."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from worlds import load_world

from data.ingest import ingest_file, open_store
from experiments.tracking import CHALLENGER, CHAMPION, MODEL_NAME, RUN_TAG, MlflowTracker
from forecasting.pipeline import TrainingConfig, train
from forecasting.promotion import Gates
from forecasting.quotas import QuotaError, QuotaSettings
from forecasting.settings import BalanceSettings

#: The coverage gates are opened wide (a small city's short backtests say little): this is
#: about tracking; the strict gate below shows that a failed gate is tracked as challenger.
CONFIG = TrainingConfig(
    balance=BalanceSettings(horizon=3, n_samples=200, n_jobs=2),
    quotas=QuotaSettings(scenarios=30, resamples=1),
    gates=Gates(coverage_80=(0.0, 1.0), coverage_95=(0.0, 1.0), max_worsening=10.0),
    balance_backtest_cuts=0,
)
#: A plausible correction (75 → 82 postings). A wild one-row value would swing the IC balance
#: and, coming from one row, keep the run for an admin (tests/forecasting/test_changes.py).
CORRECTION = b"period,field_code,level,postings\n2025-12,ic,bachelor,82\n"


@pytest.mark.slow
def test_retrains_are_tracked_and_the_champion_alias_follows_the_served_run(
    tmp_path: Path,
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    tracker = MlflowTracker(f"sqlite:///{tmp_path / 'mlflow.db'}", str(tmp_path / "artifacts"))
    client = MlflowClient(tracker.tracking_uri, tracker.tracking_uri)
    try:
        load_world(store)  # a small city: what is tested here is the tracking
        first = train(store, CONFIG, tracker=tracker).run
        assert first.served
        assert tracker.alias(CHAMPION).tags[RUN_TAG] == str(first.id)

        # New data arrives: the next retrain is a new run, a new MLflow run, a new champion.
        ingest_file(store, "hiring", CORRECTION, filename="fix.csv", uploader="tj_hr_bureau")
        second = train(store, CONFIG, tracker=tracker).run
        assert second.served
        assert second.watermark == store.watermark() > first.watermark
        champion = tracker.alias(CHAMPION)
        assert champion.tags[RUN_TAG] == str(second.id)
        assert [int(v.version) for v in tracker.versions()] == [2, 1]
        experiment = client.get_experiment_by_name("talentcast")
        logged = client.search_runs([experiment.experiment_id])
        assert len(logged) == 2
        newest = client.get_run(champion.tags["mlflow_run"])
        assert newest.data.params["watermark"] == str(second.watermark)
        # MLflow's duration is the training's, not the seconds spent logging it afterwards.
        assert second.started_at is not None
        assert second.finished_at is not None
        assert newest.info.start_time == int(second.started_at.timestamp() * 1000)
        assert newest.info.end_time == int(second.finished_at.timestamp() * 1000)
        assert newest.data.metrics["gates.passed"] == 1.0
        assert "backtest.enrollment.selected.mase" in newest.data.metrics
        artifacts = {item.path for item in client.list_artifacts(newest.info.run_id, "tables")}
        assert {"tables/forecasts.csv", "tables/backtest.csv"} <= artifacts
        plots = {item.path for item in client.list_artifacts(newest.info.run_id, "plots")}
        assert "plots/p_shortage.png" in plots

        # The registered forecaster answers a configuration frame.
        mlflow.set_tracking_uri(tracker.tracking_uri)
        model = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@{CHAMPION}")
        question = pd.DataFrame(
            {"output": ["balance"], "field_code": ["ic"], "level": ["bachelor"]}
        )
        answer = model.predict(question)
        served_balance = store.run_output(second.id, "balance", field_code="ic", level="bachelor")
        assert len(answer) == len(served_balance)
        assert answer["p_shortage"].to_numpy() == pytest.approx(
            served_balance["p_shortage"].to_numpy()
        )

        # A run that fails changes nothing that is served or registered.
        before = store.run_output(second.id, "recommendations")
        infeasible = TrainingConfig(
            balance=CONFIG.balance,
            quotas=QuotaSettings(totals={"bachelor": 1.0}),
            gates=CONFIG.gates,
            balance_backtest_cuts=0,
        )
        with pytest.raises(QuotaError):
            train(store, infeasible, tracker=tracker)
        assert store.latest_run(status="failed") is not None
        assert store.served_run() == store.run(second.id)
        assert store.run_output(second.id, "recommendations").equals(before)
        assert tracker.alias(CHAMPION).version == champion.version
        assert len(tracker.versions()) == 2

        # A run that fails a quality gate is kept and registered as the challenger only.
        strict = TrainingConfig(
            balance=CONFIG.balance,
            quotas=CONFIG.quotas,
            gates=Gates(coverage_80=(0.99, 1.0)),
            balance_backtest_cuts=0,
        )
        rejected = train(store, strict, tracker=tracker)
        assert not rejected.promoted
        assert rejected.run.status == "succeeded"
        assert any("80% intervals cover" in failure for failure in rejected.gates.failures)
        assert store.served_run() == store.run(second.id)
        assert tracker.alias(CHALLENGER).tags[RUN_TAG] == str(rejected.run.id)
        assert tracker.alias(CHAMPION).version == champion.version

        # The admin promotes it anyway: the alias follows.
        store.set_served(rejected.run.id, actor="admin")
        assert tracker.set_champion(store.run(rejected.run.id)).tags[RUN_TAG] == str(
            rejected.run.id
        )
    finally:
        store.dispose()
