"""Accuracy of the forecasting engine on the M1 series, against its members and statsforecast.

For each set (yearly, quarterly, monthly) every model fits the training half and forecasts the
test half. Reported per model: MASE and sMAPE (per series, then averaged), both also as a ratio
to the naive forecast of the same run (seasonal naive for quarterly and monthly), the coverage
of the 80% and 95% intervals, and milliseconds per series (one core; the engine on `--jobs`
processes, and its coverage per step ahead in a table of its own). The peers are
statsforecast's AutoETS, AutoARIMA, DynamicOptimizedTheta and Theta, each alone, and their
median (point and bounds), a strong published reference; the notes give the best model per
metric and the engine's time per series as a ratio to the peer median's (all four fits).
The engine chooses and calibrates on backtests of the training halves only; nothing here looks
at the test halves before scoring.

    python experiments/benchmarks/accuracy.py --data DIR

where DIR holds the M1 series as ``m1_*_{train,test}.csv``.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.benchmarks.recording import command_line, record
from features.panel import Panel
from forecasting.engine import BASELINES, ForecastEngine
from forecasting.metrics import coverage, mase, naive_scale, smape
from models.registry import available, create

SETS = {"yearly": 6, "quarterly": 8, "monthly": 18}
LEVELS = (80, 95)
SLOW_FAMILIES = {"arima", "prophet"}


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
) -> dict[str, Any]:
    scales = np.array([naive_scale(y, panel.season_length) for _, y in panel])
    row: dict[str, Any] = {
        "model": name,
        "MASE": float(np.mean(mase(actual, mean, scales))),
        "sMAPE": float(np.mean(smape(actual, mean))),
    }
    for level in LEVELS:
        if level in bounds:
            lower, upper = bounds[level]
            row[f"cov{level}"] = float(np.mean(coverage(actual, lower, upper)))
        else:
            row[f"cov{level}"] = np.nan
    row["ms/series"] = 1000 * seconds / panel.n_series
    return row


def zoo_rows(panel: Panel, actual: np.ndarray, horizon: int, slow: bool) -> list[dict[str, Any]]:
    rows = []
    for name in available(panel.freq):
        if name in SLOW_FAMILIES and not slow:
            continue
        started = time.perf_counter()
        forecast = create(name, horizon=horizon).fit(panel).predict(horizon, LEVELS)
        seconds = time.perf_counter() - started
        bounds = {lv: (forecast.lower[lv], forecast.upper[lv]) for lv in LEVELS}
        rows.append(score(name, panel, actual, forecast.mean, bounds, seconds=seconds))
    return rows


def engine_row(
    panel: Panel, actual: np.ndarray, horizon: int, jobs: int
) -> tuple[dict[str, Any], str, pd.DataFrame]:
    """The engine's score row, its selection and its interval coverage per step ahead."""
    started = time.perf_counter()
    engine = ForecastEngine(horizon, levels=LEVELS, n_jobs=jobs).fit(panel)
    forecast = engine.predict()
    seconds = time.perf_counter() - started
    bounds = {lv: (forecast.lower[lv], forecast.upper[lv]) for lv in LEVELS}
    name = f"ENGINE (default, {jobs} process{'es' if jobs > 1 else ''})"
    row = score(name, panel, actual, forecast.mean, bounds, seconds=seconds)
    steps = pd.DataFrame({"step": np.arange(1, horizon + 1)})
    for level in LEVELS:
        inside = (actual >= bounds[level][0]) & (actual <= bounds[level][1])
        steps[f"cov{level}"] = inside.mean(axis=0)
    steps["series"] = actual.shape[0]
    return row, engine.selection_.label, steps


PEERS: tuple[str, ...] = ("AutoETS", "AutoARIMA", "DynamicOptimizedTheta", "Theta")


def peer_rows(panel: Panel, actual: np.ndarray, horizon: int) -> list[dict[str, Any]]:
    """statsforecast's AutoETS, AutoARIMA, DynamicOptimizedTheta and Theta, each alone and
    their median (point forecasts and interval bounds), each timed on its own."""
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
            result = StatsForecast(models=[model], freq=1, n_jobs=1).forecast(
                df=frame, h=horizon, level=list(LEVELS)
            )
        seconds[name] = time.perf_counter() - started
        forecasts[name] = result.set_index("unique_id").loc[order].reset_index()
        mean, bounds = _peer_arrays(forecasts[name], name, horizon)
        rows.append(score(f"PEER {name}", panel, actual, mean, bounds, seconds=seconds[name]))

    def stacked(column: str) -> np.ndarray:
        return np.stack([_column(forecasts[name], f"{name}{column}", horizon) for name in PEERS])

    median = np.median(stacked(""), axis=0)
    bounds = {
        lv: (np.median(stacked(f"-lo-{lv}"), axis=0), np.median(stacked(f"-hi-{lv}"), axis=0))
        for lv in LEVELS
    }
    name = "PEER median(ETS,ARIMA,DOTM,Theta)"
    rows.append(score(name, panel, actual, median, bounds, seconds=sum(seconds.values())))
    return rows


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
        engine, selection, steps = engine_row(panel, actual, horizon, jobs)
        rows.append(engine)
        rows.extend(peer_rows(panel, actual, horizon))
        table = pd.DataFrame(rows)
        baseline = table.set_index("model").loc[BASELINES[panel.freq]]
        table.insert(3, "MASE/naive", table["MASE"] / baseline["MASE"])
        table.insert(4, "sMAPE/naive", table["sMAPE"] / baseline["sMAPE"])
        tables[f"M1 {name}: {panel.n_series} series, horizon {horizon}"] = table.round(3)
        tables[f"M1 {name}: engine interval coverage by step ahead"] = steps.round(3)
        peers = table[table["model"].str.startswith("PEER")]
        ratio = engine["ms/series"] / float(peers["ms/series"].iloc[-1])
        best = {
            metric: str(table.loc[table[metric].idxmin(), "model"]) for metric in ("MASE", "sMAPE")
        }
        notes.append(
            f"{name}: engine selected {selection}; best MASE {best['MASE']}, best sMAPE "
            f"{best['sMAPE']}; engine time / peer median time {ratio:.2f}"
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
    for title, table in tables.items():
        print(f"\n{title}\n")
        print(table.to_markdown(index=False))
    print("\n" + "\n".join(notes))
    if not args.no_record:
        print("recorded in", record("accuracy", command_line(), tables, "; ".join(notes)))


if __name__ == "__main__":
    main()
