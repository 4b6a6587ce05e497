"""The training pipeline against a real store: a complete run, or a failed one and nothing else."""

from __future__ import annotations

import pytest

from data.demo import load_demo
from data.ingest import open_store
from data.store import Store
from forecasting.balance import shortage_ranking
from forecasting.pipeline import train
from forecasting.settings import BalanceSettings

SETTINGS = BalanceSettings(horizon=5, n_samples=200, n_jobs=2)


@pytest.mark.slow
def test_training_the_demo_stores_a_complete_served_run(store: Store) -> None:
    load_demo(store)
    result = train(store, SETTINGS)
    run = result.run
    assert run.status == "succeeded"
    assert run.served
    assert store.served_run() == run
    assert run.watermark == store.watermark()
    assert run.config["horizon"] == 5
    assert set(run.timings) >= {"load", "supply", "demand", "balance"}
    balance = store.run_output(run.id, "balance")
    future = balance[balance["year"] > run.metrics["last_observed_year"]]
    assert set(future["year"]) == set(range(2026, 2031))
    assert {"ic", "ai", "all"} <= set(balance["field_code"])
    total = future[(future["field_code"] == "all") & (future["level"] == "all")]
    assert len(total) == 5
    assert (balance["gap_p05"] <= balance["gap_p95"]).all()
    ranking = shortage_ranking(balance, 2030, "bachelor")
    assert ranking["p_shortage"].is_monotonic_decreasing
    forecasts = store.run_output(run.id, "forecasts", kind="enrollment")
    assert forecasts["programme_code"].nunique() > 100
    bias = store.run_output(run.id, "survey_bias").set_index(["source", "field_code"])
    assert bias.loc[("tj_ic_association", "ic"), "factor"] > 1.2, "the IC association overstates"
    drivers = store.run_output(run.id, "drivers")
    ic = drivers[(drivers["field_code"] == "ic") & (drivers["level"] == "bachelor")].iloc[-1]
    parts = ic[["demand_growth", "survey_adjustment", "cohort_pipeline", "rates"]].sum()
    assert ic["base_gap"] + parts == pytest.approx(ic["gap"], rel=1e-6)


def test_a_failing_run_is_recorded_and_changes_nothing_served(store_url: str) -> None:
    store = open_store(store_url)
    try:
        with pytest.raises(ValueError, match="no enrollment data"):
            train(store, SETTINGS)
        (run,) = store.runs()
        assert run.status == "failed"
        assert "no enrollment data" in (run.error or "")
        assert store.served_run() is None
        assert store.run_output(run.id, "balance").empty
    finally:
        store.dispose()


def test_settings_are_validated_before_anything_runs() -> None:
    with pytest.raises(ValueError, match="horizon"):
        BalanceSettings(horizon=0)
    with pytest.raises(ValueError, match="demand_model"):
        BalanceSettings(demand_model="vibes")
