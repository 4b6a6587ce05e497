"""Accuracy of the forecasting engine on the M1 series, against its members and statsforecast.

For each set (yearly, quarterly, monthly) every model fits the training half and forecasts the
test half. Reported per model: MASE and sMAPE (per series, then averaged), both also as a ratio
to the naive forecast of the same run (seasonal naive for quarterly and monthly), the coverage
of the 80% and 95% intervals, and milliseconds per series (one core; the engine on `--jobs`
processes, and its coverage per step ahead in a table of its own). The peers are
statsforecast's AutoETS, AutoARIMA, DynamicOptimizedTheta and Theta, each alone, and their
median (point and bounds), a strong published reference; the notes give the best model per
metric and the engine's time per series as a ratio to the peer median's (all four fits). A
paired table gives the engine's difference from every model with a bootstrap interval over
series, and the notes say whether the engine is best, tied-best (no model better beyond that
noise) or behind named models.
The engine chooses and calibrates on backtests of the training halves only; nothing here looks
at the test halves before scoring.

    python experiments/benchmarks/accuracy.py --data DIR

where DIR holds the M1 series as ``m1_*_{train,test}.csv``.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.benchmarks.recording import publish
from features.panel import Panel
from forecasting.engine import BASELINES, ForecastEngine
from forecasting.metrics import coverage, mase, naive_scale, smape
from models.registry import available, create

SETS = {"yearly": 6, "quarterly": 8, "monthly": 18}
LEVELS = (80, 95)
SLOW_FAMILIES = {"arima", "prophet"}
ENGINE = "ENGINE (default)"
#: The row key under which :func:`score` keeps each metric per series, for the paired
#: comparison (:func:`paired_differences`); taken out before a table is built.
PER_SERIES = "per series"
#: Bootstrap resamples of the series for the paired comparison's intervals.
BOOTSTRAP_DRAWS = 4000

#: Maps values of the scale a panel is forecast on back to the scale they are read on
#: (``exp`` for logs, ``expit`` for logits), elementwise and increasing.
Transform = Callable[[np.ndarray], np.ndarray]


def load(folder: Path, name: str) -> tuple[Panel, np.ndarray]:
    train = pd.read_csv(folder / f"m1_{name}_train.csv", dtype={"period": str})
    test = pd.read_csv(folder / f"m1_{name}_test.csv", dtype={"period": str})
    panel = Panel.from_frame(train)
    horizon = SETS[name]
    by_series = {
        series_id: group.sort_values("period")["value"].to_numpy()
        for series_id, group in test.groupby("series_id")
    }
    actual = np.stack([by_series[series_id][:horizon] for series_id in panel.ids])
    return panel, actual


def score(
    name: str,
    panel: Panel,
    actual: np.ndarray,
    mean: np.ndarray,
    bounds: dict[int, tuple[np.ndarray, np.ndarray]],
    *,
    seconds: float,
    original: Transform | None = None,
) -> dict[str, Any]:
    """One table row. With ``original``, MASE and sMAPE are also scored after mapping history,
    actuals and forecasts back to the original scale (``... orig``): on logits or log ratios
    near zero sMAPE divides by almost nothing, and a planner reads rates and counts."""
    scales = np.array([naive_scale(y, panel.season_length) for _, y in panel])
    per_series = {"MASE": mase(actual, mean, scales), "sMAPE": smape(actual, mean)}
    row: dict[str, Any] = {
        "model": name,
        "MASE": float(np.mean(per_series["MASE"])),
        "sMAPE": float(np.mean(per_series["sMAPE"])),
        PER_SERIES: per_series,
    }
    if original is not None:
        back = np.array([naive_scale(original(y), panel.season_length) for _, y in panel])
        row["MASE orig"] = float(np.mean(mase(original(actual), original(mean), back)))
        row["sMAPE orig"] = float(np.mean(smape(original(actual), original(mean))))
    for level in LEVELS:
        if level in bounds:
            lower, upper = bounds[level]
            row[f"cov{level}"] = float(np.mean(coverage(actual, lower, upper)))
        else:
            row[f"cov{level}"] = np.nan
    row["ms/series"] = 1000 * seconds / panel.n_series
    return row


def zoo_rows(
    panel: Panel,
    actual: np.ndarray,
    horizon: int,
    slow: bool,
    *,
    original: Transform | None = None,
) -> list[dict[str, Any]]:
    rows = []
    for name in available(panel.freq):
        if name in SLOW_FAMILIES and not slow:
            continue
        started = time.perf_counter()
        forecast = create(name, horizon=horizon).fit(panel).predict(horizon, LEVELS)
        seconds = time.perf_counter() - started
        bounds = {lv: (forecast.lower[lv], forecast.upper[lv]) for lv in LEVELS}
        row = score(name, panel, actual, forecast.mean, bounds, seconds=seconds, original=original)
        rows.append(row)
    return rows


def engine_row(
    panel: Panel,
    actual: np.ndarray,
    horizon: int,
    *,
    name: str = ENGINE,
    settings: Mapping[str, Any] | None = None,
    original: Transform | None = None,
    jobs: int = 1,
) -> tuple[dict[str, Any], str, pd.DataFrame]:
    """The engine's row (with ``settings`` as keyword arguments of :class:`ForecastEngine`, on
    ``jobs`` worker processes), the label of what it selected, and its interval coverage per
    step ahead."""
    started = time.perf_counter()
    engine = ForecastEngine(horizon, levels=LEVELS, n_jobs=jobs, **(settings or {})).fit(panel)
    forecast = engine.predict()
    seconds = time.perf_counter() - started
    bounds = {lv: (forecast.lower[lv], forecast.upper[lv]) for lv in LEVELS}
    row = score(name, panel, actual, forecast.mean, bounds, seconds=seconds, original=original)
    steps = pd.DataFrame({"step": np.arange(1, horizon + 1)})
    for level in LEVELS:
        inside = (actual >= bounds[level][0]) & (actual <= bounds[level][1])
        steps[f"cov{level}"] = inside.mean(axis=0)
    steps["series"] = actual.shape[0]
    return row, engine.selection_.label, steps


PEERS: tuple[str, ...] = ("AutoETS", "AutoARIMA", "DynamicOptimizedTheta", "Theta")


def peer_rows(
    panel: Panel, actual: np.ndarray, horizon: int, *, original: Transform | None = None
) -> list[dict[str, Any]]:
    """statsforecast's AutoETS, AutoARIMA, DynamicOptimizedTheta and Theta, each alone and
    their median (point forecasts and interval bounds), each timed on its own.

    A series a peer cannot fit (AutoETS refuses six values or fewer) gets statsforecast's
    own fallback, the naive forecast, as a user of the library would configure it."""
    from statsforecast import StatsForecast
    from statsforecast import models as sf

    m = panel.season_length
    frame = pd.DataFrame(
        {
            "unique_id": np.repeat(np.array(panel.ids, dtype=object), panel.lengths),
            "ds": np.concatenate([np.arange(1, n + 1) for n in panel.lengths]),
            "y": panel.values,
        }
    )
    order = list(panel.ids)
    forecasts: dict[str, pd.DataFrame] = {}
    seconds: dict[str, float] = {}
    rows = []
    for name in PEERS:
        model = getattr(sf, name)(season_length=m)
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = StatsForecast(
                models=[model], freq=1, n_jobs=1, fallback_model=sf.Naive()
            ).forecast(df=frame, h=horizon, level=list(LEVELS))
        seconds[name] = time.perf_counter() - started
        forecasts[name] = result.set_index("unique_id").loc[order].reset_index()
        mean, bounds = _peer_arrays(forecasts[name], name, horizon)
        rows.append(
            score(
                f"PEER {name}",
                panel,
                actual,
                mean,
                bounds,
                seconds=seconds[name],
                original=original,
            )
        )

    def stacked(column: str) -> np.ndarray:
        return np.stack([_column(forecasts[name], f"{name}{column}", horizon) for name in PEERS])

    median = np.median(stacked(""), axis=0)
    bounds = {
        lv: (np.median(stacked(f"-lo-{lv}"), axis=0), np.median(stacked(f"-hi-{lv}"), axis=0))
        for lv in LEVELS
    }
    name = "PEER median(ETS,ARIMA,DOTM,Theta)"
    total = sum(seconds.values())
    rows.append(score(name, panel, actual, median, bounds, seconds=total, original=original))
    return rows


def paired_differences(
    rows: list[dict[str, Any]], reference: str = ENGINE, seed: int = 0
) -> pd.DataFrame:
    """``reference`` minus every other model, per metric, paired over series: the mean
    difference, its 95% bootstrap interval (series resampled) and a verdict — ``better`` or
    ``worse`` when the interval excludes zero, else ``tied``.

    Two forecasts of the same 181 series differ in MASE by a few hundredths from which series
    happen to be hard alone; "best" is only meaningful beyond that noise, and the pairing
    removes what the series have in common."""
    by_model = {row["model"]: row[PER_SERIES] for row in rows}
    ours = by_model[reference]
    rng = np.random.default_rng(seed)
    n = len(ours["MASE"])
    draws = rng.integers(0, n, size=(BOOTSTRAP_DRAWS, n))
    records = []
    for model, theirs in by_model.items():
        if model == reference:
            continue
        record: dict[str, Any] = {"model": model}
        for metric in ("MASE", "sMAPE"):
            difference = np.asarray(ours[metric] - theirs[metric], dtype=float)
            means = difference[draws].mean(axis=1)
            low, high = np.quantile(means, [0.025, 0.975])
            record[f"{metric} diff"] = float(difference.mean())
            record[f"{metric} low"] = float(low)
            record[f"{metric} high"] = float(high)
            record[metric] = "better" if high < 0 else "worse" if low > 0 else "tied"
        records.append(record)
    return pd.DataFrame.from_records(records)


def standing(paired: pd.DataFrame, metric: str) -> str:
    """``best`` (better than every model), ``tied-best`` (no model better beyond noise) or the
    models that beat the reference beyond noise."""
    worse = paired.loc[paired[metric] == "worse", "model"].tolist()
    if worse:
        return "behind " + ", ".join(worse)
    return "best" if (paired[metric] == "better").all() else "tied-best"


def model_table(rows: list[dict[str, Any]], baseline: str) -> pd.DataFrame:
    """One row per model of :func:`score` rows, without their per-series arrays (those are for
    :func:`paired_differences`), MASE and sMAPE also relative to ``baseline``."""
    kept = [{k: v for k, v in row.items() if k != PER_SERIES} for row in rows]
    return relative_to_naive(pd.DataFrame(kept), baseline)


def relative_to_naive(table: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """The table with MASE and sMAPE as ratios to the ``baseline`` row's, after sMAPE."""
    reference = table.set_index("model").loc[baseline]
    table = table.copy()
    table.insert(3, "MASE/naive", table["MASE"] / reference["MASE"])
    table.insert(4, "sMAPE/naive", table["sMAPE"] / reference["sMAPE"])
    return table


def peer_median_ms(table: pd.DataFrame) -> float:
    """Milliseconds per series of the peer median (all four peers' fits): the last PEER row."""
    peers = table[table["model"].str.startswith("PEER")]
    return float(peers["ms/series"].iloc[-1])


def best_models(table: pd.DataFrame, metrics: tuple[str, ...]) -> dict[str, str]:
    """The model with the lowest value of each metric."""
    return {metric: str(table.loc[table[metric].idxmin(), "model"]) for metric in metrics}


def _column(result: pd.DataFrame, column: str, horizon: int) -> np.ndarray:
    return result[column].to_numpy(dtype=float).reshape(-1, horizon)


def _peer_arrays(
    result: pd.DataFrame, name: str, horizon: int
) -> tuple[np.ndarray, dict[int, tuple[np.ndarray, np.ndarray]]]:
    bounds = {
        lv: (
            _column(result, f"{name}-lo-{lv}", horizon),
            _column(result, f"{name}-hi-{lv}", horizon),
        )
        for lv in LEVELS
    }
    return _column(result, name, horizon), bounds


def run(
    folder: Path, sets: list[str], slow: bool, jobs: int = 1
) -> tuple[dict[str, pd.DataFrame], list[str]]:
    tables: dict[str, pd.DataFrame] = {}
    notes: list[str] = []
    for name in sets:
        horizon = SETS[name]
        panel, actual = load(folder, name)
        rows = zoo_rows(panel, actual, horizon, slow)
        engine, selection, steps = engine_row(panel, actual, horizon, jobs=jobs)
        rows.append(engine)
        rows.extend(peer_rows(panel, actual, horizon))
        paired = paired_differences(rows)
        table = model_table(rows, BASELINES[panel.freq])
        tables[f"M1 {name}: {panel.n_series} series, horizon {horizon}"] = table.round(3)
        tables[f"M1 {name}: engine minus each model, paired over series (95% bootstrap)"] = (
            paired.round(3)
        )
        tables[f"M1 {name}: engine interval coverage by step ahead"] = steps.round(3)
        ratio = engine["ms/series"] / peer_median_ms(table)
        best = best_models(table, ("MASE", "sMAPE"))
        peers = paired[paired["model"].str.startswith("PEER")]
        notes.append(
            f"{name}: engine selected {selection}; best MASE {best['MASE']}, best sMAPE "
            f"{best['sMAPE']}; engine among peers MASE {standing(peers, 'MASE')}, sMAPE "
            f"{standing(peers, 'sMAPE')}; among all models MASE {standing(paired, 'MASE')}, "
            f"sMAPE {standing(paired, 'sMAPE')}; engine time / peer median time {ratio:.2f}"
        )
    return tables, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, required=True, help="folder with m1_*_{train,test}.csv"
    )
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--slow", action="store_true", help="also run ARIMA and Prophet alone")
    parser.add_argument(
        "--jobs", type=int, default=1, help="engine worker processes (members and peers: one)"
    )
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    tables, notes = run(args.data, args.sets, args.slow, args.jobs)
    publish("accuracy", tables, notes, save=not args.no_record)


if __name__ == "__main__":
    main()
