"""Simulated cities: deterministic, internally consistent with the product's own formulas,
loadable as chronological vintages; and the benchmark's scoring on cases with known answers."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data.schemas import SCHEMAS
from data.store import Store
from data.vocabulary import Kind
from experiments.benchmarks.balance_worlds import (
    CEILINGS,
    baselines,
    breakdown_table,
    ceilings,
    city_scale,
    error_breakdown,
    scale_scores,
    score_run,
    scored_years,
)
from experiments.simcity import TRAJECTORIES, WORLDS, SimulatedCity, load_into_store, simulate
from features.talent import TalentData
from forecasting.pipeline import TrainingConfig, train
from forecasting.promotion import Gates
from forecasting.quotas import QuotaSettings
from forecasting.scales import NOTE_LEVEL_ASSUMED, SOURCE_RATES
from forecasting.settings import BalanceSettings
from forecasting.supply import observed_supply

KEY = ["field_code", "level", "year"]
#: Small versions of the worlds (six fields, a short history): same rules, seconds to run.
SMALL = replace(
    WORLDS["steady"],
    name="small",
    n_fields=6,
    first_enrollment_year=2016,
    first_outcome_year=2019,
    first_hiring_year=2019,
    first_survey_year=2020,
    max_programmes=2,
)
SMALL_QUARTERLY = replace(
    WORLDS["volatile"],
    name="small_quarterly",
    n_fields=6,
    first_enrollment_year=2016,
    first_outcome_year=2019,
    first_hiring_year=2019,
    first_survey_year=2020,
    max_programmes=2,
)
SMALL_WORLDS = [SMALL, SMALL_QUARTERLY, replace(WORLDS["sparse"], n_fields=6)]


@pytest.fixture(scope="module", params=SMALL_WORLDS, ids=lambda spec: spec.name)
def city(request: pytest.FixtureRequest) -> SimulatedCity:
    return simulate(request.param, seed=3)


def annual(city: SimulatedCity) -> pd.DataFrame:
    """Hiring summed to calendar years (quarterly rows add up to the year)."""
    hiring = city.observations[Kind.HIRING]
    frame = hiring.assign(year=hiring["period"].str[:4].astype(int))
    return frame.groupby(KEY, as_index=False).agg(
        postings=("postings", "sum"), hires=("hires", lambda h: h.sum(min_count=1))
    )


def test_a_city_is_determined_by_spec_and_seed() -> None:
    first, second, other = simulate(SMALL, 7), simulate(SMALL, 7), simulate(SMALL, 8)
    pd.testing.assert_frame_equal(first.truth, second.truth)
    for kind in Kind:
        pd.testing.assert_frame_equal(first.observations[kind], second.observations[kind])
    assert first.trajectories == second.trajectories
    assert not np.allclose(first.truth["demand"], other.truth["demand"])


@pytest.mark.parametrize("world", list(WORLDS))
def test_every_world_has_all_six_trajectory_types(world: str) -> None:
    for seed in (1, 2):
        city = simulate(WORLDS[world], seed)
        assert set(city.trajectories.values()) == set(TRAJECTORIES)
        assert len(city.fields) == WORLDS[world].n_fields


def test_worlds_differ_in_fields_levels_history_and_hiring_frequency() -> None:
    cities = {name: simulate(spec, 1) for name, spec in WORLDS.items()}
    assert len({len(c.fields) for c in cities.values()}) == len(WORLDS)
    assert cities["silent"].hires_fields == ()
    assert cities["silent"].survey_fields == ()
    assert cities["silent"].observations[Kind.DEMAND_SURVEY].empty
    assert "doctor" in set(cities["sparse"].truth["level"])
    assert "doctor" not in set(cities["steady"].truth["level"])
    periods = {n: c.observations[Kind.HIRING]["period"] for n, c in cities.items()}
    assert periods["volatile"].str.contains("-Q").all()
    assert not periods["steady"].str.contains("-Q").any()
    starts = {n: int(c.observations[Kind.ENROLLMENT]["year"].min()) for n, c in cities.items()}
    assert starts["sparse"] > starts["steady"]


def test_observations_have_the_upload_columns_and_whole_counts(city: SimulatedCity) -> None:
    for kind, frame in city.observations.items():
        extra = {"source"} if kind is Kind.DEMAND_SURVEY else set()
        assert set(frame.columns) <= set(SCHEMAS[kind].names) | extra
        assert set(SCHEMAS[kind].required) <= set(frame.columns)
        for column in SCHEMAS[kind].counts:
            if column in frame:
                values = frame[column].dropna()
                assert (values >= 0).all()
                assert (values == np.round(values.astype(float))).all()
    last = city.last_year
    assert city.observations[Kind.ENROLLMENT]["year"].max() == last
    assert city.observations[Kind.HIRING]["period"].str[:4].astype(int).max() == last
    assert city.observations[Kind.DEMAND_SURVEY]["survey_year"].max() == last
    assert city.truth["year"].max() == last + 6


def test_truth_supply_is_what_the_product_computes_from_the_outcomes(
    city: SimulatedCity,
) -> None:
    data = TalentData.from_observations(city.catalog, city.observations)
    realised = observed_supply(data)
    both = city.truth.merge(realised, on=KEY, suffixes=("", "_product"))
    observed_years = city.truth[city.truth["year"] <= city.last_year]
    assert len(both) == len(observed_years)
    np.testing.assert_allclose(both["supply"], both["supply_product"], rtol=1e-9, atol=1e-9)
    assert (city.truth["gap"] > 0).any()
    assert (city.truth["gap"] < 0).any()


def test_postings_over_true_demand_is_near_the_field_scale(city: SimulatedCity) -> None:
    both = annual(city).merge(city.truth, on=KEY)
    relative = np.log(both["postings"] / (both["demand"] * both["posting_scale"]))
    medians = relative.groupby(both["field_code"]).median()
    assert (medians.abs() < 0.1).all(), medians
    assert relative.abs().quantile(0.9) < 4 * city.spec.posting_sd + 0.15


def test_hires_never_exceed_openings_or_supply(city: SimulatedCity) -> None:
    both = annual(city).merge(city.truth, on=KEY)
    reported = both[both["hires"].notna()]
    assert set(reported["field_code"]) == set(city.hires_fields)
    assert len(city.hires_fields) >= 2
    cap = np.minimum(reported["demand"], reported["supply"])
    assert (reported["hires"].astype(float) <= cap + 1e-9).all()
    assert (reported["hires"].astype(float) >= np.floor(0.8 * cap) - 1).all()


def test_a_loaded_city_reads_back_as_chronological_vintages(tmp_path: Path) -> None:
    city = simulate(SMALL_QUARTERLY, seed=5)
    store = Store.connect(f"sqlite:///{tmp_path / 'city.db'}")
    try:
        store.upgrade()
        stored = load_into_store(city, store)
        uploads = [s.upload for s in stored]
        assert all(s.created for s in stored)
        assert uploads[0].uploader == "sim_commission"
        assert {u.uploader for u in uploads if u.kind == Kind.HIRING} == {"sim_hr_bureau"}
        survey_uploaders = {u.uploader for u in uploads if u.kind == Kind.DEMAND_SURVEY}
        assert survey_uploaders == {f"{f}_association" for f in city.survey_fields}
        year_of = {u.id: file_year(u.filename or "") for u in uploads[1:]}
        assert list(year_of.values()) == sorted(year_of.values())
        for year in sorted(set(year_of.values())):
            as_of = max(i for i, y in year_of.items() if y == year)
            data = TalentData.from_store(store, as_of=as_of)
            assert data.enrollment["year"].max() == year
            for dates in (
                data.outcomes["year"],
                data.hiring["period"].str[:4],
                data.surveys["survey_year"],
            ):
                assert (dates.astype(int) <= year).all()
        everything = TalentData.from_store(store)
        expected = TalentData.from_observations(city.catalog, city.observations)
        assert len(everything.outcomes) == len(expected.outcomes)
        pd.testing.assert_frame_equal(
            observed_supply(everything).sort_values(KEY).reset_index(drop=True),
            observed_supply(expected).sort_values(KEY).reset_index(drop=True),
        )
    finally:
        store.dispose()


def file_year(filename: str) -> int:
    """The year a vintage's file name carries (``outcomes_2019.csv``)."""
    match = re.search(r"_(\d{4})\.csv$", filename)
    assert match is not None, filename
    return int(match[1])


def perfect_balance(truth: pd.DataFrame) -> pd.DataFrame:
    """The run output a flawless forecast would give: cells, level totals and the city."""
    cells = truth.loc[:, [*KEY, "demand", "supply"]]
    levels = cells.groupby(["level", "year"], as_index=False)[["demand", "supply"]].sum()
    city = cells.groupby("year", as_index=False)[["demand", "supply"]].sum()
    frame = pd.concat(
        [cells, levels.assign(field_code="all"), city.assign(field_code="all", level="all")],
        ignore_index=True,
    )
    gap = frame["demand"] - frame["supply"]
    return frame.assign(
        ratio_p50=np.minimum(frame["demand"] / frame["supply"].clip(lower=1e-9), 100.0),
        p_shortage=(gap > 0).astype(float),
        gap_p50=gap,
        gap_p10=gap - 1,
        gap_p90=gap + 1,
    )


def test_a_perfect_forecast_scores_one(city: SimulatedCity) -> None:
    scores = score_run(perfect_balance(city.truth), city.truth, city.last_year)
    assert scores == pytest.approx(
        {
            "spearman": 1.0,
            "macro_f1": 1.0,
            "coverage80": 1.0,
            "city_coverage80": 1.0,
            "level_coverage80": 1.0,
        }
    )


def test_scores_of_a_hand_made_case() -> None:
    year = scored_years(2025)[0]
    truth = pd.DataFrame(
        {
            "field_code": ["a", "b", "c", "d"],
            "level": ["bachelor", "bachelor", "master", "master"],
            "year": year,
            "demand": [5.0, 15.0, 20.0, 8.0],
            "supply": 10.0,
        }
    )
    truth = truth.assign(gap=truth["demand"] - truth["supply"], ratio=truth["demand"] / 10)
    cells = truth.loc[:, KEY].assign(
        ratio_p50=[0.6, 1.2, 0.9, 1.1],
        p_shortage=[0.2, 0.7, 0.4, 0.6],
        gap_p10=[-6.0, 0.0, 8.0, -1.0],
        gap_p90=[-4.0, 3.0, 12.0, 1.0],
    )
    totals = pd.DataFrame(
        {
            "field_code": "all",
            "level": ["bachelor", "master", "all"],
            "year": year,
            "gap_p10": [-1.0, 9.0, 0.0],
            "gap_p90": [1.0, 12.0, 10.0],
        }
    )
    scores = score_run(pd.concat([cells, totals], ignore_index=True), truth, 2025)
    # ranks forecast a1 c2 d3 b4, truth a1 d2 b3 c4: Σd² = 6, ρ = 1 − 6·6/(4·15) = 0.4;
    # flags F T F T vs F T T F: F1 = 0.5 for both classes; gaps −5 5 10 −2 inside 2 of 4;
    # city gap 8 in [0, 10]; level gaps 0 in [−1, 1], 8 not in [9, 12].
    assert scores == pytest.approx(
        {
            "spearman": 0.4,
            "macro_f1": 0.5,
            "coverage80": 0.5,
            "city_coverage80": 1.0,
            "level_coverage80": 0.5,
        }
    )


def test_baselines_score_the_same_cells_and_the_city_scale_is_not_below_postings_per_opening(
    city: SimulatedCity,
) -> None:
    scores = baselines(city)
    assert set(scores) == {"a", "b", "c"}
    for values in scores.values():
        assert -1 <= values["spearman"] <= 1
        assert 0 <= values["macro_f1"] <= 1
    true = city.truth[city.truth["year"] == city.last_year]
    true = true[true["field_code"].isin(city.hires_fields)]
    # hires ≤ openings, so postings ÷ hires overstates postings per opening, never much less
    assert city_scale(city) >= 0.9 * true["posting_scale"].min()


def test_scale_scores_of_an_exact_estimate() -> None:
    truth = pd.DataFrame(
        {"field_code": ["a", "b"], "level": "bachelor", "year": 2025, "posting_scale": [2.0, 4.0]}
    )
    estimate = pd.DataFrame(
        {
            "field_code": ["a", "b"],
            "level": "all",
            "scale_p50": [2.0, 8.0],
            "scale_p10": [1.5, 5.0],
            "scale_p90": [2.5, 9.0],
        }
    )
    scores = scale_scores(estimate, truth, 2025)
    assert scores["scale_log_error"] == pytest.approx(np.log(2) / 2)
    assert scores["scale_coverage80"] == pytest.approx(0.5)


def last_year_scales(city: SimulatedCity) -> pd.Series:
    """Each field's true postings per opening in the last observed year."""
    last = city.truth[city.truth["year"] == city.last_year]
    return last.groupby("field_code")["posting_scale"].first()


def test_each_ceiling_puts_back_exactly_the_part_of_the_truth_it_names(
    city: SimulatedCity,
) -> None:
    balance = perfect_balance(city.truth)
    true_scale = last_year_scales(city)
    # Every other field's scale estimated 3× too high: its demand comes out 3× too low.
    error = pd.Series(
        [3.0 if i % 2 else 1.0 for i in range(len(true_scale))], index=true_scale.index
    )
    scales = pd.DataFrame({"field_code": true_scale.index, "scale_p50": true_scale * error})
    cells = balance["field_code"] != "all"
    divisor = balance["field_code"].map(error).where(cells, 1.0)
    wrong_demand = balance.assign(
        demand_p50=balance["demand"] / divisor, supply_p50=balance["supply"]
    )
    scores = ceilings(wrong_demand, city, scales)
    assert set(scores) == set(CEILINGS)
    assert scores["scale"] == pytest.approx({"spearman": 1.0, "macro_f1": 1.0})
    assert scores["demand"] == pytest.approx({"spearman": 1.0, "macro_f1": 1.0})
    assert scores["supply"]["spearman"] < 0.99
    assert scores["none"] == scores["supply"]  # supply was already the truth
    assert scores["scale_late"] == pytest.approx({"spearman": 1.0, "macro_f1": 1.0})
    assert scores["scale_late_supply"] == scores["scale_late"]
    wrong_supply = balance.assign(
        demand_p50=balance["demand"], supply_p50=balance["supply"] * divisor
    )
    scores = ceilings(wrong_supply, city, None)
    assert not {"scale", "scale_late", "scale_late_supply"} & set(scores)  # nothing to put back
    assert scores["supply"] == pytest.approx({"spearman": 1.0, "macro_f1": 1.0})
    assert scores["demand"]["spearman"] < 0.99


def test_the_error_breakdown_names_the_part_that_errs_and_its_direction(
    city: SimulatedCity,
) -> None:
    balance = perfect_balance(city.truth)
    true_scale = last_year_scales(city)
    # Boom fields' scale estimated 2× too high (their demand 2× too low); supply 10% high.
    boom = [f for f, kind in city.trajectories.items() if kind == "boom"]
    error = pd.Series([2.0 if f in boom else 1.0 for f in true_scale.index], true_scale.index)
    scales = pd.DataFrame({"field_code": true_scale.index, "scale_p50": true_scale * error})
    cells = balance["field_code"] != "all"
    forecast = balance.assign(
        demand_p50=balance["demand"] / balance["field_code"].map(error).where(cells, 1.0),
        supply_p50=balance["supply"] * 1.1,
    ).drop(columns=["demand", "supply"])  # a run's balance has quantiles only
    errors = error_breakdown(forecast, city, scales)
    assert set(errors["ahead"]) == set(range(2, 7))
    assert errors["demand"].abs().max() == pytest.approx(0.0, abs=1e-9)  # right at true scale
    assert errors["supply"].to_numpy() == pytest.approx(np.log(1.1))
    by_kind = errors.groupby("trajectory")["scale"].mean()
    assert by_kind["boom"] == pytest.approx(np.log(2.0))
    assert by_kind.drop("boom").abs().max() == pytest.approx(0.0, abs=1e-9)
    table = breakdown_table(errors)
    assert list(table.columns[:6]) == ["trajectory", *(f"demand +{h}" for h in range(2, 7))]
    assert table.set_index("trajectory").loc["boom", "scale"] == pytest.approx(
        np.log(2.0), abs=1e-3
    )


@pytest.mark.slow
def test_a_city_without_hires_or_surveys_trains_with_every_scale_read_from_outcome_rates(
    tmp_path: Path,
) -> None:
    """Where no employer reports hires and no association files a survey, the balance still
    trains on postings and outcomes alone: every field's scale is read from its outcome rates
    and says that its level is assumed, and the analyst's baseline falls back to postings as
    openings instead of dividing by zero hires."""
    spec = replace(SMALL, name="bare", hires_share=0.0, survey_share=0.0)
    city = simulate(spec, seed=2)
    assert city.hires_fields == ()
    assert city.survey_fields == ()
    assert city.observations[Kind.HIRING]["hires"].isna().all()
    assert city.observations[Kind.DEMAND_SURVEY].empty
    assert city_scale(city) == 1.0
    scores = baselines(city)
    assert scores["b"] == scores["a"]
    config = TrainingConfig(
        balance=BalanceSettings(horizon=3, n_samples=100, n_jobs=1),
        quotas=QuotaSettings(scenarios=20, resamples=1),
        gates=Gates(coverage_80=(0.0, 1.0), coverage_95=(0.0, 1.0)),
        balance_backtest_cuts=0,
    )
    store = Store.connect(f"sqlite:///{tmp_path / 'bare.db'}")
    try:
        store.upgrade()
        load_into_store(city, store)
        result = train(store, config, serve=False)
    finally:
        store.dispose()
    assert result.run.status == "succeeded"
    scales = result.outputs["demand_scales"]
    scales = scales[scales["field_code"].isin(city.fields)]
    assert len(scales) == len(city.fields)
    assert (scales["source"] == SOURCE_RATES).all()
    assert (scales["note"] == NOTE_LEVEL_ASSUMED).all()
    assert (scales["scale_p10"] < scales["scale_p50"]).all()
    assert (scales["scale_p50"] < scales["scale_p90"]).all()
    cells = result.balance.balance
    cells = cells[(cells["field_code"] != "all") & (cells["level"] != "all")]
    values = cells[["demand_p50", "supply_p50", "p_shortage"]].to_numpy(dtype=float)
    assert len(cells) > 0
    assert np.isfinite(values).all()
