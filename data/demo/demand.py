"""Demand side of the demo city: the latent balance, monthly hiring and association surveys.

Latent new-graduate demand of a field and level is the local in-field supply times a
documented demand/supply ratio trajectory, so the true gap of every field is known and a later
backtest can check whether the product finds it. Hiring data show that demand through a noisy
monthly lens (seasons, Spring Festival, COVID); surveys show it through biased associations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from data.catalog import OTHER, Catalog
from data.demo import assumptions
from data.demo.calibration import LAST_YEAR
from data.demo.streams import stream
from data.vocabulary import ALL_LEVELS, LEVELS

HIRING_YEARS: Final = tuple(range(assumptions.FIRST_HIRING_YEAR, LAST_YEAR + 1))
DEMAND_YEARS: Final = tuple(range(assumptions.FIRST_HIRING_YEAR, assumptions.LAST_DEMAND_YEAR + 1))
HIRING_COLUMNS: Final = ["period", "field_code", "level", "postings", "hires", "job_seekers"]
SURVEY_COLUMNS: Final = ["survey_year", "target_year", "field_code", "level", "headcount"]
#: The restated months of IC hiring (a de-duplication of scraped postings).
CORRECTED_MONTHS: Final = tuple(f"{LAST_YEAR}-{m:02d}" for m in range(4, 10))
CORRECTED_FIELD: Final = "ic"


@dataclass(frozen=True)
class Demand:
    """Latent balance, hiring as first uploaded and as corrected, and surveys per association.

    ``hiring`` is what the store holds after the correction (missing months absent, the
    scraping glitch included); ``hiring_initial`` is the first upload, whose IC months
    ``CORRECTED_MONTHS`` are inflated; ``hiring_correction`` restates them.
    """

    balance: pd.DataFrame
    hiring: pd.DataFrame
    hiring_initial: pd.DataFrame
    hiring_correction: pd.DataFrame
    surveys: dict[str, pd.DataFrame]
    messy: pd.DataFrame


def local_in_field_supply(catalog: Catalog, rates: pd.DataFrame) -> pd.DataFrame:
    """S(f, l, y) = sum over programmes of weight x graduates x placement x in-field x local."""
    crosswalk = catalog.crosswalk[catalog.crosswalk["field_code"] != OTHER]
    merged = rates.merge(crosswalk, on=["programme_code", "level"])
    merged["supply"] = (
        merged["weight"]
        * merged["graduates"]
        * merged["placement_rate"]
        * merged["in_field_rate"]
        * merged["local_rate"]
    )
    return merged.groupby(["field_code", "level", "year"])["supply"].sum().reset_index()


def demand_ratio(field_code: str, year: int) -> float:
    """Demand / local in-field supply of a field in a year (linear between documented knots)."""
    knots = assumptions.DEMAND_RATIO.get(field_code, assumptions.DEFAULT_RATIO)
    return float(np.interp(year, [k[0] for k in knots], [k[1] for k in knots]))


def build_demand(catalog: Catalog, rates: pd.DataFrame, seed: int) -> Demand:
    """Generate the balance, the hiring series and the surveys (see module docstring)."""
    supply = local_in_field_supply(catalog, rates)
    balance = _balance(supply, catalog, seed)
    hiring = _hiring(balance, seed)
    hiring, messy = _mess_up(hiring, seed)
    corrected = hiring["period"].isin(CORRECTED_MONTHS) & (hiring["field_code"] == CORRECTED_FIELD)
    correction = hiring[corrected].reset_index(drop=True)
    initial = hiring.copy()
    rng = stream(seed, "messy", "ic_duplicates")
    inflation = rng.uniform(1.15, 1.35, int(corrected.sum()))
    initial.loc[corrected, "postings"] = np.round(
        initial.loc[corrected, "postings"].to_numpy() * inflation
    ).astype("int64")
    surveys = {
        association.id: frame
        for association in assumptions.ASSOCIATIONS
        if not (frame := _survey(association, balance, seed)).empty
    }
    return Demand(balance, hiring, initial, correction, surveys, messy)


def _balance(supply: pd.DataFrame, catalog: Catalog, seed: int) -> pd.DataFrame:
    """Latent demand 2016-2030 and local in-field supply 2016-2025 per field and level."""
    pairs = (
        catalog.crosswalk.loc[catalog.crosswalk["field_code"] != OTHER, ["field_code", "level"]]
        .drop_duplicates()
        .sort_values(["field_code", "level"], key=_level_order)
    )
    indexed = supply.set_index(["field_code", "level", "year"])["supply"]
    rows = []
    for field_code, level in pairs.itertuples(index=False):
        rng = stream(seed, "demand", field_code, level)
        noise = rng.lognormal(0, assumptions.DEMAND_NOISE_SD, len(HIRING_YEARS))
        observed: dict[int, float] = {}
        clean: dict[int, float] = {}
        for year, wobble in zip(HIRING_YEARS, noise, strict=True):
            s = float(indexed.get((field_code, level, year), 0.0))
            clean[year] = (
                s * demand_ratio(field_code, year) * assumptions.MACRO_SHOCK.get(year, 1.0)
            )
            observed[year] = clean[year] * wobble
            rows.append((field_code, level, year, observed[year], s))
        growth = _extension_growth(clean)
        for year in range(LAST_YEAR + 1, assumptions.LAST_DEMAND_YEAR + 1):
            rows.append(
                (
                    field_code,
                    level,
                    year,
                    observed[LAST_YEAR] * np.exp(growth * (year - LAST_YEAR)),
                    np.nan,
                )
            )
    columns = ["field_code", "level", "year", "demand", "supply_local_in_field"]
    return pd.DataFrame(rows, columns=columns)


def _level_order(column: pd.Series) -> pd.Series:
    if column.name == "level":
        return column.map({level: i for i, level in enumerate(LEVELS)})
    return column


def _extension_growth(clean: dict[int, float]) -> float:
    """Recent log-growth of noise-free demand (2021-2025, or since it started), bounded."""
    start = next((y for y in range(LAST_YEAR - 4, LAST_YEAR) if clean[y] > 0), None)
    if start is None or clean[LAST_YEAR] <= 0:
        return 0.0
    slope = np.log(clean[LAST_YEAR] / clean[start]) / (LAST_YEAR - start)
    return float(np.clip(slope, *assumptions.EXTENSION_GROWTH_BOUNDS))


def posting_weights(year: int) -> np.ndarray:
    """Share of a year's postings in each month: season x Spring Festival x COVID."""
    weights = np.array(assumptions.POSTING_SEASON, dtype=float)
    month, day = assumptions.SPRING_FESTIVAL[year]
    if day <= 14:
        weights[month - 1] *= 0.5
    else:
        weights[month - 1] *= 0.65
        weights[month] *= 0.8
    for (covid_year, covid_month), factor in assumptions.COVID_MONTHS.items():
        if covid_year == year:
            weights[covid_month - 1] *= factor
    return weights / weights.sum()


def _hiring(balance: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Monthly postings, hires and job seekers per field and level, from the first demand."""
    seekers_season = np.array(assumptions.SEEKER_SEASON) / sum(assumptions.SEEKER_SEASON)
    rows = []
    observed = balance[balance["year"] <= LAST_YEAR]
    for (field_code, level), series in observed.groupby(["field_code", "level"], sort=False):
        rng = stream(seed, "hiring", str(field_code), str(level))
        started = False
        for year, demand, supply in series[["year", "demand", "supply_local_in_field"]].itertuples(
            index=False
        ):
            started = started or demand > 0
            if not started:
                continue
            weights = posting_weights(int(year))
            postings = rng.poisson(
                demand * weights * rng.lognormal(0, assumptions.POSTING_NOISE_SD, 12)
            )
            annual_hires = min(demand, assumptions.HIRES_CAP_OF_SUPPLY * supply) * rng.lognormal(
                0, 0.05
            )
            hires = np.minimum(postings, rng.poisson(annual_hires * weights))
            annual_seekers = assumptions.SEEKERS_PER_SUPPLY * supply * rng.lognormal(0, 0.05)
            seekers = rng.poisson(annual_seekers * seekers_season)
            for month in range(12):
                rows.append(
                    (
                        f"{int(year)}-{month + 1:02d}",
                        field_code,
                        level,
                        postings[month],
                        hires[month],
                        seekers[month],
                    )
                )
    frame = pd.DataFrame(rows, columns=HIRING_COLUMNS)
    return frame.astype(dict.fromkeys(("postings", "hires", "job_seekers"), "int64"))


def _mess_up(hiring: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drop a few months of some series and multiply one month by five (a scraping glitch).

    IC series are left alone so the IC correction restates clean rows only.
    """
    rng = stream(seed, "messy", "hiring")
    key = ["field_code", "level"]
    early = hiring[hiring["period"] < "2019"]
    sizes = early.groupby(key)["postings"].sum()
    eligible = [k for k in sizes.index if k[0] != CORRECTED_FIELD and sizes[k] >= 12 * 36]
    log: list[dict[str, object]] = []
    out = hiring.copy()
    drop = np.zeros(len(out), dtype=bool)
    if len(eligible) >= 4:
        chosen = rng.choice(len(eligible), size=4, replace=False)
        for position in chosen[:3]:
            field_code, level = eligible[int(position)]
            months = sorted(rng.choice(36, size=int(rng.integers(3, 5)), replace=False))
            periods = [f"{2016 + m // 12}-{m % 12 + 1:02d}" for m in months]
            drop |= (
                (out["field_code"] == field_code)
                & (out["level"] == level)
                & out["period"].isin(periods)
            ).to_numpy()
            log.append(
                {
                    "record": "missing months",
                    "field_code": field_code,
                    "level": level,
                    "detail": " ".join(periods),
                }
            )
        field_code, level = eligible[int(chosen[3])]
        # Away from the Spring Festival months and their neighbours, which a test compares.
        quiet = {month + d for month, _ in assumptions.SPRING_FESTIVAL.values() for d in (-1, 0, 1)}
        months = [m for m in range(3, 12) if m not in quiet]
        period = f"{int(rng.integers(2017, 2025))}-{int(rng.choice(months)):02d}"
        glitch = (
            (out["field_code"] == field_code) & (out["level"] == level) & (out["period"] == period)
        )
        out.loc[glitch, "postings"] *= 5
        log.append(
            {
                "record": "postings x5 (scraping glitch)",
                "field_code": field_code,
                "level": level,
                "detail": period,
            }
        )
    out = out[~drop].reset_index(drop=True)
    return out, pd.DataFrame(log, columns=["record", "field_code", "level", "detail"])


def _survey(association: assumptions.Association, balance: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Stated needs: demand in the target year x the association's bias x lognormal noise."""
    rng = stream(seed, "survey", association.id)
    demand = balance.set_index(["field_code", "level", "year"])["demand"]
    levels = balance.groupby("field_code")["level"].unique()
    rows = []
    for survey_year in range(association.first_survey, assumptions.LAST_SURVEY_YEAR + 1):
        for horizon in assumptions.SURVEY_HORIZONS:
            target = survey_year + horizon
            sd = assumptions.SURVEY_NOISE_SD + assumptions.SURVEY_NOISE_SD_PER_YEAR * (horizon - 1)
            for field_code in association.fields:
                if field_code not in levels.index:
                    continue
                field_levels = [lv for lv in LEVELS if lv in set(levels[field_code])]
                together = (
                    field_code in association.all_level_fields
                    or survey_year < association.per_level_from
                )
                groups = (
                    [(ALL_LEVELS, field_levels)]
                    if together
                    else [(lv, [lv]) for lv in field_levels]
                )
                for label, members in groups:
                    need = sum(float(demand.get((field_code, lv, target), 0.0)) for lv in members)
                    value = round(need * association.bias * float(rng.lognormal(0, sd)))
                    if value > 0:
                        rows.append((survey_year, target, field_code, label, value))
    frame = pd.DataFrame(rows, columns=SURVEY_COLUMNS)
    return frame.astype({"survey_year": "int64", "target_year": "int64", "headcount": "int64"})
