"""Rates behind supply: the yearly group rates that trends are fitted to."""

from __future__ import annotations

import numpy as np
import pandas as pd

from data.catalog import Catalog
from data.vocabulary import Kind
from features.rates import group_rate_history
from features.talent import TalentData, expit
from tests.support import tiny_catalog


def outcomes_data(catalog: Catalog, rows: list[tuple[str, int, int, int]]) -> TalentData:
    """Outcomes of programme (code, year, graduates, employed locally), all placed and in field."""
    outcomes = pd.DataFrame(
        {
            "year": [year for _, year, _, _ in rows],
            "programme_code": [code for code, _, _, _ in rows],
            "level": "doctor",
            "graduates": [n for _, _, n, _ in rows],
            "placed": [n for _, _, n, _ in rows],
            "employed_in_field": [n for _, _, n, _ in rows],
            "employed_locally": [local for _, _, _, local in rows],
        }
    )
    return TalentData.from_observations(catalog, {Kind.OUTCOMES: outcomes})


def test_a_tiny_groups_year_with_nobody_local_stays_near_its_usual_rate(
    default_catalog: Catalog,
) -> None:
    # Three graduates a year, about half of them staying; in 2017 none stayed. The raw logit
    # of 0/3 is about -9, which would drag any trend fitted to the series far below.
    catalog = tiny_catalog(default_catalog, [("0805", "doctor", 4, "new_materials")])
    local = [2, 1, 2, 1, 0, 2, 1, 2]
    rows = [("0805", 2013 + i, 3, n) for i, n in enumerate(local)]
    history = group_rate_history(outcomes_data(catalog, rows))
    series = history[history["series_id"] == "local|new_materials|doctor"]
    rates = expit(series["value"].to_numpy())
    zero_year = rates[local.index(0)]
    assert 0.15 < zero_year < 0.5
    assert np.all((rates > 0.1) & (rates < 0.9))


def test_a_large_groups_yearly_rate_is_its_own(default_catalog: Catalog) -> None:
    catalog = tiny_catalog(default_catalog, [("0805", "doctor", 4, "new_materials")])
    rows = [("0805", 2013, 1000, 500), ("0805", 2014, 1000, 800)]
    history = group_rate_history(outcomes_data(catalog, rows))
    series = history[history["series_id"] == "local|new_materials|doctor"]
    rates = expit(series["value"].to_numpy())
    # 2014's prior is the rate so far (1300/2000): five pseudo-graduates move 800/1000 by < 0.1pt.
    assert abs(rates[0] - 0.5) < 1e-3
    assert abs(rates[1] - 0.8) < 2e-3


def test_yearly_rates_do_not_borrow_from_later_years(default_catalog: Catalog) -> None:
    catalog = tiny_catalog(default_catalog, [("0805", "doctor", 4, "new_materials")])
    early = [("0805", 2013 + i, 3, 1) for i in range(4)]
    late = [("0805", 2017 + i, 3, 3) for i in range(4)]
    cut = group_rate_history(outcomes_data(catalog, early))
    full = group_rate_history(outcomes_data(catalog, early + late))
    key = ["series_id", "period"]
    merged = cut.merge(full, on=key, suffixes=("_cut", "_full"))
    assert len(merged) == len(cut)
    np.testing.assert_allclose(merged["value_cut"], merged["value_full"])
