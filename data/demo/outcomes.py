"""Graduate outcomes: placement, in-field employment and local retention per programme and year.

Rates are latent (documented level bases, field adjustments, year effects and programme
effects); the emitted counts are binomial draws from them, so small programmes are noisier, as
in real data. The latent rates are kept as truth for the supply side of the balance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import numpy as np
import pandas as pd

from data.catalog import OTHER
from data.demo import assumptions
from data.demo.calibration import EMITTED_YEARS, LATENT_YEARS
from data.demo.planted import FORCED_PLACEMENT
from data.demo.streams import stream
from data.vocabulary import Level

if TYPE_CHECKING:
    from data.demo.supply import Programme

_INDEX: Final = {year: i for i, year in enumerate(LATENT_YEARS)}


def in_field_base(weights: dict[str, float], year: int) -> float | None:
    """Crosswalk-weighted in-field rate of a programme's priority fields (None for ``other``)."""
    total = sum(w for f, w in weights.items() if f != OTHER)
    if total <= 0:
        return None
    rate = 0.0
    for field_code, weight in weights.items():
        if field_code == OTHER:
            continue
        start, end = assumptions.IN_FIELD_RATE.get(field_code, assumptions.DEFAULT_IN_FIELD)
        rate += weight * (start + (end - start) * (year - 2010) / 15)
    return rate / total


def _rates(programme: Programme, year: int, rng: np.random.Generator) -> tuple[float, ...]:
    level = programme.level
    placement = (
        assumptions.PLACEMENT_BASE[level]
        + sum(
            w * assumptions.PLACEMENT_FIELD_ADJUSTMENT.get(f, 0.0)
            for f, w in programme.weights.items()
        )
        + assumptions.PLACEMENT_YEAR_EFFECT.get(year, 0.0)
        + programme.placement_effect
        + rng.normal(0, assumptions.RATE_YEAR_SD)
    )
    forced = FORCED_PLACEMENT.get(programme.planted, {}).get(year)
    if forced is not None:
        placement = rng.uniform(*forced)
    base = in_field_base(programme.weights, year)
    in_field = (np.nan if base is None else base) + (
        (assumptions.DOCTOR_IN_FIELD_BONUS if level == Level.DOCTOR else 0.0)
        + programme.in_field_effect
        + rng.normal(0, assumptions.RATE_YEAR_SD)
    )
    local = (
        assumptions.LOCAL_RETENTION[level]
        + (
            assumptions.LOCAL_RETENTION_POLICY_EFFECT
            if year >= assumptions.LOCAL_RETENTION_POLICY_YEAR
            else 0.0
        )
        + programme.local_effect
        + rng.normal(0, assumptions.RATE_YEAR_SD)
    )
    return (
        float(np.clip(placement, 0.3, 0.995)),
        float(np.clip(in_field, 0.05, 0.95)),  # NaN (no priority field) stays NaN
        float(np.clip(local, 0.05, 0.98)),
    )


def build_outcomes(
    programmes: list[Programme],
    graduates: pd.DataFrame,
    other_graduates: dict[tuple[str, int], int],
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Outcome counts drawn with binomials from latent rates (planted rates are forced)."""
    emitted = set(
        zip(graduates["programme_code"], graduates["level"], graduates["year"], strict=True)
    )
    rows, rates = [], []
    for programme in programmes:
        rng = stream(seed, programme.code, programme.level, "outcomes")
        for year in EMITTED_YEARS:
            count = int(programme.graduates[_INDEX[year]])
            placement, in_field, local = _rates(programme, year, rng)
            if (programme.code, programme.level, year) not in emitted:
                continue
            if (
                programme.planted in FORCED_PLACEMENT
                and year in FORCED_PLACEMENT[programme.planted]
            ):
                placed = round(count * placement)
            else:
                placed = int(rng.binomial(count, placement))
            employed_in_field = None if np.isnan(in_field) else int(rng.binomial(placed, in_field))
            employed_locally = int(rng.binomial(placed, local))
            keep_in_field = year >= assumptions.IN_FIELD_FIRST_YEAR
            rows.append(
                (
                    year,
                    programme.code,
                    programme.level,
                    count,
                    placed,
                    employed_in_field if keep_in_field else None,
                    employed_locally,
                )
            )
            rates.append((programme.code, programme.level, year, count, placement, in_field, local))
    for level in Level:
        rng = stream(seed, OTHER, level, "outcomes")
        for year in EMITTED_YEARS:
            count = other_graduates[(str(level), year)]
            placement = (
                assumptions.PLACEMENT_BASE[level]
                + assumptions.PLACEMENT_YEAR_EFFECT.get(year, 0.0)
                - 0.01
            )
            local = assumptions.LOCAL_RETENTION[level] + (
                assumptions.LOCAL_RETENTION_POLICY_EFFECT
                if year >= assumptions.LOCAL_RETENTION_POLICY_YEAR
                else 0.0
            )
            placed = int(rng.binomial(count, placement))
            rows.append(
                (year, OTHER, str(level), count, placed, None, int(rng.binomial(placed, local)))
            )
            rates.append((OTHER, str(level), year, count, placement, np.nan, local))
    outcome_columns = [
        "year",
        "programme_code",
        "level",
        "graduates",
        "placed",
        "employed_in_field",
        "employed_locally",
    ]
    outcomes = pd.DataFrame(rows, columns=outcome_columns)
    for column in ("year", "graduates", "placed", "employed_locally"):
        outcomes[column] = outcomes[column].astype("int64")
    outcomes["employed_in_field"] = outcomes["employed_in_field"].astype("Int64")
    outcomes = outcomes.sort_values(["programme_code", "level", "year"]).reset_index(drop=True)
    rate_columns = [
        "programme_code",
        "level",
        "year",
        "graduates",
        "placement_rate",
        "in_field_rate",
        "local_rate",
    ]
    return outcomes, pd.DataFrame(rates, columns=rate_columns)
