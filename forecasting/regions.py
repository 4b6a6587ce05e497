"""The balance of several regions and of their total (the cities of a province, or the
provinces of the nation), coherent sample by sample.

Each region is forecast from its own data, one region at a time, and reduced to its balance
rows before the next is read, so that a national run never holds every city's samples at
once. All regions draw their samples with the same :class:`~forecasting.joint.JointDraws`: in
sample *s* every region's engines take the same backtest origin, so regions that erred
together in a year err together again, and the total's spread is honest. Each region's own
draws (residuals, kernel jitter, scales) come from its own seed, offset by its position, so
that regions are not copies of each other's noise; the first region keeps the run's seed,
which makes a single region exactly the balance a single-city deployment computes.

The total is never forecast on its own. Its supply and demand in each sample are the sums of
its regions' supply and demand in that sample (accumulated in float32: persons need no more
than seven significant digits), so that every total quantile and P(shortage) is of the same
samples as its parts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from data.regions import RegionPlan
from data.store import ArtifactFile, Store
from features.rates import primary_fields
from features.talent import TalentData
from forecasting.balance import (
    JOINT_SEED_OFFSET,
    BalanceResult,
    CellAxes,
    cell_table,
    compute_balance,
    observed_history,
)
from forecasting.joint import JointDraws
from forecasting.memory import release_memory
from forecasting.progress import RunProgress
from forecasting.promotion import OutputTally
from forecasting.quotas import QuotaSettings, recommend_quotas, with_stopped
from forecasting.rules import Policy, evaluate_rules, quota_limits, stopped_programmes
from forecasting.scenarios import BalanceSamples, samples_artifact, samples_from_balance
from forecasting.settings import BalanceSettings

#: Seeds of the regions' own draws are this far apart.
REGION_SEED_STEP: Final = 1000


def region_settings(settings: BalanceSettings, position: int) -> BalanceSettings:
    """The balance settings of the region at ``position`` among the configured ones."""
    return replace(settings, seed=settings.seed + REGION_SEED_STEP * position)


def regional_balances(
    plan: RegionPlan,
    load: Callable[[str], TalentData],
    settings: BalanceSettings,
    progress: RunProgress | None = None,
) -> Iterator[tuple[str, TalentData, BalanceResult]]:
    """Each region of ``plan`` with its data (``load(region)``) and balance, one at a time,
    all drawn with the same joint origins; a caller that keeps only what it reduces keeps one
    region's samples in memory at a time."""
    joint = JointDraws.draw(settings.n_samples, settings.seed + JOINT_SEED_OFFSET)
    for position, region in enumerate(plan.regions):
        data = load(region)
        # Not bound to a name here: a region's balance lives only as long as the caller keeps
        # it, not until the next region's is computed.
        yield (
            region,
            data,
            compute_balance(data, region_settings(settings, position), progress, joint=joint),
        )
        del data


@dataclass
class RegionTotal:
    """The running sum of several regions' joint samples: supply and demand (samples, fields,
    levels, years) of every observed cell, the observed cells and their history."""

    supply: np.ndarray | None = None
    demand: np.ndarray | None = None
    observed: np.ndarray | None = None
    axes: CellAxes | None = None
    regions: list[str] = field(default_factory=list)
    history: list[pd.DataFrame] = field(default_factory=list)

    def add(self, region: str, result: BalanceResult) -> None:
        """Add one region's samples (same samples, fields, levels and forecast years)."""
        supply, demand = result.supply, result.demand
        observed = demand.observed
        s = (supply.by_field_level * observed[None, :, :, None]).astype(np.float32)
        d = (demand.combined * observed[None, :, :, None]).astype(np.float32)
        axes = CellAxes(supply.fields, supply.levels, np.asarray(supply.years))
        if self.axes is None or self.supply is None or self.demand is None:
            self.supply, self.demand, self.observed, self.axes = s, d, observed.copy(), axes
        else:
            _check_alike(region, axes, self.axes, self.regions)
            if s.shape[0] != self.supply.shape[0]:
                raise ValueError(
                    f"region {region} has {s.shape[0]} samples, not {self.supply.shape[0]}"
                )
            self.supply += s
            self.demand += d
            self.observed = self.observed | observed if self.observed is not None else observed
        self.regions.append(region)
        self.history.append(observed_history(supply, demand))

    def balance(self) -> pd.DataFrame:
        """The total's balance rows, as :func:`~forecasting.balance.balance_table` gives a
        region's: cells observed in any region, their totals, and the summed history."""
        if self.supply is None or self.demand is None or self.observed is None or self.axes is None:
            raise ValueError("no region was added: a total needs at least one region")
        history = pd.concat(self.history, ignore_index=True)
        history = history.groupby(["field_code", "level", "year"], as_index=False)[
            ["supply", "demand"]
        ].sum()
        return cell_table(
            self.supply.astype(float),
            self.demand.astype(float),
            self.observed,
            self.axes,
            history,
        )


@dataclass
class Regional:
    """What the balance, warnings and quota stages computed for every region of a run:
    ``outputs`` still to be stored (all of them, unless regions were stored as they came:
    then their total's), ``stored`` the tally of those stored already, ``kept`` the outputs
    still in memory for the caller (all, or the first region's and the total's),
    ``artifacts`` (samples) per name, the first region's in-memory results (``first``), the
    engines' backtest table (of every region, pooled: :func:`pool_backtests`) and the seconds
    per stage, summed over regions."""

    outputs: dict[str, pd.DataFrame]
    artifacts: dict[str, bytes | ArtifactFile]
    first: tuple[BalanceResult, BalanceSamples, pd.DataFrame, pd.DataFrame]
    timings: dict[str, float]
    stored: OutputTally = field(default_factory=OutputTally)
    kept: dict[str, pd.DataFrame] = field(default_factory=dict)
    backtests: pd.DataFrame = field(default_factory=pd.DataFrame)


def compute_regions(
    store: Store,
    watermark: int,
    plan: RegionPlan,
    data: TalentData,
    *,
    policy: Policy,
    quotas: QuotaSettings,
    balance: BalanceSettings,
    progress: RunProgress,
    spool: Path | None = None,
    store_outputs: Callable[[dict[str, pd.DataFrame]], None] | None = None,
    on_balance: Callable[[str, BalanceResult], None] | None = None,
) -> Regional:
    """Balance, warnings and quotas of each region of ``plan`` in turn (one region's samples
    in memory at a time; see :mod:`forecasting.regions`) and the balance of their total.
    With a ``spool`` folder each region's serialised samples are written there as soon as
    they are made (:class:`~data.store.ArtifactFile`) rather than kept as bytes. With
    ``store_outputs`` (and several regions) each region's outputs are handed to it as soon as
    they are made (the run stores them, :meth:`~data.store.Store.add_outputs`) and only
    their tally is kept, with the first region's for the caller: memory holds one region's
    rows, not the nation's.

    ``data`` is what the run loaded: the single region's data, reused rather than read again.
    A single region is the deployment's city: its samples keep the artifact name the
    scenario tool reads. With several regions each region's samples are stored under its
    own name. ``on_balance(region, result)`` is called with each region's balance while it is
    in memory (the run's change check compares each region with the served run there).
    """
    timings: dict[str, float] = {}
    parts: list[dict[str, pd.DataFrame]] = []
    stored = OutputTally()
    streamed = store_outputs is not None and not plan.single
    kept: dict[str, pd.DataFrame] = {}
    backtests: list[pd.DataFrame] = []
    artifacts: dict[str, bytes | ArtifactFile] = {}
    first: tuple[BalanceResult, BalanceSamples, pd.DataFrame, pd.DataFrame] | None = None
    total = None if plan.single else RegionTotal()

    def load(region: str) -> TalentData:
        if plan.single:
            return data
        started = time.perf_counter()
        loaded = TalentData.from_store(store, as_of=watermark, city_region=region)
        timings["load"] = timings.get("load", 0.0) + time.perf_counter() - started
        return loaded

    for region, region_data, result in regional_balances(plan, load, balance, progress):
        for stage, seconds in result.seconds.items():
            timings[stage] = timings.get(stage, 0.0) + seconds
        backtests += [result.supply.backtests, result.demand.backtests]
        if on_balance is not None:
            on_balance(region, result)
        progress.stage("warnings")
        started = time.perf_counter()
        warnings = evaluate_rules(region_data, policy)
        limits = quota_limits(warnings, region_data, result.last_year + 1, policy)
        timings["warnings"] = timings.get("warnings", 0.0) + time.perf_counter() - started

        progress.stage("quotas")
        started = time.perf_counter()
        catalog = region_data.catalog
        region_samples = samples_from_balance(result, catalog, quotas.capacity_factor)
        names = {
            str(row.field_code): (str(row.name_zh), str(row.name_en))
            for row in catalog.fields.itertuples(index=False)
        }
        main_fields = primary_fields(catalog).to_dict()
        recommendations = with_stopped(
            recommend_quotas(
                region_samples,
                limits,
                quotas,
                main_fields,
                names,
                executor=balance.make_executor(),
            ),
            stopped_programmes(region_data),
            result.last_year,
            main_fields,
        )
        timings["quotas"] = timings.get("quotas", 0.0) + time.perf_counter() - started
        part = with_region(
            {**result.outputs(), "warnings": warnings, "recommendations": recommendations},
            region,
        )
        if streamed and store_outputs is not None:
            started = time.perf_counter()
            store_outputs(part)
            stored.add(part)
            kept = kept or part
            timings["store_regions"] = (
                timings.get("store_regions", 0.0) + time.perf_counter() - started
            )
        else:
            parts.append(part)
        started = time.perf_counter()  # serialised now: one region's samples in memory at a time
        name = samples_artifact(None if plan.single else region)
        if spool is None:
            artifacts[name] = region_samples.to_bytes()
        else:  # and written out, so that memory does not hold every region's bytes either
            path = spool / name
            path.write_bytes(region_samples.to_bytes())
            artifacts[name] = ArtifactFile(path)
        timings["artifacts"] = timings.get("artifacts", 0.0) + time.perf_counter() - started
        if total is not None:
            started = time.perf_counter()
            total.add(region, result)
            timings["balance"] = timings.get("balance", 0.0) + time.perf_counter() - started
        if first is None:
            first = (result, region_samples, warnings, recommendations)
        elif not plan.single:  # this region's samples and engines are gone: so is their memory
            del result, region_samples, region_data, warnings, recommendations, part
            release_memory()
    if first is None:  # pragma: no cover - a plan always has a region
        raise ValueError("no region to forecast")
    if total is not None:
        started = time.perf_counter()
        parts.append({"balance": total.balance().assign(region=plan.top)})
        timings["balance"] = timings.get("balance", 0.0) + time.perf_counter() - started
    outputs = concat_outputs(parts)
    kept = concat_outputs([kept, outputs]) if streamed else outputs
    table = pd.concat(backtests, ignore_index=True)
    pooled = table if plan.single else pool_backtests(table)
    return Regional(outputs, artifacts, first, timings, stored, kept, pooled)


#: Backtest columns that are means over rows, and the count each is weighted by.
_POOLED_MEANS: Final = {
    "mase": "rows",
    "smape": "rows",
    "relative": "rows",
    "coverage_80": "coverage_rows",
    "coverage_95": "coverage_rows",
}


def pool_backtests(table: pd.DataFrame) -> pd.DataFrame:
    """One backtest row per kind and model from the rows of several regions: accuracy and
    coverage are means over every region's backtest rows (each region weighted by its rows,
    NaN regions left out), counts are summed, and a model is ``chosen`` where any region chose
    it. The quality gates then judge a province's intervals on all its cities' held-out rows,
    not on the first city's alone.

    How sure a pooled coverage is does not grow with the number of cities, though: every
    city's held-out rows are of the same newest years, and a year's shock (a hiring freeze, a
    policy change) moves them together. ``coverage_effective_rows`` (the largest region's
    coverage rows) is what the gate's sampling noise is judged on, and ``regions`` how many
    regions were pooled (:func:`forecasting.promotion.coverage_limits`)."""
    if table.empty:
        return table
    pooled: list[dict[str, object]] = []
    for (kind, model), rows in table.groupby(["kind", "model"], sort=False):
        row: dict[str, object] = {"kind": kind, "model": model}
        scored = pd.to_numeric(rows["coverage_rows"], errors="coerce").fillna(0)
        row["regions"] = int((scored > 0).sum())
        row["coverage_effective_rows"] = int(scored.max())
        for column in table.columns.difference(["kind", "model"]):
            values = rows[column]
            if column in _POOLED_MEANS:
                weights = pd.to_numeric(rows[_POOLED_MEANS[column]], errors="coerce")
                numbers = pd.to_numeric(values, errors="coerce")
                usable = numbers.notna() & (weights > 0)
                total = float(weights[usable].sum())
                row[column] = (
                    float((numbers[usable] * weights[usable]).sum() / total) if total else np.nan
                )
            elif column in ("series", "rows", "coverage_rows"):
                row[column] = int(pd.to_numeric(values, errors="coerce").fillna(0).sum())
            elif column == "chosen":
                row[column] = bool(values.fillna(False).astype(bool).any())
            else:  # descriptions (interval method, score): the first region's
                row[column] = values.iloc[0]
        pooled.append(row)
    return pd.DataFrame(pooled, columns=[*table.columns, "regions", "coverage_effective_rows"])


def with_region(outputs: Mapping[str, pd.DataFrame], region: str) -> dict[str, pd.DataFrame]:
    """Run outputs with the region they are of (new frames; the given ones are unchanged)."""
    return {name: frame.assign(region=region) for name, frame in outputs.items()}


def concat_outputs(parts: list[dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """The outputs of several regions as one frame per output."""
    names = {name for part in parts for name in part}
    return {
        name: pd.concat([part[name] for part in parts if name in part], ignore_index=True)
        for name in sorted(names)
    }


def _check_alike(region: str, axes: CellAxes, first: CellAxes, regions: list[str]) -> None:
    """Refuse to add a region whose samples are not of the same cells and years."""
    if axes.fields != first.fields or axes.levels != first.levels:
        raise ValueError(
            f"region {region} has other fields or levels than {', '.join(regions)}: "
            "regions of one deployment share its catalog"
        )
    if not np.array_equal(axes.years, first.years):
        raise ValueError(
            f"region {region} is forecast for {_span(axes.years)} but {', '.join(regions)} "
            f"for {_span(first.years)}: every region needs data up to the same last year "
            "before their total can be forecast"
        )


def _span(years: np.ndarray) -> str:
    return f"{int(years.min())}-{int(years.max())}" if years.size else "no years"
