"""How the engine's defaults were chosen, using the M1 *training* halves only.

For each set and each candidate variant, the engine is fitted twice:

- on the whole training half: its backtest score (OWA-style, 1.0 = naive) is what selection
  optimises, and the time per series is the cost of the choice;
- on the training half without its last ``horizon`` values ("inner holdout"), scored on those
  values: MASE, sMAPE and interval coverage out of sample, without touching the test halves.

    python experiments/benchmarks/engine_choices.py --data DIR

where DIR holds the M1 series as ``m1_*_{train,test}.csv``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.benchmarks.recording import command_line, record
from features.panel import Panel
from forecasting.engine import DEFAULT_CANDIDATES, ForecastEngine
from forecasting.metrics import coverage, mase, naive_scale, smape

SETS = {"yearly": ("Y", 6), "quarterly": ("Q", 8), "monthly": ("M", 18)}


def variants(freq: str, slow: bool) -> dict[str, dict[str, Any]]:
    default = list(DEFAULT_CANDIDATES[freq])
    without_lgbm = [m for m in default if m != "lightgbm"]
    horizon = dict(SETS.values())[freq]
    options: dict[str, dict[str, Any]] = {
        "default (2 windows, step h/2, near windows, 2 nearest origins)": {},
        "step h/3": {"step": max(1, horizon // 3)},
        "3 windows": {"windows": 3},
        "without near windows": {"near_windows": False},
        "calibrate on all windows pooled": {"nearest_origins": None},
        "recent scale (last 2h changes)": {"scale_window": 2 * horizon},
        "without lightgbm": {"models": without_lgbm},
    }
    for extra in ("dotm", "auto_theta", "auto_ets", "auto_ces"):
        if extra not in default:
            options[f"+ {extra}"] = {"models": [*default, extra]}
    if "theta" in default:
        options["dotm for theta"] = {"models": [m if m != "theta" else "dotm" for m in default]}
    if slow:
        options["+ arima"] = {"models": [*default, "arima"]}
        if freq != "Y":
            options["+ prophet"] = {"models": [*default, "prophet"]}
    return options


def evaluate(panel: Panel, horizon: int, settings: dict[str, Any], n_jobs: int) -> dict[str, Any]:
    started = time.perf_counter()
    engine = ForecastEngine(horizon, n_jobs=n_jobs, **settings).fit(panel)
    seconds = time.perf_counter() - started
    inner, kept = panel.drop_last(horizon, min_length=3)
    actual = np.stack([panel.series(int(p))[-horizon:] for p in kept])
    inner_engine = ForecastEngine(horizon, n_jobs=n_jobs, **settings).fit(inner)
    forecast = inner_engine.predict()
    scales = np.array([naive_scale(y, panel.season_length) for _, y in inner])
    return {
        "backtest score": engine.selection_.score,
        "selected": engine.selection_.label,
        "ms/series (wall)": 1000 * seconds / panel.n_series,
        "inner MASE": float(np.mean(mase(actual, forecast.mean, scales))),
        "inner sMAPE": float(np.mean(smape(actual, forecast.mean))),
        "inner cov80": float(np.mean(coverage(actual, forecast.lower[80], forecast.upper[80]))),
        "inner cov95": float(np.mean(coverage(actual, forecast.lower[95], forecast.upper[95]))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--slow", action="store_true", help="also try ARIMA and Prophet")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    tables = {}
    for name in args.sets:
        freq, horizon = SETS[name]
        train = pd.read_csv(args.data / f"m1_{name}_train.csv", dtype={"period": str})
        panel = Panel.from_frame(train)
        rows = []
        for label, settings in variants(freq, args.slow).items():
            row = {"variant": label, **evaluate(panel, horizon, settings, args.jobs)}
            print(json.dumps({"set": name, **row}, default=str), flush=True)
            rows.append(row)
        tables[f"M1 {name} (training half only)"] = pd.DataFrame(rows).round(3)
    for title, table in tables.items():
        print(f"\n{title}\n")
        print(table.to_markdown(index=False))
    if not args.no_record:
        notes = f"wall time with {args.jobs} worker processes"
        print("recorded in", record("engine_choices", command_line(), tables, notes))


if __name__ == "__main__":
    main()
