"""Rates behind supply: completion, placement, entering the field, staying in the city.

Every rate is estimated from counts, never stored as the truth. A small or new
programme's raw rate is mostly noise (28 of 30 placed says little), so each programme's rate is
shrunk toward the rate of its group — programmes of the same main field and level — by
empirical Bayes: the group's spread of true rates, estimated from all its programmes, decides
how many graduates a programme needs before its own rate dominates. Groups with too few
programmes borrow from the whole level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from data.catalog import Catalog
from features.talent import TalentData, logit, programme_key, programme_keys

#: A group needs this many programmes with data to estimate its own spread.
MIN_GROUP_SIZE: Final = 3
#: Bounds on the prior strength (pseudo-graduates): never ignore a programme's data entirely,
#: never let the prior vanish for programmes of a few dozen graduates.
STRENGTH_BOUNDS: Final = (5.0, 5000.0)
RATE_NAMES: Final = ("placement", "infield", "local")
#: Pseudo-graduates added to each year's rate of a group, at the group's rate so far
#: (:func:`group_rate_history`).
YEAR_PSEUDO_TRIALS: Final = 5.0


@dataclass(frozen=True)
class ShrunkRates:
    """Per-unit shrunk rates, with each unit's group rate and prior strength."""

    rate: pd.Series
    group_rate: pd.Series
    strength: pd.Series
    trials: pd.Series


def primary_fields(catalog: Catalog) -> pd.Series:
    """The main field of every programme (largest crosswalk weight), indexed by ``code|level``."""
    crosswalk = catalog.crosswalk.sort_values(
        ["programme_code", "level", "weight"], ascending=[True, True, False]
    )
    first = crosswalk.drop_duplicates(["programme_code", "level"])
    keys = programme_keys(first)
    return pd.Series(first["field_code"].to_numpy(), index=keys, name="field_code")


def shrink(successes: pd.Series, trials: pd.Series, groups: pd.Series) -> ShrunkRates:
    """Empirical-Bayes shrinkage of ``successes / trials`` toward each group's pooled rate.

    Beta-binomial method of moments: the between-unit variance of the true rates is the
    weighted variance of raw rates minus binomial noise; the prior strength is
    μ(1−μ)/τ² − 1. Ratios above 1 (more graduates than entrants: transfers in) are allowed;
    the variance formula then uses a floor on μ(1−μ).
    """
    frame = pd.DataFrame({"s": successes, "n": trials, "group": groups}).astype(
        {"s": float, "n": float}
    )
    frame = frame[frame["n"] > 0]
    rate = pd.Series(np.nan, index=successes.index)
    group_rate = pd.Series(np.nan, index=successes.index)
    strength = pd.Series(np.nan, index=successes.index)
    overall_mu, overall_k = _prior(frame)
    for _, members in frame.groupby("group"):
        if len(members) >= MIN_GROUP_SIZE:
            mu, k = _prior(members)
        else:  # too few programmes to measure the group's spread: borrow the overall one
            k = overall_k
            mu = (members["s"].sum() + k * overall_mu) / (members["n"].sum() + k)
        rate[members.index] = (members["s"] + k * mu) / (members["n"] + k)
        group_rate[members.index] = mu
        strength[members.index] = k
    return ShrunkRates(rate, group_rate, strength, trials.astype(float))


def _prior(frame: pd.DataFrame) -> tuple[float, float]:
    mu = float(frame["s"].sum() / frame["n"].sum())
    raw = frame["s"] / frame["n"]
    weights = frame["n"] / frame["n"].sum()
    observed = float(np.sum(weights * (raw - mu) ** 2))
    spread = max(mu * (1 - mu), 0.01)
    noise = spread * len(frame) / frame["n"].sum()
    between = max(observed - noise, 1e-6)
    low, high = STRENGTH_BOUNDS
    return mu, float(np.clip(spread / between - 1, low, high))


def completion_rates(data: TalentData) -> pd.DataFrame:
    """Graduates per entrant of ``duration`` years earlier, per programme, shrunk by level.

    Columns: key, programme_code, level, duration, rate, raw_rate, entrants (matched).
    Programmes without a matched cohort get their level's rate.
    """
    programmes = data.catalog.programmes.set_index(["programme_code", "level"])
    entrants = data.enrollment.set_index(["programme_code", "level", "year"])["enrolled"]
    rows = []
    for (code, level), group in data.graduates.groupby(["programme_code", "level"]):
        if (code, level) not in programmes.index:
            continue
        duration = int(programmes.loc[(code, level), "duration_years"])
        matched = [
            (float(g), float(entrants[(code, level, int(y) - duration)]))
            for y, g in zip(group["year"], group["graduates"], strict=True)
            if (code, level, int(y) - duration) in entrants.index and pd.notna(g)
        ]
        graduates = sum(g for g, _ in matched)
        cohort = sum(e for _, e in matched)
        rows.append((programme_key(code, level), code, level, duration, graduates, cohort))
    frame = pd.DataFrame(
        rows, columns=["key", "programme_code", "level", "duration", "graduates", "entrants"]
    ).set_index("key")
    shrunk = shrink(frame["graduates"], frame["entrants"], frame["level"])
    frame["raw_rate"] = frame["graduates"] / frame["entrants"].where(frame["entrants"] > 0)
    frame["rate"] = shrunk.rate.fillna(shrunk.group_rate)
    level_rates = frame.groupby("level").apply(
        lambda g: g["graduates"].sum() / max(g["entrants"].sum(), 1.0), include_groups=False
    )
    missing = frame["rate"].isna()
    frame.loc[missing, "rate"] = frame.loc[missing, "level"].map(level_rates)
    return frame.reset_index()


def outcome_rates(data: TalentData, recent_years: int = 3) -> pd.DataFrame:
    """Placement, in-field and local-retention rates per programme from its last years.

    Counts of the last ``recent_years`` years with outcomes are pooled, then shrunk toward the
    programme's (main field, level) group. Columns: key, programme_code, level, field_code,
    and for each rate ``<name>`` (shrunk), ``<name>_raw`` and ``<name>_n`` (the trials).
    """
    outcomes = data.outcomes.copy()
    if outcomes.empty:
        raise ValueError("no graduate outcomes: supply rates cannot be estimated")
    latest = outcomes.groupby(["programme_code", "level"])["year"].transform("max")
    recent = outcomes[outcomes["year"] > latest - recent_years]
    fields = primary_fields(data.catalog)
    counts = _rate_counts(recent).set_index("key")
    counts["field_code"] = fields.reindex(counts.index).fillna("other").to_numpy()
    groups = counts["field_code"] + "/" + counts["level"]
    for name in RATE_NAMES:
        shrunk = shrink(counts[f"{name}_s"], counts[f"{name}_n"], groups)
        counts[name] = shrunk.rate.fillna(shrunk.group_rate)
        counts[f"{name}_raw"] = counts[f"{name}_s"] / counts[f"{name}_n"].where(
            counts[f"{name}_n"] > 0
        )
        fallback = counts.groupby("level")[name].transform("median")
        counts[name] = counts[name].fillna(fallback).clip(0, 1)
    return counts.drop(columns=[f"{n}_s" for n in RATE_NAMES]).reset_index()


def group_rate_history(data: TalentData) -> pd.DataFrame:
    """Yearly rates per (rate, main field, level) group, as logits, for trend forecasting.

    Long frame: series_id ``rate|field|level``, period (year), value (logit of the group's
    rate that year), trials (its denominator).

    A group of a few graduates a year has raw rates of 0/3 or 3/3, whose logits (±9) would
    dominate any trend fitted to them. Each year's rate therefore gets
    :data:`YEAR_PSEUDO_TRIALS` pseudo-graduates at the group's rate over that year and all
    before it (never a later one: backtests of the trend must not see the future). A year of
    three graduates then sits mostly at the group's rate; a year of a hundred keeps its own.
    The strength is deliberately small and fixed rather than estimated: the year-to-year
    spread of a group's rate is mostly the market moving it, which the trend must follow.
    """
    outcomes = data.outcomes
    fields = primary_fields(data.catalog)
    keys = programme_keys(outcomes)
    counts = _rate_counts(outcomes.assign(key=keys), by_year=True)
    counts["field_code"] = fields.reindex(counts["key"]).fillna("other").to_numpy()
    pooled = counts.groupby(["field_code", "level", "year"], as_index=False).sum(numeric_only=True)
    parts = []
    for name in RATE_NAMES:
        usable = pooled[pooled[f"{name}_n"] > 0].sort_values(["field_code", "level", "year"])
        successes, trials = usable[f"{name}_s"], usable[f"{name}_n"]
        group = [usable["field_code"], usable["level"]]
        earlier = successes.groupby(group).cumsum() / trials.groupby(group).cumsum()
        smoothed = (successes + YEAR_PSEUDO_TRIALS * earlier) / (trials + YEAR_PSEUDO_TRIALS)
        parts.append(
            pd.DataFrame(
                {
                    "series_id": name + "|" + usable["field_code"] + "|" + usable["level"],
                    "period": usable["year"].astype(int).astype(str),
                    "value": logit(smoothed),
                    "trials": trials,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def _rate_counts(outcomes: pd.DataFrame, by_year: bool = False) -> pd.DataFrame:
    """Successes and trials of the three rates per programme (and year)."""
    frame = outcomes.copy()
    if "key" not in frame.columns:
        frame["key"] = programme_keys(frame)
    infield_known = frame["employed_in_field"].notna()
    local_known = frame["employed_locally"].notna()
    frame["placement_s"] = frame["placed"].astype(float)
    frame["placement_n"] = frame["graduates"].astype(float)
    frame["infield_s"] = frame["employed_in_field"].astype(float).fillna(0)
    frame["infield_n"] = frame["placed"].astype(float).where(infield_known, 0.0)
    frame["local_s"] = frame["employed_locally"].astype(float).fillna(0)
    frame["local_n"] = frame["placed"].astype(float).where(local_known, 0.0)
    key = ["key", "programme_code", "level"] + (["year"] if by_year else [])
    columns = [f"{n}_{p}" for n in RATE_NAMES for p in ("s", "n")]
    return frame.groupby(key, as_index=False)[columns].sum()
