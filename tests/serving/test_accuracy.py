"""``GET /accuracy`` on the demo: a run fitted at 2021, scored once 2022-2025 arrived."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from support import Demo, bearer

from data.demo import load_demo_until
from data.ingest import open_store
from forecasting.pipeline import TrainingConfig, train
from forecasting.quotas import QuotaSettings
from forecasting.settings import BalanceSettings
from serving.app import create_app
from serving.auth import issue_key


@pytest.mark.slow
def test_a_run_fitted_at_2021_is_scored_against_later_actuals_next_to_naive(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'vintage.db'}"
    store = open_store(url)
    try:
        load_demo_until(store, 2021)
        config = TrainingConfig(
            balance=BalanceSettings(horizon=4, n_samples=200, n_jobs=2),
            quotas=QuotaSettings(scenarios=30, resamples=1),
            balance_backtest_cuts=0,
        )
        run = train(store, config).run
        assert run.metrics["last_observed_year"] == 2021
        load_demo_until(store, None)  # 2022-2025 arrive
        planner = issue_key(store, "planner", "planner", actor="test")[1]
        ic = issue_key(store, "ic", "association", ["ic"], actor="test")[1]
    finally:
        store.dispose()
    demo = Demo(url, {}, run.id)
    with TestClient(create_app(demo.settings())) as client:
        response = client.get("/api/v1/accuracy", headers=bearer(planner))
        assert response.status_code == 200, response.text
        every = response.json()
        rows = pd.DataFrame(every["items"])
        page = client.get(
            "/api/v1/accuracy", params={"limit": 2, "offset": 1}, headers=bearer(planner)
        ).json()
        by_name = client.get(
            "/api/v1/accuracy", params={"field": "集成电路"}, headers=bearer(planner)
        ).json()
        by_code = client.get(
            "/api/v1/accuracy", params={"field": "ic"}, headers=bearer(planner)
        ).json()
        scoped = client.get("/api/v1/accuracy", headers=bearer(ic)).json()["items"]
        other = client.get("/api/v1/accuracy", params={"field": "ai"}, headers=bearer(ic))
    assert set(rows["run_id"]) == {run.id}
    assert (every["limit"], every["offset"], every["total"]) == (100, 0, len(rows))
    assert (page["limit"], page["offset"], page["total"]) == (2, 1, len(rows))
    assert page["items"] == every["items"][1:3]
    assert by_name == by_code
    assert {row["field_code"] for row in by_code["items"]} == {"ic"}
    overall = rows[rows["field_code"] == "all"].set_index("kind")
    assert set(overall.index) == {"enrollment", "hiring"}
    for kind in ("enrollment", "hiring"):
        row = overall.loc[kind]
        assert (row["first_year"], row["last_year"]) == (2022, 2025)
        assert row["forecasts"] > 20
        assert row["mase"] > 0
        assert row["mase_naive"] > 0
        assert row["relative"] == pytest.approx(row["mase"] / row["mase_naive"])
        assert 0 <= row["coverage_80"] <= row["coverage_95"] <= 1
        assert row["backtest_mase"] > 0
        assert row["drift"] == (row["mase"] > 1.5 * row["backtest_mase"])
    hiring = rows[(rows["kind"] == "hiring") & (rows["field_code"] != "all")]
    assert {"ic", "ai"} <= set(hiring["field_code"])
    assert hiring["forecasts"].sum() == overall.loc["hiring", "forecasts"]
    assert {row["field_code"] for row in scoped} == {"ic"}
    assert other.status_code == 403
