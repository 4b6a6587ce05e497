"""Which fields and programmes a simulated city has: a subset of the shipped catalog.

Codes stay official (real programmes of the default catalog, with their durations and crosswalk
weights), so the product validates and reads the simulated uploads exactly as it reads real
ones. A programme is taken for the field its largest crosswalk weight points to; weights that
point to fields the city does not have go to the ``other`` field, as they would for programmes
outside the priority fields, and every level keeps the catalog's required ``other`` line
(without data: the simulated city's graduates are all in its priority fields).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.catalog import OTHER, Catalog, catalog_from_frames
from experiments.simcity.world import WorldSpec

KEY = ["programme_code", "level"]


@dataclass(frozen=True)
class CityPlan:
    """The city's catalog and its programmes in simulation order.

    ``programmes``: programme_code, level, field_code (the main field), duration_years, one
    row per simulated programme; ``weights``: (programmes, fields) crosswalk weights to the
    city's priority ``fields`` (a row sums to less than 1 when part goes to ``other``).
    """

    catalog: Catalog
    fields: tuple[str, ...]
    programmes: pd.DataFrame
    weights: np.ndarray


def main_fields(catalog: Catalog) -> pd.DataFrame:
    """Main field of every programme: the largest weight, ties broken by the field's order."""
    order = dict(zip(catalog.fields["field_code"], catalog.fields["sort_order"], strict=True))
    crosswalk = catalog.crosswalk.assign(order=catalog.crosswalk["field_code"].map(order))
    ranked = crosswalk.sort_values(
        [*KEY, "weight", "order"], ascending=[True, True, False, True], kind="mergesort"
    )
    return ranked.drop_duplicates(KEY).loc[:, [*KEY, "field_code"]].reset_index(drop=True)


def eligible_fields(catalog: Catalog, levels: tuple[str, ...]) -> list[str]:
    """Priority fields with at least one programme (as main field) at every level."""
    mains = main_fields(catalog)
    mains = mains[mains["level"].isin(levels)]
    counts = mains.groupby("field_code")["level"].nunique()
    full = set(counts[counts == len(levels)].index)
    return [f for f in catalog.priority_field_codes if f in full]


def plan_city(default: Catalog, spec: WorldSpec, rng: np.random.Generator) -> CityPlan:
    """Draw the city's fields and 1..``spec.max_programmes`` programmes per field × level."""
    candidates = eligible_fields(default, spec.levels)
    if len(candidates) < spec.n_fields:
        raise ValueError(
            f"world {spec.name!r} wants {spec.n_fields} fields; the catalog has "
            f"{len(candidates)} with programmes at every level of {spec.levels}"
        )
    chosen = set(rng.choice(candidates, size=spec.n_fields, replace=False).tolist())
    fields = tuple(f for f in default.priority_field_codes if f in chosen)
    mains = main_fields(default)
    picked = []
    for field_code in fields:
        for level in spec.levels:
            pool = mains[(mains["field_code"] == field_code) & (mains["level"] == level)]
            count = int(rng.integers(1, min(spec.max_programmes, len(pool)) + 1))
            rows = np.sort(rng.choice(len(pool), size=count, replace=False))
            picked.append(pool.iloc[rows])
    programmes = pd.concat(picked, ignore_index=True)
    catalog = _subset_catalog(default, fields, programmes)
    programmes = programmes.merge(catalog.programmes.loc[:, [*KEY, "duration_years"]], on=KEY)
    weights = np.zeros((len(programmes), len(fields)))
    pairs = zip(programmes["programme_code"], programmes["level"], strict=True)
    position = {pair: i for i, pair in enumerate(pairs)}
    column = {f: j for j, f in enumerate(fields)}
    for code, level, field_code, weight in catalog.crosswalk.itertuples(index=False):
        if (code, level) in position and field_code in column:
            weights[position[(code, level)], column[field_code]] = weight
    return CityPlan(catalog, fields, programmes, weights)


def _subset_catalog(default: Catalog, fields: tuple[str, ...], programmes: pd.DataFrame) -> Catalog:
    """The default catalog cut to ``fields`` (plus ``other``) and the picked programmes."""
    long = default.to_long_programmes()
    selected = long.merge(programmes.loc[:, KEY], on=KEY)
    selected["field_code"] = selected["field_code"].where(
        selected["field_code"].isin(fields), OTHER
    )
    attributes = [c for c in long.columns if c not in ("field_code", "weight")]
    selected = selected.groupby([*attributes, "field_code"], as_index=False, sort=False)[
        "weight"
    ].sum()
    others = long[long["programme_code"] == OTHER]
    combined = pd.concat([selected, others], ignore_index=True).loc[:, list(long.columns)]
    field_rows = default.fields[default.fields["field_code"].isin([*fields, OTHER])]
    return catalog_from_frames(field_rows.reset_index(drop=True), combined)
