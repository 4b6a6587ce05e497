"""Supply side of the demo city: programme intake and the cohort pipeline to graduates.

Every catalog programme gets a life (founding year, size, trend, completion, outcome effects)
drawn from its own random stream, and its series are built from that life; the ``other`` line
of each level is whatever the city total leaves, so that city totals match the statistics
whatever the catalog holds. Outcomes are drawn in :mod:`data.demo.outcomes`; the planted cases
(:mod:`data.demo.planted`) give the employment rules something to find.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import pandas as pd

from data.catalog import OTHER, Catalog
from data.demo import assumptions
from data.demo.calibration import EMITTED_YEARS, LATENT_YEARS, REFERENCE_YEAR, city_totals
from data.demo.outcomes import build_outcomes
from data.demo.planted import apply_planted_intake, choose_planted
from data.demo.streams import stream
from data.vocabulary import Level

_YEARS: Final = np.array(LATENT_YEARS)
_INDEX: Final = {year: i for i, year in enumerate(LATENT_YEARS)}


@dataclass
class Programme:
    """One catalog programme and the latent life the demo gives it."""

    code: str
    level: str
    name_zh: str
    duration: int
    weights: dict[str, float]
    founded: int | None = None
    ramp: bool = True
    base: float = 0.0
    scale: float = 1.0
    deviation: float = 0.0
    noise_sd: float = 0.0
    completion: float = 0.0
    placement_effect: float = 0.0
    in_field_effect: float = 0.0
    local_effect: float = 0.0
    planted: str = ""
    entrants: np.ndarray = field(default_factory=lambda: np.zeros(len(LATENT_YEARS)))
    graduates: np.ndarray = field(default_factory=lambda: np.zeros(len(LATENT_YEARS)))

    @property
    def priority_weight(self) -> float:
        """Crosswalk weight outside ``other``: how much of the programme is priority supply."""
        return 1.0 - self.weights.get(OTHER, 0.0)

    @property
    def first_graduation(self) -> int | None:
        return None if self.founded is None else self.founded + self.duration


@dataclass(frozen=True)
class Supply:
    """Emitted frames (counts per programme and year) and the latent truth behind them."""

    enrollment: pd.DataFrame
    graduates: pd.DataFrame
    outcomes: pd.DataFrame
    programmes: pd.DataFrame
    rates: pd.DataFrame
    totals: pd.DataFrame
    planted: pd.DataFrame
    level_scale: pd.DataFrame


def build_supply(catalog: Catalog, seed: int) -> Supply:
    """Generate programme series for every programme of ``catalog`` (see module docstring)."""
    totals = city_totals()
    programmes = _programmes(catalog, seed)
    planted = choose_planted(programmes)
    scales = []
    for level in Level:
        members = [p for p in programmes if p.level == level]
        level_totals = totals[totals["level"] == level].set_index("year")
        scales.append(_fill_level(str(level), members, level_totals, seed))
    apply_planted_intake(programmes)
    for programme in programmes:
        programme.entrants = np.round(programme.entrants)
        programme.graduates = _graduates(programme, seed, rounded=True)
    enrollment, graduates, others = _emit_counts(programmes, totals, seed)
    outcomes, rates = build_outcomes(programmes, graduates, others, seed)
    generated = (
        pd.concat(
            [
                enrollment.rename(columns={"enrolled": "n"}).assign(metric="entrants"),
                graduates.rename(columns={"graduates": "n"}).assign(metric="graduates"),
            ]
        )
        .groupby(["level", "year", "metric"])["n"]
        .sum()
        .unstack("metric")
        .reset_index()
        .rename(columns={"entrants": "generated_entrants", "graduates": "generated_graduates"})
    )
    totals = totals.merge(generated, on=["level", "year"], how="left")
    return Supply(
        enrollment=enrollment,
        graduates=graduates,
        outcomes=outcomes,
        programmes=_programme_frame(programmes),
        rates=rates,
        totals=totals,
        planted=planted,
        level_scale=pd.DataFrame(scales),
    )


# -- programme lives ----------------------------------------------------------------------------


def _programmes(catalog: Catalog, seed: int) -> list[Programme]:
    weights: dict[tuple[str, str], dict[str, float]] = {}
    for row in catalog.crosswalk.to_dict("records"):
        key = (str(row["programme_code"]), str(row["level"]))
        weights.setdefault(key, {})[str(row["field_code"])] = float(row["weight"])
    out = []
    for row in catalog.programmes.to_dict("records"):
        code, level = str(row["programme_code"]), str(row["level"])
        if code == OTHER:
            continue
        programme = Programme(
            code, level, str(row["name_zh"]), int(row["duration_years"]), weights[(code, level)]
        )
        for rule in assumptions.FOUNDING_RULES:
            if rule.matches(code, level, programme.name_zh):
                programme.founded, programme.ramp = rule.years[level], rule.ramp
                break
        rng = stream(seed, code, level, "life")
        multiplier = max(
            [m for key, m in assumptions.SIZE_MULTIPLIERS.items() if key in programme.name_zh],
            default=1.0,
        )
        programme.base = (
            assumptions.MEDIAN_SIZE[level]
            * multiplier
            * float(rng.lognormal(0, assumptions.SIZE_SIGMA))
        )
        programme.deviation = float(rng.normal(0, assumptions.TREND_DEVIATION_SD))
        programme.noise_sd = 0.03 + 0.6 / np.sqrt(programme.base)
        programme.completion = float(rng.uniform(*assumptions.COMPLETION[level]))
        programme.placement_effect = float(rng.normal(0, assumptions.PLACEMENT_PROGRAMME_SD))
        programme.in_field_effect = float(rng.normal(0, assumptions.IN_FIELD_PROGRAMME_SD))
        programme.local_effect = float(rng.normal(0, assumptions.LOCAL_PROGRAMME_SD))
        out.append(programme)
    return out


def field_trend(field_code: str, year: int) -> float:
    """Yearly growth of a field's programmes relative to their level total."""
    steps = assumptions.FIELD_TRENDS.get(field_code, ((0, assumptions.DEFAULT_TREND),))
    return next(rate for first, rate in reversed(steps) if year >= first)


def _raw_entrants(programme: Programme, level_entrants: np.ndarray, seed: int) -> np.ndarray:
    """Unscaled intake: base size x level total x field trend x ramp x AR(1) noise."""
    reference = max(REFERENCE_YEAR, programme.founded or 0)
    growth = np.array(
        [
            sum(w * field_trend(f, int(y)) for f, w in programme.weights.items())
            + programme.deviation
            for y in _YEARS
        ]
    )
    cumulative = np.cumsum(growth)
    log_trend = cumulative - cumulative[_INDEX[reference]]
    rng = stream(seed, programme.code, programme.level, "entrants")
    shocks = rng.normal(0, programme.noise_sd, len(_YEARS))
    noise = np.zeros(len(_YEARS))
    for i, shock in enumerate(shocks):
        noise[i] = (0.5 * noise[i - 1] if i else 0.0) + shock
    ramp = np.ones(len(_YEARS))
    if programme.founded is not None:
        age = _YEARS - programme.founded
        ramp[age < 0] = 0.0
        if programme.ramp:
            for step, share in enumerate(assumptions.RAMP):
                ramp[age == step] = share
    relative_level = level_entrants / level_entrants[_INDEX[reference]]
    return programme.base * relative_level * np.exp(log_trend + noise) * ramp


def _fill_level(
    level: str, members: list[Programme], totals: pd.DataFrame, seed: int
) -> dict[str, object]:
    """Scale a level's programmes to the target share, keeping the ``other`` line large enough.

    Three steps, all documented: one scale so that the priority programmes make up
    :data:`~data.demo.assumptions.PRIORITY_SHARE_2019` of 2019 entrants; a soft cap on the
    programmes' share of each year's intake, so that it never reaches 1 - MIN_OTHER_SHARE (this
    slows growth late in the series); and, if graduates would still crowd out the ``other``
    line, a further uniform reduction.
    """
    if not members:
        return {"level": level, "scale": 0.0, "compressed_years": 0, "graduate_reduction": 1.0}
    level_entrants = totals.loc[list(LATENT_YEARS), "entrants"].to_numpy()
    level_graduates = totals.loc[list(LATENT_YEARS), "graduates"].to_numpy()
    raw = np.array([_raw_entrants(p, level_entrants, seed) for p in members])
    priority = np.array([p.priority_weight for p in members])
    reference = _INDEX[REFERENCE_YEAR]
    share = float(priority @ raw[:, reference]) / level_entrants[reference]
    scale = assumptions.PRIORITY_SHARE_2019[level] / share if share > 0 else 0.0
    ceiling = 1.0 - assumptions.MIN_OTHER_SHARE
    reduction = 1.0
    emitted = np.isin(_YEARS, EMITTED_YEARS)
    for _ in range(5):
        entrants = raw * scale * reduction
        share = entrants.sum(axis=0) / level_entrants
        entrants = entrants * (
            soft_cap(share, assumptions.SOFT_CAP_KNEE, ceiling) / np.maximum(share, 1e-9)
        )
        for programme, series in zip(members, entrants, strict=True):
            programme.entrants = series
            programme.graduates = _graduates(programme, seed, rounded=False)
        graduate_share = np.array([p.graduates for p in members]).sum(axis=0) / level_graduates
        worst = float(graduate_share[emitted].max())
        if worst <= ceiling + 1e-9:
            break
        reduction *= ceiling / worst * 0.995
    for programme in members:
        programme.scale = scale * reduction
    return {
        "level": level,
        "scale": scale * reduction,
        "compressed_years": int((share > assumptions.SOFT_CAP_KNEE).sum()),
        "graduate_reduction": reduction,
        "priority_share_2019": float(priority @ entrants[:, reference]) / level_entrants[reference],
    }


def soft_cap(share: np.ndarray, knee: float, ceiling: float) -> np.ndarray:
    """Shares above ``knee`` bend smoothly towards ``ceiling`` and never reach it.

    A hard per-year cap would put kinks into every programme's series in the years it binds;
    this keeps growth smooth while guaranteeing the ``other`` line its minimum share.
    """
    room = ceiling - knee
    bent = knee + room * (1.0 - np.exp(-(share - knee) / room))
    return np.where(share > knee, bent, share)


def _graduates(programme: Programme, seed: int, *, rounded: bool) -> np.ndarray:
    """Cohort pipeline: entrants ``duration`` years earlier x completion x small noise.

    Doctors finish over three years (:data:`~data.demo.assumptions.DOCTOR_LAG_SHARES`).
    """
    rng = stream(seed, programme.code, programme.level, "graduates")
    wobble = np.clip(rng.lognormal(0, 0.012, len(_YEARS)), 0.98, 1.02)
    shares = assumptions.DOCTOR_LAG_SHARES if programme.level == Level.DOCTOR else (1.0,)
    cohort = np.zeros(len(_YEARS))
    for extra, share in enumerate(shares):
        lag = programme.duration + extra
        cohort[lag:] += share * programme.entrants[: len(_YEARS) - lag]
    graduates = cohort * programme.completion * wobble
    if not rounded:
        return graduates
    graduates = np.round(graduates)
    if programme.level != Level.DOCTOR:
        graduates = np.minimum(graduates, cohort)
    return graduates


# -- emitted counts -----------------------------------------------------------------------------


def _emit_counts(
    programmes: list[Programme], totals: pd.DataFrame, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, dict[tuple[str, int], int]]:
    """Rows of the enrollment and graduates files, including each level's ``other`` line.

    Rows start in the founding year (entrants) and the first graduation year (graduates): a
    programme that did not exist has no row, which is not the same as a row with zero.
    """
    enrollment, graduates = [], []
    other_graduates: dict[tuple[str, int], int] = {}
    for programme in programmes:
        for year in EMITTED_YEARS:
            i = _INDEX[year]
            if programme.founded is None or year >= programme.founded:
                enrollment.append((year, programme.code, programme.level, programme.entrants[i]))
            first = programme.first_graduation
            if first is None or year >= first:
                graduates.append((year, programme.code, programme.level, programme.graduates[i]))
    for level in Level:
        members = [p for p in programmes if p.level == level]
        level_totals = totals[totals["level"] == level]
        for metric, rows in (("entrants", enrollment), ("graduates", graduates)):
            total = dict(zip(level_totals["year"], level_totals[metric], strict=True))
            rng = stream(seed, OTHER, level, metric)
            noise = rng.uniform(-0.01, 0.01, len(EMITTED_YEARS))
            for year, eps in zip(EMITTED_YEARS, noise, strict=True):
                used = sum(getattr(p, metric)[_INDEX[year]] for p in members)
                value = round((float(total[year]) - used) * (1 + eps))
                rows.append((year, OTHER, str(level), max(value, 0)))
                if metric == "graduates":
                    other_graduates[(str(level), year)] = max(value, 0)
    columns = ["year", "programme_code", "level"]
    enrollment_frame = _counts_frame(enrollment, [*columns, "enrolled"])
    graduates_frame = _counts_frame(graduates, [*columns, "graduates"])
    return enrollment_frame, graduates_frame, other_graduates


def _counts_frame(rows: Sequence[tuple[object, ...]], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    frame[columns[-1]] = frame[columns[-1]].astype("int64")
    frame["year"] = frame["year"].astype("int64")
    return frame.sort_values(["programme_code", "level", "year"]).reset_index(drop=True)


def _programme_frame(programmes: list[Programme]) -> pd.DataFrame:
    """The latent life of every programme, for the README and for later backtests."""
    return pd.DataFrame(
        [
            {
                "programme_code": p.code,
                "level": p.level,
                "name_zh": p.name_zh,
                "founded": p.founded,
                "ramp": p.ramp,
                "base_entrants_2019": round(p.base * p.scale, 1),
                "trend_deviation": round(p.deviation, 4),
                "completion": round(p.completion, 4),
                "placement_effect": round(p.placement_effect, 4),
                "in_field_effect": round(p.in_field_effect, 4),
                "local_effect": round(p.local_effect, 4),
                "planted": p.planted,
            }
            for p in programmes
        ]
    ).astype({"founded": "Int64"})
