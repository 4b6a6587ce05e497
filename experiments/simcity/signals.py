"""What the city's employers and associations report about demand: postings, hires, job
seekers and surveys — noisy, scaled or biased views of the true openings.

- Postings are openings times a field's posting scale (several postings per opening: reposts,
  agencies, the same job on several sites), which may drift slowly, times lognormal noise.
- Hires are what the market could fill — at most min(openings, supply) — reported only for
  some fields; elsewhere the column is empty.
- Job seekers are a noisy multiple of the field's placed graduates.
- Associations survey future needs with a persistent field bias and noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.demo.streams import stream
from experiments.simcity.market import Market
from experiments.simcity.world import WorldSpec

#: Typical quarterly shares of a year's hiring (spring and autumn recruiting seasons).
SEASON = np.array([0.22, 0.30, 0.26, 0.22])
SURVEY_HORIZON = 3


@dataclass(frozen=True)
class Signals:
    """The hiring and survey upload frames, and the latent quantities behind them.

    ``posting_scale`` is (fields, years) over the market's years.
    """

    hiring: pd.DataFrame
    surveys: pd.DataFrame
    posting_scale: np.ndarray
    hires_fields: tuple[str, ...]
    survey_fields: tuple[str, ...]


def simulate_signals(
    spec: WorldSpec, seed: int, fields: tuple[str, ...], market: Market
) -> Signals:
    rng = stream(seed, spec.name, "postings")
    n_fields = len(fields)
    scale = rng.uniform(1.3, 5.0, n_fields)
    trend = rng.uniform(-spec.posting_drift, spec.posting_drift, n_fields)
    posting_scale = scale[:, None] * np.exp(
        trend[:, None] * (market.years - spec.first_hiring_year)[None, :]
    )
    picker = stream(seed, spec.name, "reporting fields")
    n_hires = _reporting(spec.hires_share, n_fields, at_least=2)
    hires_fields = _subset(fields, picker.choice(n_fields, n_hires, replace=False))
    n_surveys = _reporting(spec.survey_share, n_fields, at_least=1)
    survey_fields = _subset(fields, picker.choice(n_fields, n_surveys, replace=False))
    hiring = _hiring(spec, seed, fields, market, posting_scale=posting_scale, hires=hires_fields)
    surveys = _surveys(spec, seed, fields, market, survey_fields)
    return Signals(hiring, surveys, posting_scale, hires_fields, survey_fields)


def _reporting(share: float, n_fields: int, *, at_least: int) -> int:
    """How many fields report a signal: a share of zero means none (a city whose employers
    or associations never report it); any other share at least ``at_least``, so that a
    small world still has a few."""
    if share == 0:
        return 0
    return min(n_fields, max(at_least, round(share * n_fields)))


def _hiring(
    spec: WorldSpec,
    seed: int,
    fields: tuple[str, ...],
    market: Market,
    *,
    posting_scale: np.ndarray,
    hires: tuple[str, ...],
) -> pd.DataFrame:
    """Yearly rows (``2024``), or quarterly ones (``2024-Q2``) that add up to the year."""
    rng = stream(seed, spec.name, "hiring")
    seasons = stream(seed, spec.name, "seasons")
    seekers_per_graduate = rng.uniform(1.2, 2.5, len(fields))
    season = SEASON[None, :] * np.exp(seasons.normal(0, 0.1, (len(fields), 4)))
    rows = []
    for year in range(spec.first_hiring_year, spec.last_year + 1):
        i = market.year_index(year)
        for j, field_code in enumerate(fields):
            for index, level in enumerate(spec.levels):
                demand = market.demand[j, index, i]
                noise = np.exp(rng.normal(0, spec.posting_sd))
                postings = int(np.rint(posting_scale[j, i] * demand * noise))
                filled = min(demand, market.supply[j, index, i]) * rng.uniform(0.85, 1.0)
                reported = int(np.floor(filled)) if field_code in hires else None
                seekers = market.placed[j, index, i] * seekers_per_graduate[j]
                seekers = int(np.rint(seekers * np.exp(rng.normal(0, 0.1))))
                if not spec.quarterly_hiring:
                    rows.append((str(year), field_code, level, postings, reported, seekers))
                    continue
                shares = season[j] * np.exp(seasons.normal(0, 0.05, 4))
                shares /= shares.sum()
                quarters = zip(
                    _apportion(postings, shares),
                    np.floor((reported or 0) * shares).astype(int),
                    _apportion(seekers, shares),
                    strict=True,
                )
                for q, (p, h, s) in enumerate(quarters, start=1):
                    quarter_hires = int(h) if reported is not None else None
                    rows.append((f"{year}-Q{q}", field_code, level, int(p), quarter_hires, int(s)))
    frame = pd.DataFrame(
        rows, columns=["period", "field_code", "level", "postings", "hires", "job_seekers"]
    )
    return frame.astype({"postings": "int64", "hires": "Int64", "job_seekers": "int64"})


def _surveys(
    spec: WorldSpec,
    seed: int,
    fields: tuple[str, ...],
    market: Market,
    survey_fields: tuple[str, ...],
) -> pd.DataFrame:
    """Each association files, every year, its headcount needs for the next three years."""
    rng = stream(seed, spec.name, "surveys")
    rows = []
    bias = dict(
        zip(
            survey_fields,
            np.exp(rng.normal(spec.survey_bias_mean, spec.survey_bias_sd, len(survey_fields))),
            strict=True,
        )
    )
    for survey_year in range(spec.first_survey_year, spec.last_year + 1):
        for field_code in survey_fields:
            j = fields.index(field_code)
            for target in range(survey_year + 1, survey_year + SURVEY_HORIZON + 1):
                for index, level in enumerate(spec.levels):
                    true = market.demand[j, index, market.year_index(target)]
                    stated = true * bias[field_code] * np.exp(rng.normal(0, spec.survey_sd))
                    rows.append(
                        (
                            survey_year,
                            target,
                            field_code,
                            level,
                            int(np.rint(stated)),
                            f"{field_code}_association",
                        )
                    )
    columns = ["survey_year", "target_year", "field_code", "level", "headcount", "source"]
    return pd.DataFrame(rows, columns=columns)


def _subset(fields: tuple[str, ...], positions: np.ndarray) -> tuple[str, ...]:
    """The fields at ``positions``, in the city's field order."""
    return tuple(fields[i] for i in sorted(int(p) for p in positions))


def _apportion(total: int, shares: np.ndarray) -> np.ndarray:
    """Whole numbers in proportion to ``shares`` that add up to ``total`` (largest remainder)."""
    exact = total * shares
    whole = np.floor(exact).astype(int)
    short = total - int(whole.sum())
    whole[np.argsort(-(exact - whole), kind="stable")[:short]] += 1
    return whole
