"""Every new run compared with the served one; large moves from few new rows wait for an admin.

The scenario: a small city is trained and served; a large, genuine re-issue of the hiring
series moves the AI field and is served; then the IC association sends two small, deliberately
low surveys that swing the IC field's P(shortage) to almost nothing — that run is kept as
challenger, and the API, the dashboard and the run's metrics name the two uploads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from support import Demo, bearer, sign_in
from worlds import HR_BUREAU, IC_ASSOCIATION, hiring_frame, load_world, upload

from data.ingest import open_store
from data.store import RunRecord, UploadRecord
from forecasting.changes import ChangeSettings, moved_cells, share_undone, summarise
from forecasting.pipeline import TrainingConfig, train
from forecasting.promotion import Gates, not_served_reason
from forecasting.quotas import QuotaSettings
from forecasting.settings import BalanceSettings
from serving.app import create_app
from serving.auth import issue_key

#: Small and quick; the coverage and backtest gates are opened wide: this is about changes.
CONFIG = TrainingConfig(
    balance=BalanceSettings(horizon=5, n_samples=200, n_jobs=1),
    quotas=QuotaSettings(scenarios=30, resamples=1),
    gates=Gates(coverage_80=(0.0, 1.0), coverage_95=(0.0, 1.0), max_worsening=10.0),
    balance_backtest_cuts=0,
)


def balance(p: list[float], gap: list[float], supply: float = 300.0) -> pd.DataFrame:
    years = range(2026, 2026 + len(p))
    return pd.DataFrame(
        {
            "field_code": "ic",
            "level": "bachelor",
            "year": list(years),
            "p_shortage": p,
            "gap_p50": gap,
            "supply_p50": supply,
        }
    )


def test_cells_move_on_p_shortage_or_on_the_gap_relative_to_supply() -> None:
    old = balance([1.0, 0.9, 0.5, 0.5], [200.0, 150.0, 10.0, 10.0])
    new = balance([0.2, 0.8, 0.5, 0.5], [-100.0, 140.0, 90.0, 70.0])
    moved = moved_cells(old, new, 2026, ChangeSettings())
    assert moved["year"].tolist() == [2026, 2028]  # 2029: 60 persons is within 25% of 300
    assert moved["metric"].tolist() == ["p_shortage", "gap_p50"]
    assert moved_cells(old, new, 2027, ChangeSettings())["year"].tolist() == [2028]
    totals = pd.concat([old.assign(field_code="all"), old.assign(level="all")])
    assert moved_cells(totals, totals.assign(p_shortage=0.0), 2026, ChangeSettings()).empty
    without = balance([0.9, 0.8, 0.5, 0.5], [200.0, 150.0, 50.0, 70.0])
    shares = share_undone(moved, without)
    assert shares.tolist() == pytest.approx([0.875, 0.5])


def test_moves_read_as_sentences_with_their_years_and_cause() -> None:
    moved = moved_cells(
        balance([1.0, 1.0, 1.0, 1.0, 1.0], [200.0] * 5),
        balance([1.0, 0.01, 0.02, 0.0, 0.01], [200.0, -50, -60, -70, -80]),
        2026,
        ChangeSettings(),
    ).assign(
        explained_text="upload #41 (demand_survey, 25 rows, tj_ic_association)",
        driver="survey_adjustment",
        driver_change=-260.0,
    )
    (sentence,) = summarise(moved)
    assert sentence == (
        "P(shortage) of ic bachelor 2027-2030 moved 1.00→0.00; explained by upload #41 "
        "(demand_survey, 25 rows, tj_ic_association) (largest driver change: "
        "survey_adjustment -260)"
    )
    # The same move for a Chinese page: its own words, the same figures, years and uploads.
    chinese = moved.assign(explained_text_zh="上传 #41（demand_survey，25 行，tj_ic_association）")
    (sentence,) = summarise(chinese, "zh")
    assert sentence == (
        "ic 本科 2027-2030 的短缺概率从 1.00 变为 0.00；由上传 #41（demand_survey，25 行，"
        "tj_ic_association）解释（变化最大的驱动因素：survey_adjustment -260）"
    )
    gap = moved.assign(metric="gap_p50", explained_text_zh=None)
    (sentence,) = summarise(gap, "zh")
    assert sentence.startswith("ic 本科 2027-2030 的缺口中位数从 +200 人变为")
    assert "无法由单次上传解释" in sentence


def test_change_settings_name_the_bad_parameter() -> None:
    with pytest.raises(ValueError, match="p_threshold"):
        ChangeSettings(p_threshold=0)
    with pytest.raises(ValueError, match="samples"):
        ChangeSettings(samples=10)


@dataclass(frozen=True)
class Scenario:
    url: str
    first: RunRecord
    genuine: RunRecord
    reissue: UploadRecord
    held: RunRecord
    surveys: tuple[UploadRecord, UploadRecord]
    keys: dict[str, str]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    path = tmp_path_factory.mktemp("changes") / "city.db"
    url = f"sqlite:///{path}"
    store = open_store(url)
    try:
        load_world(store)
        first = train(store, CONFIG).run
        reissue = upload(store, "hiring", hiring_frame(factors={"ai": 2.0}), HR_BUREAU, "h.csv")
        genuine = train(store, CONFIG).run
        low = pd.DataFrame(
            {"survey_year": 2025, "field_code": "ic", "level": "bachelor", "headcount": 30},
            index=range(5),
        ).assign(target_year=range(2026, 2031))
        surveys = (
            upload(store, "demand_survey", low, IC_ASSOCIATION, "survey_fix.csv"),
            upload(store, "demand_survey", low.iloc[1:].assign(headcount=20), IC_ASSOCIATION, "b"),
        )
        held = train(store, CONFIG).run
        keys = {
            "admin": issue_key(store, "admin", "admin", actor="test")[1],
            "planner": issue_key(store, "planner", "planner", actor="test")[1],
        }
    finally:
        store.dispose()
    return Scenario(url, first, genuine, reissue, held, surveys, keys)


@pytest.fixture
def client(scenario: Scenario) -> Iterator[TestClient]:
    with TestClient(create_app(Demo(scenario.url, {}, scenario.held.id).settings())) as test:
        yield test


@pytest.mark.slow
def test_a_first_run_passing_the_absolute_gates_is_served(scenario: Scenario) -> None:
    checks = {c["name"]: c for c in scenario.first.metrics["gates"]["checks"]}
    assert checks["changes"]["detail"] == "no served run to compare with (first run)"
    assert scenario.first.metrics["gates"]["passed"] is True
    assert "changes" not in scenario.first.metrics
    assert "changes" in scenario.first.timings


@pytest.mark.slow
def test_a_large_genuine_update_is_compared_attributed_and_served(scenario: Scenario) -> None:
    run = scenario.genuine
    assert run.metrics["gates"]["passed"] is True
    changes = run.metrics["changes"]
    assert changes["champion_run"] == scenario.first.id
    assert [u["id"] for u in changes["new_uploads"]] == [scenario.reissue.id]
    moved = pd.DataFrame(changes["moved"])
    assert set(moved["field_code"]) == {"ai"}
    assert all(ids == [scenario.reissue.id] for ids in moved["explained_by"])
    assert not moved["few_rows"].any()
    cause = f"upload #{scenario.reissue.id} (hiring, 312 rows, tj_hr_bureau)"
    assert cause in changes["summary"][0]
    assert changes["held"] is False


@pytest.mark.slow
def test_large_moves_from_two_small_surveys_wait_for_an_admin(scenario: Scenario) -> None:
    run, (a, b) = scenario.held, scenario.surveys
    assert run.status == "succeeded"
    assert not run.served
    changes = run.metrics["changes"]
    assert changes["champion_run"] == scenario.genuine.id
    assert changes["held"] is True
    moved = pd.DataFrame(changes["moved"])
    ic = moved[(moved["field_code"] == "ic") & (moved["metric"] == "p_shortage")]
    assert set(ic["year"]) == set(range(2026, 2031))
    assert (ic["p_shortage_new"] < 0.1).all()
    assert (ic["driver"] == "survey_adjustment").all()
    assert ic.set_index("year")["explained_by"].to_dict() == {
        2026: [a.id],
        **{year: [a.id, b.id] for year in range(2027, 2031)},  # b supersedes a from 2027
    }
    reason = not_served_reason(run)
    assert reason is not None
    assert reason.startswith(f"large moves since run {scenario.genuine.id} (served)")
    assert "P(shortage) of ic bachelor 2027-2030 moved" in reason
    assert f"#{a.id} (demand_survey, 5 rows, tj_ic_association)" in reason
    assert f"#{b.id} (demand_survey, 4 rows, tj_ic_association) together" in reason
    # Said again for a Chinese page, sentence by sentence, with the same uploads.
    chinese = not_served_reason(run, "zh")
    assert chinese is not None
    assert "ic 本科 2027-2030 的短缺概率从" in chinese
    assert f"#{b.id}（demand_survey，4 行，tj_ic_association）合计" in chinese
    assert "moved" not in chinese
    assert len(changes["summary_zh"]) == len(changes["summary"])
    assert [entry["uploads"] for entry in changes["left_out"]] == [[a.id], [b.id], [a.id, b.id]]


@pytest.mark.slow
def test_the_api_and_the_runs_page_say_why_a_run_waits(
    scenario: Scenario, client: TestClient
) -> None:
    planner = bearer(scenario.keys["planner"])
    held = client.get(f"/api/v1/runs/{scenario.held.id}", headers=planner)
    assert held.status_code == 200, held.text
    body = held.json()
    assert body["served"] is False
    assert body["not_served_reason"] == not_served_reason(scenario.held)
    assert body["metrics"]["changes"]["held"] is True
    served = client.get(f"/api/v1/runs/{scenario.genuine.id}", headers=planner)
    assert served.json()["not_served_reason"] is None

    login = sign_in(client, scenario.keys["admin"], "/runs")
    assert login.status_code == 200, login.text
    html = client.get("/runs", params={"lang": "en"}).text
    assert "kept as challenger" in html
    assert "come from few new rows" in html
    assert f"#{scenario.surveys[1].id} (demand_survey, 4 rows, tj_ic_association)" in html
    assert "Moves since the run served then" in html
    chinese = client.get("/runs", params={"lang": "zh"}).text
    assert "的短缺概率从" in chinese
    assert "P(shortage) of ic" not in chinese
