"""Quality gates and explicit promotion: what may replace the served run, and how to go back."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data.catalog import load_default_catalog
from data.ingest import open_store
from data.store import Store
from data.store.runs import RunRecord
from forecasting.promotion import (
    Gates,
    PromotionError,
    backtest_records,
    check_gates,
    promote,
    rollback,
)


def outputs(**overrides: pd.DataFrame) -> dict[str, pd.DataFrame]:
    one = pd.DataFrame({"x": [1.0]})
    frames = {
        "forecasts": pd.DataFrame(
            {
                "kind": ["hiring"],
                "series_id": ["ic|bachelor"],
                "period": ["2026"],
                "forecast": [10.0],
                "lo_80": [8.0],
                "hi_80": [12.0],
                "lo_95": [7.0],
                "hi_95": [13.0],
            }
        ),
        "balance": pd.DataFrame({"field_code": ["ic"], "level": ["all"], "year": [2026]}),
        "drivers": one,
        "programme_supply": one,
        "recommendations": pd.DataFrame(
            {
                "current_quota": [100.0],
                "recommended_quota": [110.0],
                "quota_p10": [100.0],
                "quota_p90": [120.0],
            }
        ),
    }
    return {**frames, **overrides}


def backtests(relative: float, coverage_80: float = 0.8, coverage_95: float = 0.95) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "kind": "hiring",
                "model": "selected",
                "relative": relative,
                "coverage_80": coverage_80,
                "coverage_95": coverage_95,
            },
            {
                "kind": "hiring",
                "model": "naive",
                "relative": 1.0,
                "coverage_80": 0.5,
                "coverage_95": 0.7,
            },
        ]
    )


def champion(relative: float) -> RunRecord:
    """A served run as the store returns it, with its backtest in its metrics."""
    from datetime import UTC, datetime

    from data.store.tables import RunStatus

    return RunRecord(
        id=7,
        status=RunStatus.SUCCEEDED,
        watermark=3,
        config={},
        code_version=None,
        created_at=datetime.now(UTC),
        started_at=None,
        finished_at=None,
        error=None,
        metrics={"backtest": backtest_records(backtests(relative))},
        timings={},
        served=True,
    )


def test_a_complete_run_that_is_no_worse_passes() -> None:
    result = check_gates(outputs(), backtests(0.80), Gates(), champion(0.78))
    assert result.passed, result.failures
    assert result.champion_run == 7
    names = {check.name for check in result.checks}
    assert {"output:recommendations", "no_nan:forecasts", "coverage_80:hiring"} <= names
    assert "backtest:hiring" in names
    first = check_gates(outputs(), backtests(0.80), Gates(), None)
    assert first.passed
    assert "backtest:hiring" not in {check.name for check in first.checks}


@pytest.mark.parametrize(
    ("frames", "tests", "expected"),
    [
        (
            outputs(recommendations=pd.DataFrame()),
            backtests(0.8),
            "output recommendations is missing or empty",
        ),
        (
            outputs(forecasts=outputs()["forecasts"].assign(hi_95=np.nan)),
            backtests(0.8),
            "forecasts has 1 missing value(s)",
        ),
        (outputs(), backtests(0.8, coverage_80=0.55), "80% intervals cover 55% of backtest values"),
        (outputs(), backtests(0.95), "relative backtest error 0.950 vs champion run 7's 0.800"),
    ],
)
def test_each_gate_can_fail_the_run(
    frames: dict[str, pd.DataFrame], tests: pd.DataFrame, expected: str
) -> None:
    result = check_gates(frames, tests, Gates(max_worsening=0.1), champion(0.8))
    assert not result.passed
    assert any(expected in failure for failure in result.failures), result.failures
    assert result.to_dict()["passed"] is False


def test_relative_scores_on_different_scores_are_not_compared() -> None:
    """A kind now selected on relative MASE is not held to a champion's OWA (a different
    quantity); runs recorded before the ``score`` column existed count as OWA."""
    worse = backtests(0.95)
    assert not check_gates(outputs(), worse, Gates(max_worsening=0.1), champion(0.8)).passed
    on_mase = worse.assign(score="mase")
    result = check_gates(outputs(), on_mase, Gates(max_worsening=0.1), champion(0.8))
    assert result.passed, result.failures
    assert "backtest:hiring" not in {check.name for check in result.checks}
    on_owa = worse.assign(score="owa")
    assert not check_gates(outputs(), on_owa, Gates(max_worsening=0.1), champion(0.8)).passed


def test_gate_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="coverage_80"):
        Gates(coverage_80=(0.9, 0.8))
    with pytest.raises(ValueError, match="unknown outputs: weather"):
        Gates(required_outputs=("weather",))


def succeeded_run(store: Store) -> RunRecord:
    run = store.create_run(store.watermark(), {})
    store.start_run(run.id)
    return store.finish_run(run.id, {}, metrics={}, timings={})


def test_promote_and_roll_back(store_url: str) -> None:
    store = open_store(store_url, catalog=load_default_catalog())
    try:
        first, second = succeeded_run(store), succeeded_run(store)
        with pytest.raises(PromotionError, match="no run is served"):
            rollback(store, actor="admin")
        promote(store, first.id, actor="admin")
        with pytest.raises(PromotionError, match="the only run ever served"):
            rollback(store, actor="admin")
        assert promote(store, second.id, actor="admin").served
        back = rollback(store, actor="admin")
        assert back.id == first.id
        assert store.served_run() == back
        entries = store.audit_log(action="run.promote", limit=3)
        assert [entry.actor for entry in entries] == ["admin"] * 3
        failed = store.create_run(store.watermark(), {})
        store.fail_run(failed.id, "boom")
        with pytest.raises(PromotionError, match="is failed"):
            promote(store, failed.id, actor="admin")
        assert store.served_run() == back
    finally:
        store.dispose()
