"""The balance scored on simulated cities whose truth is known (experiments/simcity).

For each world and seed a city is simulated, loaded into a fresh SQLite store as yearly
vintages, and trained on by the product's own pipeline (``forecasting.pipeline.train``); its
balance for the years last+2 .. last+6 (the graduation years a quota decided now can still
move) is scored against the true openings and supply:

- spearman: per year, rank correlation over all field × level cells of the forecast ratio
  (median) with the true demand/supply ratio, averaged over the years;
- macro_f1: shortage flags (P(shortage) > 0.5) vs true gap > 0, pooled over cells and years,
  the mean of the F1 of both classes;
- coverage80: share of cell-years whose true gap lies in the forecast's 80% interval;
  city_coverage80 / level_coverage80 the same for the city total and the per-level totals;
- with a ``demand_scales`` run output (postings per opening, estimated), the median
  |log(estimated / true scale)| and the coverage of the true scale by its 80% interval.

Where the product's remaining error comes from is measured by substituting one part of the
truth into its forecast (rows ``if known: ...``, next to the same score of the unchanged
medians; flags are then median demand ÷ median supply > 1): its median
demand rescaled by estimated ÷ true posting scale (what a perfect scale would give), the true
demand of late-boom fields (whose growth starts in the last three observed years, so
postings show little of it yet), all true demand, the true supply, and the first two and
then all three of scales, late-boom demand and supply together (one part's error can hide
another's: where demand and supply are both forecast too low, putting back one of them
alone moves the ratio further off). A last table gives the mean log error of demand (at
the true scale), supply and scale by the field's trajectory and years ahead.

Baselines, on the same cells: (a) the last observed postings ÷ realised supply carried forward;
(b) the same with postings converted to openings by one city-wide scale, Σ postings ÷ Σ hires
over the fields that report hires in the last three observed years — what a careful analyst
without the simulator's knowledge would assume (hires undercount openings where supply is
short, so this scale is, if anything, too high; in a city where no field reports hires the
analyst has nothing to convert with and takes postings as openings, as (a) does); (c) the
same with each field's true posting scale (an oracle no method has). Baseline flags are
ratio > 1.

    python experiments/benchmarks/balance_worlds.py [--worlds steady volatile sparse silent]
        [--seeds 1 2 3 4 5] [--samples 500] [--jobs 2] [--cuts 0] [--no-record]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from data.store import Store
from data.vocabulary import Kind
from experiments.benchmarks.recording import command_line, record
from experiments.simcity import WORLDS, SimulatedCity, load_into_store, simulate
from features.talent import TalentData
from forecasting.balance_backtest import macro_f1
from forecasting.metrics import coverage
from forecasting.pipeline import TrainingConfig, train
from forecasting.settings import DEMAND_MODELS, BalanceSettings
from forecasting.supply import observed_supply

KEY = ["field_code", "level", "year"]
TOTAL = "all"
MAX_RATIO = 100.0
#: Scored years, relative to the last observed year.
FIRST_AHEAD, LAST_AHEAD = 2, 6
#: Information ceilings: the product's forecast with one part replaced by the truth.
CEILINGS = {
    "none": "product medians, nothing known",
    "scale": "if known: posting scales",
    "late_boom": "if known: late-boom demand",
    "demand": "if known: demand",
    "supply": "if known: supply",
    "scale_late": "if known: posting scales, late-boom demand",
    "scale_late_supply": "if known: posting scales, late-boom demand, supply",
}
BASELINES = {
    "a": "a: postings/supply",
    "b": "b: postings/city scale/supply",
    "c": "c: postings/true scale/supply",
}


def scored_years(last_year: int) -> list[int]:
    return list(range(last_year + FIRST_AHEAD, last_year + LAST_AHEAD + 1))


def score_ratios(forecast: pd.DataFrame, truth: pd.DataFrame, years: list[int]) -> dict[str, float]:
    """Spearman and macro-F1 of a cell forecast (columns field_code, level, year, ratio,
    short) against the truth (ratio, gap), over ``years``."""
    cells = forecast[forecast["year"].isin(years)].merge(
        truth.loc[:, [*KEY, "ratio", "gap"]], on=KEY, suffixes=("", "_true")
    )
    correlations = []
    for _, group in cells.groupby("year"):
        if len(group) >= 3 and group["ratio"].nunique() > 1 and group["ratio_true"].nunique() > 1:
            correlations.append(stats.spearmanr(group["ratio"], group["ratio_true"]).statistic)
    short = cells["short"].to_numpy(dtype=bool)
    return {
        "spearman": float(np.mean(correlations)) if correlations else float("nan"),
        "macro_f1": macro_f1(short, (cells["gap"] > 0).to_numpy()) if len(cells) else np.nan,
    }


def score_run(balance: pd.DataFrame, truth: pd.DataFrame, last_year: int) -> dict[str, float]:
    """The product's balance (the run output) scored against the truth of years last+2..+6."""
    years = scored_years(last_year)
    rows = balance[balance["year"].isin(years)]
    cells = rows[(rows["field_code"] != TOTAL) & (rows["level"] != TOTAL)]
    forecast = cells.assign(ratio=cells["ratio_p50"], short=cells["p_shortage"] > 0.5)
    scores = score_ratios(forecast, truth, years)
    truth = truth[truth["year"].isin(years)]
    by_level = truth.groupby(["level", "year"], as_index=False)[["demand", "supply"]].sum()
    city = truth.groupby("year", as_index=False)[["demand", "supply"]].sum()
    scores["coverage80"] = _coverage(cells, truth, KEY)
    scores["city_coverage80"] = _coverage(
        rows[(rows["field_code"] == TOTAL) & (rows["level"] == TOTAL)], city, ["year"]
    )
    scores["level_coverage80"] = _coverage(
        rows[(rows["field_code"] == TOTAL) & (rows["level"] != TOTAL)], by_level, ["level", "year"]
    )
    return scores


def scored_cells(
    balance: pd.DataFrame, city: SimulatedCity, scales: pd.DataFrame | None
) -> pd.DataFrame:
    """The run's field × level rows of the scored years beside the truth: ``demand_t`` and
    ``supply_t``, each field's ``true_scale`` (postings per opening in the last observed year)
    and ``estimated`` scale (the run's median; NaN without a ``demand_scales`` output)."""
    rows = balance[
        balance["year"].isin(scored_years(city.last_year))
        & (balance["field_code"] != TOTAL)
        & (balance["level"] != TOTAL)
    ]
    truth = city.truth.loc[:, [*KEY, "demand", "supply"]]
    cells = rows.merge(truth.rename(columns={"demand": "demand_t", "supply": "supply_t"}), on=KEY)
    last = city.truth[city.truth["year"] == city.last_year]
    true_scale = cells["field_code"].map(last.groupby("field_code")["posting_scale"].first())
    if scales is not None and not scales.empty:
        estimated = cells["field_code"].map(scales.set_index("field_code")["scale_p50"])
    else:
        estimated = pd.Series(np.nan, index=cells.index)
    return cells.assign(true_scale=true_scale, estimated=estimated)


def ceilings(
    balance: pd.DataFrame, city: SimulatedCity, scales: pd.DataFrame | None
) -> dict[str, dict[str, float]]:
    """Spearman and macro-F1 of the product's medians with one part replaced by the truth
    (module docstring): how much each part of the forecast costs."""
    cells = scored_cells(balance, city, scales)
    demand, supply = cells["demand_p50"], cells["supply_p50"]
    late = cells["field_code"].map(city.trajectories) == "late_boom"
    variants = {
        "none": (demand, supply),
        "late_boom": (demand.where(~late, cells["demand_t"]), supply),
        "demand": (cells["demand_t"], supply),
        "supply": (demand, cells["supply_t"]),
    }
    if cells["estimated"].notna().any():
        at_true_scale = demand * cells["estimated"] / cells["true_scale"]
        variants["scale"] = (at_true_scale, supply)
        variants["scale_late"] = (at_true_scale.where(~late, cells["demand_t"]), supply)
        variants["scale_late_supply"] = (
            at_true_scale.where(~late, cells["demand_t"]),
            cells["supply_t"],
        )
    results = {}
    for name in CEILINGS:
        if name not in variants:
            continue
        numerator, denominator = variants[name]
        ratio = np.minimum(numerator / denominator.clip(lower=1e-9), MAX_RATIO)
        forecast = cells.loc[:, KEY].assign(ratio=ratio, short=ratio > 1)
        results[name] = score_ratios(forecast, city.truth, scored_years(city.last_year))
    return results


def error_breakdown(
    balance: pd.DataFrame, city: SimulatedCity, scales: pd.DataFrame | None
) -> pd.DataFrame:
    """Per cell and scored year: the field's trajectory, years ahead, and the log errors
    (forecast ÷ truth) of the median demand at the true posting scale (what is left once the
    scale is right), of the median supply and of the field's estimated scale.

    Where the forecast errs by trajectory says what the ceilings alone cannot: whether a
    part errs for every field or for one kind of history (a boom that started too late to
    show in postings), and in which direction, which is what decides whether errors of
    demand and supply cancel in the ratio or add up.
    """
    cells = scored_cells(balance, city, scales)
    cells = cells[(cells["demand_t"] > 0) & (cells["supply_t"] > 0) & (cells["supply_p50"] > 0)]
    return pd.DataFrame(
        {
            "trajectory": cells["field_code"].map(city.trajectories),
            "ahead": cells["year"] - city.last_year,
            "demand": np.log(
                cells["demand_p50"] * cells["estimated"] / cells["true_scale"] / cells["demand_t"]
            ),
            "supply": np.log(cells["supply_p50"] / cells["supply_t"]),
            "scale": np.log(cells["estimated"] / cells["true_scale"]),
        }
    )


def breakdown_table(errors: pd.DataFrame) -> pd.DataFrame:
    """Mean log error by trajectory: demand and supply per year ahead, and the scale."""
    demand = errors.pivot_table(index="trajectory", columns="ahead", values="demand")
    supply = errors.pivot_table(index="trajectory", columns="ahead", values="supply")
    table = pd.concat(
        [
            demand.rename(columns=lambda h: f"demand +{h}"),
            supply.rename(columns=lambda h: f"supply +{h}"),
            errors.groupby("trajectory")["scale"].mean().rename("scale"),
            errors.groupby("trajectory").size().rename("cell-years"),
        ],
        axis=1,
    )
    return table.reset_index().round(3)


def _coverage(forecast: pd.DataFrame, truth: pd.DataFrame, key: list[str]) -> float:
    """Share of rows whose true gap (demand − supply) lies in [gap_p10, gap_p90]."""
    both = forecast.merge(truth.assign(true_gap=truth["demand"] - truth["supply"]), on=key)
    if both.empty:
        return float("nan")
    return float(
        coverage(
            both["true_gap"].to_numpy(dtype=float),
            both["gap_p10"].to_numpy(dtype=float),
            both["gap_p90"].to_numpy(dtype=float),
        )
    )


def baselines(city: SimulatedCity) -> dict[str, dict[str, float]]:
    """Spearman and macro-F1 of the three persistence baselines (module docstring)."""
    last = city.last_year
    data = TalentData.from_observations(city.catalog, city.observations)
    supply = observed_supply(data)
    supply = supply[supply["year"] == last].set_index(["field_code", "level"])["supply"]
    postings = data.annual_hiring()
    postings = postings[postings["year"] == last].set_index(["field_code", "level"])["postings"]
    truth = city.truth
    true_scale = truth[truth["year"] == last].groupby("field_code")["posting_scale"].first()
    base = pd.DataFrame({"postings": postings, "supply": supply}).dropna().reset_index()
    scales = {
        "a": pd.Series(1.0, index=base.index),
        "b": pd.Series(city_scale(city), index=base.index),
        "c": base["field_code"].map(true_scale),
    }
    years = scored_years(last)
    results = {}
    for name, scale in scales.items():
        ratio = np.minimum(
            base["postings"] / scale / base["supply"].clip(lower=1e-9), MAX_RATIO
        ).to_numpy()
        forecast = pd.concat(
            [
                base.loc[:, ["field_code", "level"]].assign(year=year, ratio=ratio, short=ratio > 1)
                for year in years
            ],
            ignore_index=True,
        )
        results[name] = score_ratios(forecast, truth, years)
    return results


def city_scale(city: SimulatedCity) -> float:
    """Σ postings ÷ Σ hires over the rows with hires in the last three observed years; 1.0
    (postings taken as openings) where no row of those years reports hires."""
    hiring = city.observations[Kind.HIRING]
    year = hiring["period"].str[:4].astype(int)
    recent = hiring[(year > city.last_year - 3) & hiring["hires"].notna()]
    hires = float(recent["hires"].sum())
    if hires <= 0:
        return 1.0
    return float(recent["postings"].sum() / hires)


def scale_scores(scales: pd.DataFrame, truth: pd.DataFrame, last_year: int) -> dict[str, float]:
    """Median |log(estimated / true)| posting scale and the 80% interval's coverage."""
    true = truth[truth["year"] == last_year].groupby("field_code")["posting_scale"].first()
    rows = scales[scales["field_code"].isin(true.index)]
    if rows.empty:
        return {}
    actual = rows["field_code"].map(true)
    error = np.abs(np.log(rows["scale_p50"].clip(lower=1e-9) / actual))
    inside = coverage(
        actual.to_numpy(dtype=float),
        rows["scale_p10"].to_numpy(dtype=float),
        rows["scale_p90"].to_numpy(dtype=float),
    )
    return {"scale_log_error": float(error.median()), "scale_coverage80": float(inside)}


def run_city(
    world: str, seed: int, args: argparse.Namespace
) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """Simulate, load, train and score one city: one row per method, and the city's
    :func:`error_breakdown`."""
    city = simulate(WORLDS[world], seed)
    config = TrainingConfig(
        balance=BalanceSettings(
            n_samples=args.samples,
            n_jobs=args.jobs,
            horizon=7,
            demand_model=args.demand_model,
            supply_response=not args.no_supply_response,
        ),
        balance_backtest_cuts=args.cuts,
    )
    with tempfile.TemporaryDirectory() as folder:
        store = Store.connect(f"sqlite:///{Path(folder) / 'city.db'}")
        try:
            store.upgrade()
            load_into_store(city, store)
            started = time.perf_counter()
            result = train(store, config, serve=False)
            seconds = time.perf_counter() - started
        finally:
            store.dispose()
    product = score_run(result.balance.balance, city.truth, city.last_year)
    scales = result.outputs.get("demand_scales")
    if scales is not None:
        product.update(scale_scores(scales, city.truth, city.last_year))
    common = {"world": world, "seed": seed}
    rows = [{**common, "method": "product", **product, "seconds": seconds}]
    for name, scores in baselines(city).items():
        rows.append({**common, "method": BASELINES[name], **scores})
    for name, scores in ceilings(result.balance.balance, city, scales).items():
        rows.append({**common, "method": CEILINGS[name], **scores})
    return rows, error_breakdown(result.balance.balance, city, scales)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worlds", nargs="+", choices=list(WORLDS), default=list(WORLDS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 4, 5])
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--cuts", type=int, default=0)
    parser.add_argument(
        "--demand-model", choices=DEMAND_MODELS, default=BalanceSettings().demand_model
    )
    parser.add_argument("--no-supply-response", action="store_true")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    rows, errors = [], []
    for world in args.worlds:
        for seed in args.seeds:
            city_rows, city_errors = run_city(world, seed, args)
            rows.extend(city_rows)
            errors.append(city_errors)
            print(f"{world} seed {seed}: trained in {city_rows[0]['seconds']:.1f} s", flush=True)
    detail = pd.DataFrame(rows)
    measures = [c for c in detail.columns if c not in ("world", "seed", "method")]
    order = ["product", *BASELINES.values(), *CEILINGS.values()]
    tables = {}
    for world in args.worlds:
        part = detail[detail["world"] == world].groupby("method", sort=False)[measures].mean()
        tables[f"World {world!r} (mean over seeds)"] = _table(part, order)
    overall = detail.groupby("method", sort=False)[measures].mean()
    tables["All worlds and seeds"] = _table(overall, order)
    tables["Mean log error (forecast ÷ truth) by trajectory, all worlds and seeds"] = (
        breakdown_table(pd.concat(errors, ignore_index=True))
    )
    for title, table in tables.items():
        print(f"\n{title}\n")
        print(table.to_markdown(index=False))
    seconds = detail.loc[detail["method"] == "product", "seconds"]
    notes = (
        f"worlds {', '.join(args.worlds)}; seeds {' '.join(map(str, args.seeds))}; "
        f"{args.samples} samples, {args.cuts} backtest cuts; scored years last+{FIRST_AHEAD}.."
        f"last+{LAST_AHEAD}; {seconds.mean():.1f} s per training (max {seconds.max():.1f})"
    )
    print(notes)
    if not args.no_record:
        print("recorded in", record("balance_worlds", command_line(), tables, notes))


def _table(means: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Methods in a fixed order, columns without values (baselines' coverage) left out."""
    kept = means.reindex([m for m in order if m in means.index]).dropna(axis=1, how="all")
    return kept.reset_index().round(3)


if __name__ == "__main__":
    main()
