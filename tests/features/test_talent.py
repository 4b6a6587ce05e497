"""Talent data assembly: city totals, annual hiring, cutting back in time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data.catalog import Catalog
from data.vocabulary import Kind
from features.talent import TalentData


def data(default_catalog: Catalog, hiring: pd.DataFrame) -> TalentData:
    enrollment = pd.DataFrame(
        {
            "year": [2020, 2020, 2020, 2021],
            "programme_code": ["080901"] * 4,
            "level": ["bachelor"] * 4,
            "enrolled": [100, 50, 7, 160],
            "region": ["120000", "120000", "110000", "120000"],
            "institution": ["A", "B", "A", ""],
        }
    )
    return TalentData.from_observations(
        default_catalog, {Kind.ENROLLMENT: enrollment, Kind.HIRING: hiring}
    )


def monthly(field: str, level: str, year: int, values: dict[int, float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "period": [f"{year}-{m:02d}" for m in values],
            "field_code": field,
            "level": level,
            "postings": list(values.values()),
        }
    )


def test_city_totals_sum_institutions_and_ignore_other_regions(default_catalog: Catalog) -> None:
    talent = data(
        default_catalog, pd.DataFrame(columns=["period", "field_code", "level", "postings"])
    )
    assert talent.enrollment.set_index("year")["enrolled"].to_dict() == {2020: 150, 2021: 160}
    assert talent.last_year == 2021


def test_annual_hiring_interpolates_missing_months_and_drops_incomplete_years(
    default_catalog: Catalog,
) -> None:
    values = dict.fromkeys(range(1, 13), 10.0)
    del values[6]  # a missing June is interpolated as 10
    hiring = pd.concat(
        [
            monthly("ai", "bachelor", 2020, values),
            monthly("ai", "bachelor", 2021, {1: 10.0, 2: 10.0}),  # incomplete year
        ]
    )
    annual = data(default_catalog, hiring).annual_hiring()
    records = annual.to_dict("records")
    assert len(records) == 1
    assert records[0] | {"hires": None} == {
        "field_code": "ai",
        "level": "bachelor",
        "year": 2020,
        "postings": 120.0,
        "hires": None,
    }
    assert np.isnan(records[0]["hires"]), "no hires reported: unknown, not zero"


def test_annual_hires_need_every_period_of_the_year(default_catalog: Catalog) -> None:
    full = monthly("ai", "bachelor", 2020, dict.fromkeys(range(1, 13), 10.0)).assign(hires=4.0)
    partial = monthly("ai", "bachelor", 2021, dict.fromkeys(range(1, 13), 10.0)).assign(
        hires=[4.0] * 11 + [np.nan]
    )
    annual = data(default_catalog, pd.concat([full, partial])).annual_hiring()
    hires = annual.set_index("year")["hires"]
    assert hires[2020] == pytest.approx(48.0)
    assert np.isnan(hires[2021]), "a year with a month unreported has no annual hires"


def test_level_less_postings_are_spread_by_level_shares(default_catalog: Catalog) -> None:
    hiring = pd.DataFrame(
        {
            "period": ["2020", "2020", "2020"],
            "field_code": ["ic", "ic", "ic"],
            "level": ["bachelor", "master", "all"],
            "postings": [300.0, 100.0, 40.0],
        }
    )
    annual = data(default_catalog, hiring).annual_hiring().set_index("level")["postings"]
    assert annual["bachelor"] == pytest.approx(330.0)
    assert annual["master"] == pytest.approx(110.0)


def test_cut_keeps_what_was_known_at_the_end_of_a_year(default_catalog: Catalog) -> None:
    hiring = pd.concat(
        [monthly("ai", "bachelor", y, dict.fromkeys(range(1, 13), 1.0)) for y in (2020, 2021)]
    )
    cut = data(default_catalog, hiring).cut(2020)
    assert cut.last_year == 2020
    assert cut.hiring["period"].str[:4].eq("2020").all()


def test_several_regions_read_as_their_sum(default_catalog: Catalog) -> None:
    enrollment = pd.DataFrame(
        {
            "year": [2020, 2020, 2020],
            "programme_code": ["080901"] * 3,
            "level": ["bachelor"] * 3,
            "enrolled": [100, 50, 7],
            "region": ["130100", "130200", "130300"],
        }
    )
    frames = {Kind.ENROLLMENT: enrollment}
    one = TalentData.from_observations(default_catalog, frames, "130200")
    two = TalentData.from_observations(default_catalog, frames, ("130100", "130200"))
    assert one.enrollment["enrolled"].tolist() == [50]
    assert two.enrollment["enrolled"].tolist() == [150]
