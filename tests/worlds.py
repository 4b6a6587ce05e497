"""A small synthetic city in a real store, for tests that train more than once.

The embedded demo takes about 25 seconds to train even with small settings; this city (two
bachelor programmes, one for integrated circuits and one for AI, monthly hiring for both fields
and yearly surveys by the IC association) trains in a few seconds and still exercises every
stage: cohort supply, tightness demand, survey bias and the survey combination.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data.catalog import load_default_catalog
from data.ingest import IngestOptions, ensure_catalog, ingest_file
from data.store import Store, UploadRecord

FIRST_YEAR = 2012
LAST_YEAR = 2025
IC_ASSOCIATION = "tj_ic_association"
COMMISSION = "tj_education_commission"
HR_BUREAU = "tj_hr_bureau"
#: Programme code, field and yearly intake of the two programmes.
PROGRAMMES = (("080704", "ic", 1000), ("080717T", "ai", 1200))
#: Yearly postings per field (the IC field is short: some 600 postings for 290 graduates).
POSTINGS = {"ic": 600.0, "ai": 260.0}
#: How much the IC association overstates its needs.
IC_BIAS = 1.3


def upload(store: Store, kind: str, frame: pd.DataFrame, uploader: str, name: str) -> UploadRecord:
    """Ingest ``frame`` as the CSV file an uploader sends; the stored upload record."""
    content = frame.to_csv(index=False).encode("utf-8")
    return ingest_file(store, kind, content, filename=name, uploader=uploader).upload


def programme_frames(
    first: int = FIRST_YEAR, last: int = LAST_YEAR, seed: int = 0, scale: float = 1.0
) -> dict[str, pd.DataFrame]:
    """Enrollment, graduates and outcomes of the two programmes for ``first``-``last`` (the
    same figures for a year whatever the range asked for)."""
    enrollment, graduates, outcomes = [], [], []
    for index, (code, _field, intake) in enumerate(PROGRAMMES):
        for year in range(first, last + 1):
            rng = np.random.default_rng((seed, index, year))
            trend = 1 + 0.02 * (year - FIRST_YEAR)
            enrolled = round(scale * intake * trend * rng.normal(1, 0.03))
            finished = round(0.9 * enrolled * rng.normal(1, 0.02))
            placed = round(0.85 * finished)
            enrollment.append(
                {"year": year, "programme_code": code, "level": "bachelor", "enrolled": enrolled}
            )
            graduates.append(
                {"year": year, "programme_code": code, "level": "bachelor", "graduates": finished}
            )
            outcomes.append(
                {
                    "year": year,
                    "programme_code": code,
                    "level": "bachelor",
                    "graduates": finished,
                    "placed": placed,
                    "employed_in_field": round(0.6 * placed),
                    "employed_locally": round(0.5 * placed),
                }
            )
    return {
        "enrollment": pd.DataFrame(enrollment),
        "graduates": pd.DataFrame(graduates),
        "outcomes": pd.DataFrame(outcomes),
    }


def hiring_frame(
    first: int = FIRST_YEAR + 1,
    last: int = LAST_YEAR,
    seed: int = 1,
    factors: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Monthly postings per field (bachelor), growing 3% a year with noise; ``factors``
    scales some fields' postings (a revised series)."""
    rows = []
    for index, (field, yearly) in enumerate(POSTINGS.items()):
        factor = (factors or {}).get(field, 1.0)
        for year in range(first, last + 1):
            rng = np.random.default_rng((seed, index, year))
            level = factor * yearly * 1.03 ** (year - FIRST_YEAR) * rng.normal(1, 0.04)
            for month in range(1, 13):
                rows.append(
                    {
                        "period": f"{year}-{month:02d}",
                        "field_code": field,
                        "level": "bachelor",
                        "postings": max(round(level / 12 * rng.normal(1, 0.05)), 1),
                    }
                )
    return pd.DataFrame(rows)


def survey_frame(first: int = FIRST_YEAR + 2, last: int = LAST_YEAR, seed: int = 2) -> pd.DataFrame:
    """The IC association's yearly survey of its needs 1-5 years ahead (overstated)."""
    rows = []
    for survey_year in range(first, last + 1):
        rng = np.random.default_rng((seed, survey_year))
        for target in range(survey_year + 1, survey_year + 6):
            expected = POSTINGS["ic"] * 1.03 ** (target - FIRST_YEAR)
            rows.append(
                {
                    "survey_year": survey_year,
                    "target_year": target,
                    "field_code": "ic",
                    "level": "bachelor",
                    "headcount": round(IC_BIAS * expected * rng.normal(1, 0.03)),
                }
            )
    return pd.DataFrame(rows)


def load_world(store: Store, last: int = LAST_YEAR) -> list[UploadRecord]:
    """Every kind up to ``last``, one upload per kind (as a city loading its archive), after
    Tianjin's catalog if the store has none (the world's codes are Tianjin's)."""
    ensure_catalog(store, load_default_catalog())
    frames = programme_frames(last=last)
    return [
        upload(store, "enrollment", frames["enrollment"], COMMISSION, "enrollment.csv"),
        upload(store, "graduates", frames["graduates"], COMMISSION, "graduates.csv"),
        upload(store, "outcomes", frames["outcomes"], COMMISSION, "outcomes.csv"),
        upload(store, "hiring", hiring_frame(last=last), HR_BUREAU, "hiring.csv"),
        upload(store, "demand_survey", survey_frame(last=last), IC_ASSOCIATION, "survey.csv"),
    ]


def load_by_year(store: Store, archive: int = 2019, last: int = LAST_YEAR) -> list[UploadRecord]:
    """The archive through ``archive`` in one upload per kind, then every later year's data in
    its own uploads, as a city sends them year after year (the store then holds vintages)."""
    stored = load_world(store, last=archive)
    for year in range(archive + 1, last + 1):
        frames = programme_frames(first=year, last=year)
        for kind in ("enrollment", "graduates", "outcomes"):
            stored.append(upload(store, kind, frames[kind], COMMISSION, f"{kind}_{year}.csv"))
        hiring = hiring_frame(first=year, last=year)
        stored.append(upload(store, "hiring", hiring, HR_BUREAU, f"hiring_{year}.csv"))
        survey = survey_frame(first=year, last=year)
        stored.append(upload(store, "demand_survey", survey, IC_ASSOCIATION, f"survey_{year}.csv"))
    return stored


#: The same small city as a city of its own: its catalog has the two programmes, bachelor
#: only (so one 'other' line), and tiers and cost weights of its own choosing.
CITY_FIELDS = """field_code,name_zh,name_en,tier,sort_order,shortage_cost,surplus_cost
ic,集成电路,Integrated circuits,pillar,1,4,1
ai,人工智能,Artificial intelligence,emerging,2,2.5,0.5
other,其他,Other,other,99,0,0
"""
CITY_PROGRAMMES = (
    "programme_code,level,name_zh,name_en,duration_years,field_code,weight,verified,source\n"
    + """080704,bachelor,微电子科学与工程,Microelectronics,4,ic,1,yes,catalog 2025
080717T,bachelor,人工智能,Artificial Intelligence,4,ai,1,yes,catalog 2025
other,bachelor,其他本科专业,Other bachelor programmes,4,other,1,n/a,city totals
"""
)


def world_files(last: int = LAST_YEAR) -> dict[str, bytes]:
    """The world's data as the CSV files a city sends, by kind."""
    frames = {
        **programme_frames(last=last),
        "hiring": hiring_frame(last=last),
        "demand_survey": survey_frame(last=last),
    }
    return {kind: frame.to_csv(index=False).encode("utf-8") for kind, frame in frames.items()}


#: A province of two cities (130100 and 130200), each a copy of the small city.
PROVINCE = "130000"
CITIES = ("130100", "130200")


def load_province(store: Store) -> None:
    """The small city twice as the two cities of :data:`PROVINCE`: the second half the size,
    with its own noise and relatively more IC postings."""
    ensure_catalog(store, load_default_catalog())
    options = IngestOptions(city_region=PROVINCE, regions=CITIES)
    for region, scale, seed in ((CITIES[0], 1.0, 0), (CITIES[1], 0.5, 5)):
        frames = {
            **programme_frames(seed=seed, scale=scale),
            "hiring": hiring_frame(seed=seed + 1, factors={"ic": 1.3 * scale, "ai": scale}),
            "demand_survey": survey_frame(seed=seed + 2),
        }
        for kind, frame in frames.items():
            content = frame.assign(region=region).to_csv(index=False).encode("utf-8")
            ingest_file(store, kind, content, uploader=COMMISSION, options=options)
