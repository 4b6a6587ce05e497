"""The simulated labour market: demand trajectories, the planner's intake, the cohort pipeline
and outcome rates that respond to tightness — the latent truth behind every observation.

Everything is computed year by year from ``spec.first_enrollment_year − longest duration``
(burn-in cohorts, so that every programme has graduates when outcomes start being observed)
to ``spec.end_year``. The future follows the same rules as the past: the simulated planner
does not know what the product will recommend.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.demo.streams import stream
from experiments.simcity.programmes import CityPlan
from experiments.simcity.world import GROWING, LEVEL_PROFILES, SHRINKING, TRAJECTORIES, WorldSpec

#: Tightness (log demand/supply) is clipped here where it drives rates and the planner.
MAX_TIGHTNESS = 1.5
_EPS = 1e-9


@dataclass(frozen=True)
class Market:
    """Latent series of one simulated city.

    Per cell (fields, levels, years): ``demand`` (openings for new graduates), ``supply``
    (realised, by the product's formula), ``base_supply`` (graduates at base rates, what
    tightness is measured against), ``tightness`` and ``placed`` (placed graduates through the
    crosswalk). Per programme (programmes, years): ``entrants``, ``graduates``, ``placed_p``,
    ``infield``, ``local``; ``opened``/``closed`` are the first year with / without entrants
    (0: open from the start / never closed).
    """

    years: np.ndarray
    trajectories: dict[str, str]
    demand: np.ndarray
    supply: np.ndarray
    base_supply: np.ndarray
    tightness: np.ndarray
    placed: np.ndarray
    entrants: np.ndarray
    graduates: np.ndarray
    placed_p: np.ndarray
    infield: np.ndarray
    local: np.ndarray
    opened: np.ndarray
    closed: np.ndarray

    def year_index(self, year: int) -> int:
        return int(year - self.years[0])


def simulate_market(spec: WorldSpec, seed: int, plan: CityPlan) -> Market:
    """Run the city from its burn-in years to ``spec.end_year``."""
    programmes = plan.programmes
    levels = spec.levels
    level_of = programmes["level"].map({lv: i for i, lv in enumerate(levels)}).to_numpy()
    field_of = programmes["field_code"].map({f: j for j, f in enumerate(plan.fields)}).to_numpy()
    durations = programmes["duration_years"].to_numpy(dtype=int)
    years = np.arange(spec.first_enrollment_year - int(durations.max()), spec.end_year + 1)
    n_fields, n_levels, n_years, n_programmes = (
        len(plan.fields),
        len(levels),
        len(years),
        len(programmes),
    )
    profiles = [LEVEL_PROFILES[level] for level in programmes["level"]]

    def aggregate(values: np.ndarray) -> np.ndarray:
        """Per-programme values → (fields, levels) through the crosswalk."""
        out = np.zeros((n_fields, n_levels))
        for index in range(n_levels):
            mask = level_of == index
            out[:, index] = values[mask] @ plan.weights[mask]
        return out

    effects = stream(seed, spec.name, "rate effects")
    field_pl = effects.normal(0, 0.1, n_fields)[field_of]
    field_in = effects.normal(0, spec.field_sd, n_fields)[field_of]
    field_loc = effects.normal(0, 0.1, n_fields)[field_of]
    base_pl = _logit([p.placement for p in profiles]) + field_pl
    base_in = (
        _logit([p.infield for p in profiles]) + field_in + effects.normal(0, 0.15, len(field_of))
    )
    base_loc = (
        _logit([p.local for p in profiles]) + field_loc + effects.normal(0, 0.1, len(field_of))
    )
    base_rate = _expit(base_pl) * _expit(base_in) * _expit(base_loc)
    completion = np.array([p.completion for p in profiles])

    life = stream(seed, spec.name, "programme life")
    initial = np.array([p.intake for p in profiles]) * spec.intake_scale
    initial = np.maximum(initial * np.exp(life.normal(0, 0.4, n_programmes)), 4.0)
    trajectories = _assign_trajectories(plan.fields, stream(seed, spec.name, "trajectories"))
    opened, closed = _programme_life(
        spec, plan, trajectories=trajectories, level_of=level_of, field_of=field_of, rng=life
    )

    start = opened == 0
    reference = aggregate(initial * completion * base_rate * start)
    demand = _demand(
        spec, seed, fields=plan.fields, trajectories=trajectories, reference=reference, years=years
    )

    draws = stream(seed, spec.name, "pipeline")
    cell_shape = (n_fields, n_levels, n_years)
    supply, base_supply, tightness, placed_cells = (np.zeros(cell_shape) for _ in range(4))
    entrants, graduates, placed, infield, local = (
        np.zeros((n_programmes, n_years), dtype=np.int64) for _ in range(5)
    )
    state = initial.copy()
    for i, year in enumerate(years):
        if i > 0:
            signal = np.zeros(n_programmes)
            if year - 2 >= spec.first_outcome_year:
                past = np.log(
                    np.maximum(demand[..., i - 2], _EPS) / np.maximum(supply[..., i - 2], _EPS)
                )
                signal = np.clip(past, -MAX_TIGHTNESS, MAX_TIGHTNESS)[field_of, level_of]
            step = np.clip(spec.planner_response * signal, -spec.planner_clip, spec.planner_clip)
            state = state * np.exp(step + draws.normal(0, spec.intake_noise, n_programmes))
        starting = opened == year
        state[starting] *= draws.uniform(0.3, 0.6, int(starting.sum()))
        active = (opened <= year) & ((closed == 0) | (year < closed))
        entrants[:, i] = np.where(active, np.rint(state), 0)
        cohort = i - durations
        enrolled = np.where(
            cohort >= 0, entrants[np.arange(n_programmes), np.maximum(cohort, 0)], 0
        )
        graduates[:, i] = draws.binomial(enrolled, completion)
        base_supply[..., i] = aggregate(graduates[:, i] * base_rate)
        x = np.log(np.maximum(demand[..., i], _EPS) / np.maximum(base_supply[..., i], _EPS))
        tightness[..., i] = np.clip(x, -MAX_TIGHTNESS, MAX_TIGHTNESS)
        x_p = tightness[field_of, level_of, i]
        rates = []
        for base, beta in (
            (base_pl, spec.beta_placement),
            (base_in, spec.beta_infield),
            (base_loc, spec.beta_local),
        ):
            year_noise = draws.normal(0, spec.rate_noise, (n_fields, n_levels))[field_of, level_of]
            own = draws.normal(0, spec.rate_noise / 2, n_programmes)
            rates.append(_expit(base + beta * x_p + year_noise + own))
        placed[:, i] = draws.binomial(graduates[:, i], rates[0])
        infield[:, i] = draws.binomial(placed[:, i], rates[1])
        local[:, i] = draws.binomial(placed[:, i], rates[2])
        share = np.divide(
            infield[:, i] * local[:, i].astype(float),
            placed[:, i],
            out=np.zeros(n_programmes),
            where=placed[:, i] > 0,
        )
        supply[..., i] = aggregate(share)
        placed_cells[..., i] = aggregate(placed[:, i].astype(float))
    return Market(
        years=years,
        trajectories=trajectories,
        demand=demand,
        supply=supply,
        base_supply=base_supply,
        tightness=tightness,
        placed=placed_cells,
        entrants=entrants,
        graduates=graduates,
        placed_p=placed,
        infield=infield,
        local=local,
        opened=opened,
        closed=closed,
    )


def _assign_trajectories(fields: tuple[str, ...], rng: np.random.Generator) -> dict[str, str]:
    """Every type once (when there are at least six fields), the rest drawn, shuffled."""
    if len(fields) >= len(TRAJECTORIES):
        extra = rng.choice(TRAJECTORIES, size=len(fields) - len(TRAJECTORIES)).tolist()
        types = [*TRAJECTORIES, *extra]
    else:
        types = rng.choice(TRAJECTORIES, size=len(fields), replace=False).tolist()
    rng.shuffle(types)
    return dict(zip(fields, types, strict=True))


def _programme_life(
    spec: WorldSpec,
    plan: CityPlan,
    *,
    trajectories: dict[str, str],
    level_of: np.ndarray,
    field_of: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Programmes opened mid-history in growing fields, closed in shrinking ones (only in
    cells with another programme, so that no cell loses all its supply)."""
    opened = np.zeros(len(level_of), dtype=int)
    closed = np.zeros(len(level_of), dtype=int)
    window = (spec.first_outcome_year, spec.last_year - 1)
    for j, field_code in enumerate(plan.fields):
        kind = trajectories[field_code]
        for index in range(len(spec.levels)):
            members = np.flatnonzero((field_of == j) & (level_of == index))
            draw, pick, year = rng.random(), rng.choice(members), rng.integers(*window)
            if len(members) < 2:
                continue
            if kind in GROWING and draw < spec.open_share:
                opened[pick] = year
            elif kind in SHRINKING and draw < spec.close_share:
                closed[pick] = year
    return opened, closed


def _demand(
    spec: WorldSpec,
    seed: int,
    *,
    fields: tuple[str, ...],
    trajectories: dict[str, str],
    reference: np.ndarray,
    years: np.ndarray,
) -> np.ndarray:
    """Openings per cell and year: the field's trajectory × the cell's start level (supply at
    base rates × a lognormal start ratio) × a small level drift × yearly noise."""
    rng = stream(seed, spec.name, "demand")
    t0 = spec.first_outcome_year
    after = np.maximum(years - t0, 0)
    paths = np.zeros((len(fields), len(years)))
    for j, field_code in enumerate(fields):
        kind = trajectories[field_code]
        growth = {
            "boom": rng.uniform(0.08, 0.12),
            "steady": rng.uniform(0.02, 0.04),
            "flat": 0.0,
            "declining": rng.uniform(-0.06, -0.03),
            "shock": rng.uniform(0.0, 0.03),
            "late_boom": 0.0,
        }[kind]
        paths[j] = growth * after
        if kind == "late_boom":
            begins = spec.last_year - int(rng.integers(0, 3))
            paths[j] += rng.uniform(0.10, 0.15) * np.maximum(years - begins + 1, 0)
        extra = kind != "shock" and rng.random() < spec.extra_shock_share
        if kind == "shock" or extra:
            paths[j] += _shock(spec, years, rng)
    n_levels = reference.shape[1]
    start = reference * np.exp(rng.normal(0, spec.ratio_sd, reference.shape))
    drift = rng.normal(0, spec.level_drift_sd, (len(fields), n_levels))
    noise = rng.normal(0, spec.demand_noise, (len(fields), n_levels, len(years)))
    log_demand = (
        np.log(np.maximum(start, _EPS))[..., None]
        + paths[:, None, :]
        + drift[..., None] * (years - t0)[None, None, :]
        + noise
    )
    return np.exp(log_demand)


def _shock(spec: WorldSpec, years: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A drop of 25-40% for one or two years at a random year, half recovered the year after,
    fully the year after that."""
    when = int(rng.integers(spec.first_hiring_year + 2, spec.last_year + 4))
    length = int(rng.integers(1, 3))
    depth = rng.uniform(*spec.shock_depth)
    out = np.zeros(len(years))
    out[(years >= when) & (years < when + length)] = np.log(1 - depth)
    out[years == when + length] = np.log(1 - depth / 2)
    return out


def _logit(p: list[float] | np.ndarray) -> np.ndarray:
    q = np.asarray(p, dtype=float)
    return np.log(q / (1 - q))


def _expit(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))
