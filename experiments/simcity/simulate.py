"""The generator: a :class:`WorldSpec` and a seed in, a city with its uploads and its truth out.

``simulate(spec, seed)`` is deterministic: every random component draws from its own stream
seeded by (seed, world name, component), so changing one component leaves the others' draws
unchanged. The observations are the upload frames the product would receive (observed years
only); the truth is what the product tries to forecast, for every year through
``spec.end_year``, with supply computed from the simulated outcome counts by the very formula
the product uses for realised supply.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.catalog import Catalog, load_default_catalog
from data.demo.streams import stream
from data.vocabulary import Kind
from experiments.simcity.market import Market, simulate_market
from experiments.simcity.programmes import CityPlan, plan_city
from experiments.simcity.signals import simulate_signals
from experiments.simcity.world import WorldSpec

#: A demand/supply ratio with (almost) no supply is this cap, as in the product's balance.
MAX_RATIO = 100.0
TRUTH_COLUMNS = (
    "field_code",
    "level",
    "year",
    "demand",
    "supply",
    "gap",
    "ratio",
    "posting_scale",
)


@dataclass(frozen=True)
class SimulatedCity:
    """One simulated city.

    ``observations``: the canonical upload columns per kind (no ``region``: the whole city),
    observed years only; survey rows carry their ``source`` (the association, also the
    uploader), as the store returns them. ``truth``: demand, supply, gap, ratio and posting
    scale per priority field × level × year from the first outcome year to ``spec.end_year``.
    ``programmes``: the simulated programmes with their main field and the year they opened
    or closed (0: never).
    """

    spec: WorldSpec
    seed: int
    catalog: Catalog
    observations: dict[Kind, pd.DataFrame]
    truth: pd.DataFrame
    last_year: int
    hires_fields: tuple[str, ...]
    survey_fields: tuple[str, ...]
    trajectories: dict[str, str]
    programmes: pd.DataFrame

    @property
    def fields(self) -> tuple[str, ...]:
        """The city's priority fields, in catalog order."""
        return tuple(self.trajectories)


def simulate(spec: WorldSpec, seed: int) -> SimulatedCity:
    """Simulate one city of world ``spec`` (same spec and seed, same city)."""
    plan = plan_city(load_default_catalog(), spec, stream(seed, spec.name, "catalog"))
    market = simulate_market(spec, seed, plan)
    signals = simulate_signals(spec, seed, plan.fields, market)
    observations = {
        **_education(spec, plan, market),
        Kind.HIRING: signals.hiring,
        Kind.DEMAND_SURVEY: signals.surveys,
    }
    programmes = plan.programmes.assign(opened=market.opened, closed=market.closed)
    return SimulatedCity(
        spec=spec,
        seed=seed,
        catalog=plan.catalog,
        observations=observations,
        truth=_truth(spec, plan, market, signals.posting_scale),
        last_year=spec.last_year,
        hires_fields=signals.hires_fields,
        survey_fields=signals.survey_fields,
        trajectories=market.trajectories,
        programmes=programmes,
    )


def _education(spec: WorldSpec, plan: CityPlan, market: Market) -> dict[Kind, pd.DataFrame]:
    """Enrollment (from a programme's opening; zero after it closed), graduates and outcomes
    (for every cohort that had entrants) of the observed years."""
    programmes = plan.programmes
    durations = programmes["duration_years"].to_numpy(dtype=int)
    enrollment, graduates, outcomes = [], [], []
    for year in range(spec.first_enrollment_year, spec.last_year + 1):
        i = market.year_index(year)
        for p, (code, level) in enumerate(
            zip(programmes["programme_code"], programmes["level"], strict=True)
        ):
            if market.opened[p] <= year:
                enrollment.append((year, code, level, int(market.entrants[p, i])))
            cohort = i - durations[p]
            if year < spec.first_outcome_year or cohort < 0 or market.entrants[p, cohort] == 0:
                continue
            count = int(market.graduates[p, i])
            graduates.append((year, code, level, count))
            outcomes.append(
                (
                    year,
                    code,
                    level,
                    count,
                    int(market.placed_p[p, i]),
                    int(market.infield[p, i]),
                    int(market.local[p, i]),
                )
            )
    key = ["year", "programme_code", "level"]
    return {
        Kind.ENROLLMENT: pd.DataFrame(enrollment, columns=[*key, "enrolled"]),
        Kind.GRADUATES: pd.DataFrame(graduates, columns=[*key, "graduates"]),
        Kind.OUTCOMES: pd.DataFrame(
            outcomes,
            columns=[*key, "graduates", "placed", "employed_in_field", "employed_locally"],
        ),
    }


def _truth(
    spec: WorldSpec, plan: CityPlan, market: Market, posting_scale: np.ndarray
) -> pd.DataFrame:
    first = market.year_index(spec.first_outcome_year)
    years = market.years[first:]
    fields, levels = np.meshgrid(np.arange(len(plan.fields)), np.arange(len(spec.levels)))
    frames = []
    for j, index in zip(fields.ravel(), levels.ravel(), strict=True):
        demand = market.demand[j, index, first:]
        supply = market.supply[j, index, first:]
        frames.append(
            pd.DataFrame(
                {
                    "field_code": plan.fields[j],
                    "level": spec.levels[index],
                    "year": years.astype(int),
                    "demand": demand,
                    "supply": supply,
                    "gap": demand - supply,
                    "ratio": np.minimum(demand / np.maximum(supply, 1e-9), MAX_RATIO),
                    "posting_scale": posting_scale[j, first:],
                }
            )
        )
    truth = pd.concat(frames, ignore_index=True)
    return truth.sort_values(["field_code", "level", "year"]).reset_index(drop=True)
