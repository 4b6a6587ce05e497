"""The balance on hand-computable cases: exact cohort supply, certain shortage, totals, rates."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from support import steady_data, tiny_catalog

from data.catalog import Catalog
from data.vocabulary import Kind
from features.rates import completion_rates, outcome_rates, shrink
from features.talent import TalentData
from forecasting.balance import compute_balance, quantile_rows, shortage_ranking
from forecasting.demand import survey_bias
from forecasting.settings import BalanceSettings

YEARS = range(2010, 2026)
SETTINGS = BalanceSettings(horizon=6, n_samples=200)


@pytest.fixture
def steady(default_catalog: Catalog) -> TalentData:
    return steady_data(tiny_catalog(default_catalog, [("080717T", "bachelor", 4, "ai")]), 20_000)


def test_cohorts_already_enrolled_give_the_exact_supply(steady: TalentData) -> None:
    result = compute_balance(steady, SETTINGS)
    cell = result.balance[
        (result.balance["field_code"] == "ai") & (result.balance["level"] == "bachelor")
    ].set_index("year")
    expected = 100_000 * 0.9 * (80 / 90) * 0.5 * 0.25
    for year in range(2026, 2030):  # graduates of the 2022-2025 cohorts
        assert cell.loc[year, "supply_p50"] == pytest.approx(expected, rel=0.01)
        assert cell.loc[year, "supply_p05"] == pytest.approx(expected, rel=0.03)
    assert cell.loc[2025, "supply_p50"] == pytest.approx(expected, rel=1e-9), "observed year"
    supply = result.programme_supply
    programme = supply[supply["programme_code"] == "080717T"].set_index("year")
    assert programme.loc[2027, "graduates_p50"] == pytest.approx(90_000, rel=1e-6)
    assert programme.loc[2027, "from_enrolled_cohorts"]
    assert not programme.loc[2030, "from_enrolled_cohorts"]


#: The admin states that AI postings are openings (one posting per opening).
POSTINGS_ARE_OPENINGS = replace(SETTINGS, posting_scales=(("ai", 1.0, "test: known"),))


def test_demand_certainly_above_supply_is_a_certain_shortage(steady: TalentData) -> None:
    result = compute_balance(steady, POSTINGS_ARE_OPENINGS)
    future = result.balance[
        (result.balance["field_code"] == "ai")
        & (result.balance["level"] == "bachelor")
        & (result.balance["year"] > 2025)
    ]
    assert (future["p_shortage"] > 0.99).all()
    assert future["ratio_p50"].to_numpy() == pytest.approx(2.0, rel=0.05)
    # Short in every sample: the expected shortfall is the expected gap, its top tenth counted
    # at the 90th percentile.
    assert (future["shortfall_w90"] <= future["gap_mean"]).all()
    assert (future["shortfall_w90"] >= future["gap_p50"]).all()
    assert future["shortfall_w90"].to_numpy() == pytest.approx(
        future["gap_mean"].to_numpy(), rel=0.05
    )
    ranking = shortage_ranking(result.balance, 2028, "bachelor")
    assert ranking.iloc[0]["field_code"] == "ai"
    assert ranking.iloc[0]["rank"] == 1


def test_demand_certainly_below_supply_is_no_shortage(default_catalog: Catalog) -> None:
    catalog = tiny_catalog(default_catalog, [("080717T", "bachelor", 4, "ai")])
    result = compute_balance(steady_data(catalog, 2_000), POSTINGS_ARE_OPENINGS)
    future = result.balance[
        (result.balance["field_code"] == "ai") & (result.balance["year"] > 2025)
    ]
    assert (future["p_shortage"] < 0.01).all()
    assert (future["shortfall_w90"] < 0.01 * future["supply_p50"]).all()


def test_totals_are_the_sums_of_their_parts(default_catalog: Catalog) -> None:
    catalog = tiny_catalog(
        default_catalog,
        [
            ("080717T", "bachelor", 4, "ai"),
            ("510209", "higher_vocational", 3, "ai"),
            ("080704", "bachelor", 4, "ic"),
        ],
    )
    rng = np.random.default_rng(0)
    rows = []
    for code, level in (
        ("080717T", "bachelor"),
        ("510209", "higher_vocational"),
        ("080704", "bachelor"),
    ):
        for year in YEARS:
            rows.append((year, code, level, int(rng.integers(800, 1200))))
    enrollment = pd.DataFrame(rows, columns=["year", "programme_code", "level", "enrolled"])
    graduates = enrollment.rename(columns={"enrolled": "graduates"})
    graduates["graduates"] = (graduates["graduates"] * 0.9).round().astype(int)
    outcomes = graduates.assign(
        placed=(graduates["graduates"] * 0.9).round().astype(int),
        employed_in_field=(graduates["graduates"] * 0.4).round().astype(int),
        employed_locally=(graduates["graduates"] * 0.5).round().astype(int),
    )
    hiring = pd.DataFrame(
        [
            (str(y), field, level, int(rng.integers(300, 500)))
            for y in range(2014, 2026)
            for field, level in (
                ("ai", "bachelor"),
                ("ai", "higher_vocational"),
                ("ic", "bachelor"),
            )
        ],
        columns=["period", "field_code", "level", "postings"],
    )
    data = TalentData.from_observations(
        catalog,
        {
            Kind.ENROLLMENT: enrollment,
            Kind.GRADUATES: graduates,
            Kind.OUTCOMES: outcomes,
            Kind.HIRING: hiring,
        },
    )
    balance = compute_balance(data, SETTINGS).balance.set_index(["field_code", "level", "year"])
    for column in ("supply_mean", "demand_mean", "gap_mean"):
        for year in (2024, 2027, 2031):
            ai_levels = (
                balance.loc[("ai", "bachelor", year), column]
                + balance.loc[("ai", "higher_vocational", year), column]
            )
            assert balance.loc[("ai", "all", year), column] == pytest.approx(ai_levels)
            bachelor = (
                balance.loc[("ai", "bachelor", year), column]
                + balance.loc[("ic", "bachelor", year), column]
            )
            assert balance.loc[("all", "bachelor", year), column] == pytest.approx(bachelor)
            fields = (
                balance.loc[("ai", "all", year), column] + balance.loc[("ic", "all", year), column]
            )
            assert balance.loc[("all", "all", year), column] == pytest.approx(fields)
    gap = balance.loc[("all", "all", 2030)]
    assert gap["gap_p05"] <= gap["gap_p50"] <= gap["gap_p95"]


def test_a_new_programme_with_two_years_does_not_get_absurd_rates() -> None:
    """Nine established programmes around 40% in-field; a new one with 10 placed graduates
    and none in the field yet is pulled toward the group, not reported as 0%."""
    successes = pd.Series([400, 380, 420, 410, 390, 405, 395, 415, 385, 0])
    trials = pd.Series([1000] * 9 + [10])
    shrunk = shrink(successes, trials, pd.Series(["g"] * 10))
    assert 0.3 < shrunk.rate.iloc[-1] < 0.42
    assert shrunk.rate.iloc[0] == pytest.approx(0.4, abs=0.01), "large programmes keep theirs"


def test_new_programme_completion_and_outcome_rates_stay_plausible(
    default_catalog: Catalog,
) -> None:
    catalog = tiny_catalog(
        default_catalog,
        [
            ("080901", "bachelor", 4, "next_gen_it"),
            ("080902", "bachelor", 4, "next_gen_it"),
            ("080903", "bachelor", 4, "next_gen_it"),
            ("080717T", "bachelor", 4, "next_gen_it"),
        ],
    )
    rows, grads, outs = [], [], []
    for code in ("080901", "080902", "080903"):
        for year in YEARS:
            rows.append((year, code, "bachelor", 1000))
            grads.append((year, code, "bachelor", 930))
            outs.append((year, code, "bachelor", 930, 830, 420, 500))
    # New: enrolled 2020-2025, two graduating cohorts (2024, 2025) of a tiny first intake.
    for year in range(2020, 2026):
        rows.append((year, "080717T", "bachelor", 12 if year < 2022 else 200))
    for year, count in ((2024, 4), (2025, 5)):
        grads.append((year, "080717T", "bachelor", count))
        outs.append((year, "080717T", "bachelor", count, count, 0, count))
    data = TalentData.from_observations(
        catalog,
        {
            Kind.ENROLLMENT: pd.DataFrame(
                rows, columns=["year", "programme_code", "level", "enrolled"]
            ),
            Kind.GRADUATES: pd.DataFrame(
                grads, columns=["year", "programme_code", "level", "graduates"]
            ),
            Kind.OUTCOMES: pd.DataFrame(
                outs,
                columns=[
                    "year",
                    "programme_code",
                    "level",
                    "graduates",
                    "placed",
                    "employed_in_field",
                    "employed_locally",
                ],
            ),
        },
    )
    completion = completion_rates(data).set_index("programme_code")
    assert completion.loc["080717T", "raw_rate"] < 0.4, "9 of 24: the raw rate is noise"
    assert 0.85 < completion.loc["080717T", "rate"] < 0.95
    rates = outcome_rates(data).set_index("programme_code")
    new = rates.loc["080717T"]
    assert new["infield_raw"] == 0.0
    assert 0.4 < new["infield"] < 0.51, "pulled to the group (420 of 830), far from 0"
    assert new["placement"] < 0.99, "9 of 9 placed does not make a certainty"


def test_survey_bias_is_learned_and_shrunk(default_catalog: Catalog) -> None:
    realised = pd.DataFrame(
        [(f, "bachelor", y, 100.0) for f in ("ic", "ai") for y in range(2016, 2026)],
        columns=["field_code", "level", "year", "demand"],
    )
    surveys = pd.DataFrame(
        [("assoc", s, s + 2, "ic", "bachelor", 150) for s in range(2014, 2024)]
        + [("assoc", 2020, 2022, "ai", "bachelor", 150)],
        columns=["source", "survey_year", "target_year", "field_code", "level", "headcount"],
    )
    catalog = tiny_catalog(default_catalog, [("080717T", "bachelor", 4, "ai")])
    data = TalentData(
        catalog, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), surveys
    )
    table = survey_bias(data, realised, strength=3.0).set_index("field_code")
    # Ten surveys learn the bias, shrunk a little toward the association's overall bias,
    # which (eleven surveys) is itself shrunk a little toward no bias.
    assert 1.45 < table.loc["ic", "factor"] < 1.5
    assert table.loc["ic", "n_surveys"] == 10
    assert 1.3 < table.loc["ai", "factor"] < table.loc["ic", "factor"], "one survey: shrunk"


def _cell(field_code: str, supply: float, demand: float, p_shortage: float, shortfall: float):
    gap = demand - supply
    return {
        "field_code": field_code,
        "level": "master",
        "year": 2027,
        "supply_p50": supply,
        "demand_p50": demand,
        "gap_p50": gap,
        "p_shortage": p_shortage,
        "shortfall_w90": shortfall,
    }


def test_the_shortfall_ranking_weighs_size_as_well_as_probability() -> None:
    balance = pd.DataFrame(
        [
            _cell("small", 2, 3, 0.93, 1.1),  # almost surely short, by one person
            _cell("large", 400, 476, 0.62, 61.0),  # less sure, but by dozens
            _cell("all", 402, 479, 0.9, 62.0),  # the total is never ranked
        ]
    )
    by_probability = shortage_ranking(balance, 2027, "master")
    assert list(by_probability["field_code"]) == ["small", "large"]
    by_size = shortage_ranking(balance, 2027, "master", by="shortfall")
    assert list(by_size["field_code"]) == ["large", "small"]
    assert list(by_size["rank"]) == [1, 2]
    with pytest.raises(ValueError, match="by must be one of probability, shortfall"):
        shortage_ranking(balance, 2027, "master", by="size")


def test_a_few_extreme_samples_do_not_decide_the_expected_shortfall() -> None:
    years = np.array([2027])
    supply = np.full((100, 1), 100.0)
    demand = np.full((100, 1), 90.0)  # a surplus of 10 in 85 samples ...
    demand[:5] = 1e9  # ... demand in the billions in 5
    demand[5:15] = 150.0  # and a shortfall of 50 in 10
    row = quantile_rows("ai", "bachelor", years, supply, demand).iloc[0]
    assert row["p_shortage"] == pytest.approx(0.15)
    assert row["gap_mean"] > 1e7  # the plain mean is the extreme samples'
    # 15% of samples short, each counted at most at the 90th-percentile gap (50).
    assert row["shortfall_w90"] == pytest.approx(0.15 * 50)
