"""What-if scenarios on a stored run: change quotas or shock demand, get the balance back.

A run keeps its joint samples (:class:`BalanceSamples`, stored as a compressed artifact), so a
planner's question — "what if programme X takes 200 more students next year?", "what if IC
demand is 20% lower?" — is answered from the same samples the run's balance came from, in
seconds and without retraining. Demand is held at business-as-usual (industry posts openings
whatever the quotas); supply moves through the cohort pipeline: one more entrant of programme p
in intake year t adds, in year t + duration(p), weight(p, f) × completion(p) × rates(p) to the
supply of each of its fields.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cached_property
from typing import Final

import numpy as np
import pandas as pd

from data.catalog import OTHER, Catalog
from data.store import Store
from data.vocabulary import ALL_LEVELS
from forecasting.balance import TOTAL, BalanceResult, quantile_rows

ARTIFACT_NAME: Final = "balance_samples.npz"
#: Cost of one person of shortage (unfilled opening) and of surplus (graduate without an
#: opening in the field) per Tianjin tier: what runs stored before the catalog carried its own
#: weights per field were costed with (the reference catalog's fields carry the same).
TIER_COSTS: Final[dict[str, tuple[float, float]]] = {
    "national_strategic": (3.0, 1.0),
    "urgent": (2.0, 1.0),
    "social": (1.5, 1.0),
    "urban": (1.5, 1.0),
    "other": (0.0, 0.0),
}


class ScenarioError(ValueError):
    """A scenario cannot be evaluated as asked; the message names the offending input."""


@dataclass(frozen=True)
class BalanceSamples:
    """The joint samples of a run that scenarios and quota optimisation need.

    Shapes: ``supply``/``demand`` (samples, fields, levels, years); ``intake`` and ``rates``
    (samples, programmes, years): entrants per intake year and the product of placement,
    in-field and local rates per graduation year; ``weights`` (programmes, fields);
    ``shortage_cost``, ``surplus_cost`` (fields,): the catalog's cost weights;
    ``completion``, ``duration``, ``level_index``, ``current_quota``, ``capacity``
    (programmes,). ``observed`` (fields, levels) marks cells with demand data.
    """

    years: np.ndarray
    fields: tuple[str, ...]
    levels: tuple[str, ...]
    programmes: tuple[str, ...]
    tiers: tuple[str, ...]
    shortage_cost: np.ndarray
    surplus_cost: np.ndarray
    supply: np.ndarray
    demand: np.ndarray
    observed: np.ndarray
    intake: np.ndarray
    rates: np.ndarray
    weights: np.ndarray
    completion: np.ndarray
    duration: np.ndarray
    level_index: np.ndarray
    current_quota: np.ndarray
    capacity: np.ndarray

    @property
    def n_samples(self) -> int:
        return int(self.supply.shape[0])

    @property
    def first_year(self) -> int:
        return int(self.years[0])

    @cached_property
    def baseline(self) -> pd.DataFrame:
        """The business-as-usual balance of these samples, computed once: every scenario on a
        run is compared with it, and it takes most of a scenario's time (shared; do not
        modify)."""
        return balance_frame(self, self.supply, self.demand)

    def contribution(self, programme: int, intake_year: int) -> tuple[int, np.ndarray]:
        """Year index of the graduation year and the supply added per entrant, per sample and
        field (samples, fields); year index −1 when graduation falls after the horizon."""
        graduation = intake_year + int(self.duration[programme])
        j = graduation - self.first_year
        if not 0 <= j < len(self.years):
            return -1, np.zeros((self.n_samples, len(self.fields)))
        per_entrant = self.completion[programme] * self.rates[:, programme, j]
        return j, per_entrant[:, None] * self.weights[programme][None, :]

    def to_bytes(self) -> bytes:
        arrays = {}
        for item in fields(self):
            value = getattr(self, item.name)
            array = np.asarray(value)
            if array.dtype == np.float64:
                array = array.astype(np.float32)  # halves the artifact; 7 digits suffice
            arrays[item.name] = array
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]  # numpy stub: kwargs
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, content: bytes) -> BalanceSamples:
        with np.load(io.BytesIO(content), allow_pickle=False) as archive:
            values = {name: archive[name] for name in archive.files}
        for name in ("fields", "levels", "programmes", "tiers"):
            values[name] = tuple(str(v) for v in values[name])
        if "shortage_cost" not in values:  # stored before the catalog carried cost weights
            costs = [TIER_COSTS.get(tier, TIER_COSTS["other"]) for tier in values["tiers"]]
            values["shortage_cost"] = np.array([cost[0] for cost in costs])
            values["surplus_cost"] = np.array([cost[1] for cost in costs])
        for name in (
            "supply",
            "demand",
            "intake",
            "rates",
            "weights",
            "completion",
            "current_quota",
            "capacity",
            "shortage_cost",
            "surplus_cost",
        ):
            values[name] = values[name].astype(np.float64)
        return cls(**values)


def samples_from_balance(
    result: BalanceResult, catalog: Catalog, capacity_factor: float = 1.5
) -> BalanceSamples:
    """Collect the arrays of a computed balance into :class:`BalanceSamples`, with the tier
    and cost weights of each field from ``catalog`` (none for a field it does not list)."""
    tiers = dict(zip(catalog.fields["field_code"], catalog.fields["tier"], strict=True))
    costs = catalog.costs()
    field_costs = [costs.get(field, (0.0, 0.0)) for field in result.supply.fields]
    supply = result.supply
    programmes = supply.programmes
    level_position = {level: i for i, level in enumerate(supply.levels)}
    rates = np.prod([supply.rates[name] for name in ("placement", "infield", "local")], axis=0)
    return BalanceSamples(
        years=supply.years,
        fields=supply.fields,
        levels=supply.levels,
        programmes=programmes,
        tiers=tuple(tiers.get(field, OTHER) for field in supply.fields),
        shortage_cost=np.array([cost[0] for cost in field_costs]),
        surplus_cost=np.array([cost[1] for cost in field_costs]),
        supply=supply.by_field_level,
        demand=result.demand.combined,
        observed=result.demand.observed,
        intake=supply.intake,
        rates=rates,
        weights=supply.weights,
        completion=supply.completion,
        duration=supply.durations,
        level_index=np.array([level_position[key.split("|")[1]] for key in programmes]),
        current_quota=supply.current_intake,
        capacity=capacity_factor * supply.max_intake,
    )


@dataclass(frozen=True)
class ScenarioResult:
    """The balance under the scenario next to the business-as-usual one, and the expected
    costs of both (see :func:`expected_costs`)."""

    balance: pd.DataFrame
    baseline: pd.DataFrame
    costs: dict[str, float]
    baseline_costs: dict[str, float]


def samples_artifact(region: str | None = None) -> str:
    """The artifact name of a run's joint samples: of its city, or of one ``region`` of a
    run of several regions."""
    return ARTIFACT_NAME if region is None else f"balance_samples_{region}.npz"


def load_samples(store: Store, run_id: int, region: str | None = None) -> BalanceSamples:
    """The joint samples a run stored (of ``region`` in a run of several regions); raises
    ``UnknownRun``/``UnknownArtifact`` (store errors naming what exists) for a run without
    them, e.g. one that failed."""
    return BalanceSamples.from_bytes(store.run_artifact(run_id, samples_artifact(region)))


def evaluate_scenario(
    samples: BalanceSamples,
    quotas: Mapping[str, Mapping[int, float]] | None = None,
    demand_shocks: Mapping[str, float] | None = None,
    costs: Mapping[str, tuple[float, float]] | None = None,
) -> ScenarioResult:
    """The balance when programmes take the given quotas and demand moves by the given factors.

    ``quotas`` maps a programme (``code|level``) to {intake year: entrants}; ``demand_shocks``
    maps a field to a factor applied to its demand in every year (1.2 = 20% more openings).
    """
    supply = apply_quotas(samples, quotas or {})
    demand = samples.demand.copy()
    for field, factor in (demand_shocks or {}).items():
        if field not in samples.fields:
            raise ScenarioError(f"unknown field {field!r}; fields: {', '.join(samples.fields)}")
        if not 0 <= factor <= 10:
            raise ScenarioError(f"demand factor for {field} must be between 0 and 10, got {factor}")
        demand[:, samples.fields.index(field)] *= factor
    return ScenarioResult(
        balance=balance_frame(samples, supply, demand),
        baseline=samples.baseline,
        costs=expected_costs(samples, supply, demand, costs),
        baseline_costs=expected_costs(samples, samples.supply, samples.demand, costs),
    )


def apply_quotas(samples: BalanceSamples, quotas: Mapping[str, Mapping[int, float]]) -> np.ndarray:
    """Supply samples when the given programmes take the given intakes instead of the forecast."""
    supply = samples.supply.copy()
    position = {key: i for i, key in enumerate(samples.programmes)}
    for key, by_year in quotas.items():
        if key not in position:
            raise ScenarioError(
                f"unknown programme {key!r}; use code|level, e.g. {samples.programmes[0]}"
            )
        p = position[key]
        for intake_year, quota in by_year.items():
            t = int(intake_year) - samples.first_year
            if not 0 <= t < len(samples.years):
                raise ScenarioError(
                    f"intake year {intake_year} of {key} is outside the run's years "
                    f"{samples.first_year}-{int(samples.years[-1])}"
                )
            if quota < 0 or not np.isfinite(quota):
                raise ScenarioError(f"quota of {key} in {intake_year} must be ≥ 0, got {quota}")
            j, per_entrant = samples.contribution(p, int(intake_year))
            if j < 0:
                continue  # graduates after the horizon: no effect inside it
            delta = quota - samples.intake[:, p, t]
            supply[:, :, samples.level_index[p], j] += per_entrant * delta[:, None]
    return np.maximum(supply, 0.0)


def balance_frame(samples: BalanceSamples, supply: np.ndarray, demand: np.ndarray) -> pd.DataFrame:
    """Quantiles per observed cell, per level over fields and overall (as the run balance)."""
    mask = samples.observed[None, :, :, None]
    s, d = supply * mask, demand * mask
    parts = []
    for f, field in enumerate(samples.fields):
        for lv, level in enumerate(samples.levels):
            if samples.observed[f, lv]:
                parts.append(quantile_rows(field, level, samples.years, s[:, f, lv], d[:, f, lv]))
    for lv, level in enumerate(samples.levels):
        parts.append(
            quantile_rows(TOTAL, level, samples.years, s[:, :, lv].sum(1), d[:, :, lv].sum(1))
        )
    parts.append(quantile_rows(TOTAL, ALL_LEVELS, samples.years, s.sum((1, 2)), d.sum((1, 2))))
    return pd.concat(parts, ignore_index=True)


def cost_weights(
    samples: BalanceSamples, costs: Mapping[str, tuple[float, float]] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Shortage and surplus cost per field: the catalog's, or ``costs`` for the fields of a
    tier it names (a policy that weighs a whole tier differently for one optimisation)."""
    table = costs or {}
    shortage = np.array(
        [
            table[tier][0] if tier in table else cost
            for tier, cost in zip(samples.tiers, samples.shortage_cost, strict=True)
        ]
    )
    surplus = np.array(
        [
            table[tier][1] if tier in table else cost
            for tier, cost in zip(samples.tiers, samples.surplus_cost, strict=True)
        ]
    )
    return shortage, surplus


def expected_costs(
    samples: BalanceSamples,
    supply: np.ndarray,
    demand: np.ndarray,
    costs: Mapping[str, tuple[float, float]] | None = None,
) -> dict[str, float]:
    """Expected shortage, surplus and total cost over the horizon (persons × field weight)."""
    shortage_w, surplus_w = cost_weights(samples, costs)
    gap = (demand - supply) * samples.observed[None, :, :, None]
    short = np.clip(gap, 0, None).mean(axis=0)
    surplus = np.clip(-gap, 0, None).mean(axis=0)
    shortage_cost = float((short.sum(axis=(1, 2)) * shortage_w).sum())
    surplus_cost = float((surplus.sum(axis=(1, 2)) * surplus_w).sum())
    return {
        "shortage_persons": float(short.sum()),
        "surplus_persons": float(surplus.sum()),
        "shortage_cost": shortage_cost,
        "surplus_cost": surplus_cost,
        "total_cost": shortage_cost + surplus_cost,
    }
