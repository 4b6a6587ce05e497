"""Accuracy of the forecasting engine on the M1 competition series, against its own zoo and a peer.

For each set (yearly, quarterly, monthly) every model fits the training half and forecasts the
test half. Reported per model: MASE and sMAPE (per series, then averaged), both also as a ratio
to the naive forecast of the same run (seasonal naive for quarterly and monthly), the coverage
of the 80% and 95% intervals, and seconds per series on one core. The peer is statsforecast's
median of AutoETS, AutoARIMA, DynamicOptimizedTheta and Theta, a strong published reference.
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


def engine_row(panel: Panel, actual: np.ndarray, horizon: int) -> tuple[dict[str, Any], str]:
    started = time.perf_counter()
    engine = ForecastEngine(horizon, levels=LEVELS, n_jobs=1).fit(panel)
    forecast = engine.predict()
    seconds = time.perf_counter() - started
    bounds = {lv: (forecast.lower[lv], forecast.upper[lv]) for lv in LEVELS}
    return score("ENGINE (default)", panel, actual, forecast.mean, bounds, seconds=seconds), (
        engine.selection_.label
    )


def peer_row(panel: Panel, actual: np.ndarray, horizon: int) -> dict[str, Any]:
    """statsforecast's median of AutoETS, AutoARIMA, DynamicOptimizedTheta and Theta."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA, AutoETS, DynamicOptimizedTheta, Theta

    m = panel.season_length
    frame = pd.DataFrame(
        {
            "unique_id": np.repeat(np.array(panel.ids, dtype=object), panel.lengths),
            "ds": np.concatenate([np.arange(1, n + 1) for n in panel.lengths]),
            "y": panel.values,
        }
    )
    models = [
        AutoETS(season_length=m),
        AutoARIMA(season_length=m),
        DynamicOptimizedTheta(season_length=m),
        Theta(season_length=m),
    ]
    names = ["AutoETS", "AutoARIMA", "DynamicOptimizedTheta", "Theta"]
    # Compile numba code before timing: the first call pays a one-off JIT cost.
    warm = frame[frame["unique_id"] == panel.ids[0]]
    StatsForecast(models=models, freq=1, n_jobs=1).forecast(df=warm, h=horizon, level=list(LEVELS))
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = StatsForecast(models=models, freq=1, n_jobs=1).forecast(
            df=frame, h=horizon, level=list(LEVELS)
        )
    seconds = time.perf_counter() - started
    result = result.set_index("unique_id").loc[list(panel.ids)].reset_index()

    def stacked(column: str) -> np.ndarray:
        return np.stack([result[f"{n}{column}"].to_numpy().reshape(-1, horizon) for n in names])

    mean = np.median(stacked(""), axis=0)
    bounds = {
        lv: (np.median(stacked(f"-lo-{lv}"), axis=0), np.median(stacked(f"-hi-{lv}"), axis=0))
        for lv in LEVELS
    }
    name = "PEER statsforecast median(ETS,ARIMA,DOTM,Theta)"
    return score(name, panel, actual, mean, bounds, seconds=seconds)


def run(folder: Path, sets: list[str], slow: bool) -> tuple[dict[str, pd.DataFrame], list[str]]:
    tables: dict[str, pd.DataFrame] = {}
    notes: list[str] = []
    for name in sets:
        horizon = SETS[name]
        panel, actual = load(folder, name)
        rows = zoo_rows(panel, actual, horizon, slow)
        engine, selection = engine_row(panel, actual, horizon)
        rows.append(engine)
        rows.append(peer_row(panel, actual, horizon))
        table = pd.DataFrame(rows)
        baseline = table.set_index("model").loc[BASELINES[panel.freq]]
        table.insert(3, "MASE/naive", table["MASE"] / baseline["MASE"])
        table.insert(4, "sMAPE/naive", table["sMAPE"] / baseline["sMAPE"])
        tables[f"M1 {name}: {panel.n_series} series, horizon {horizon}"] = table.round(3)
        notes.append(f"{name}: engine selected {selection}")
    return tables, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, required=True, help="folder with m1_*_{train,test}.csv"
    )
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--slow", action="store_true", help="also run ARIMA and Prophet alone")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    tables, notes = run(args.data, args.sets, args.slow)
    for title, table in tables.items():
        print(f"\n{title}\n")
        print(table.to_markdown(index=False))
    print("\n" + "\n".join(notes))
    if not args.no_record:
        print("recorded in", record("accuracy", command_line(), tables, "; ".join(notes)))


if __name__ == "__main__":
    main()
