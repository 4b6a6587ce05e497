"""Local statistical members against their statsforecast counterparts on the M1 series.

Each registered local member is paired with the statsforecast model that implements the same
method (:mod:`models.statsforecast_local`); both fit the training halves of M1 yearly (h = 6),
quarterly (h = 8) and monthly (h = 18) in the same run and forecast the test halves. Reported:
MASE and sMAPE (per series, then averaged; also as a ratio to the naive forecast of the run,
seasonal naive for Q/M), coverage of the 80% and 95% intervals as the models give them (no
calibration), fit-and-predict milliseconds per series on one core, and the share of series
that got the naive fallback (too short for the model, or it failed). A second table gives the
paired difference counterpart − member of MASE and sMAPE with two standard errors of the mean
per-series difference: a difference inside ±2 SE is noise on these series.

Pairs (what is compared with what):

- ses, holt, damped: statsforecast ETS(A,N,N), ETS(A,A,N), ETS(A,Ad,N) on the same M4-style
  seasonally adjusted series (classical decomposition after the 90% autocorrelation test), so
  only the smoothing implementation differs;
- holt_winters: statsforecast ETS(Z,Ad,Z) selected by AICc (additive or multiplicative error and
  season; the season may be dropped), ETS(A,Ad,N) where no seasonal model fits;
- theta: statsforecast's standard Theta with its own seasonality test and multiplicative
  decomposition (the same recipe);
- arima: statsforecast AutoARIMA (``auto.arima``).

Unpaired rows: the other statsforecast families registered (auto_ets, dotm, auto_theta,
auto_ces). Members whose registry name already points to the statsforecast model are run once.

The hand-written ARIMA fits up to a dozen statsmodels state-space models per series (seconds per
monthly series), so the ARIMA pair runs on every k-th series of each set (:data:`SAMPLED`),
both sides on the same series; its ratios to naive are to naive on those series.

    python experiments/benchmarks/members.py --data DIR

where DIR holds the M1 series as ``m1_*_{train,test}.csv``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.benchmarks.accuracy import LEVELS, SETS, load
from experiments.benchmarks.recording import command_line, record
from features.panel import Panel
from forecasting.engine import BASELINES
from forecasting.metrics import coverage, mase, naive_scale, smape
from models import statsforecast_local as sf
from models.base import Forecaster
from models.registry import REGISTRY, create


@dataclass(frozen=True)
class Pair:
    """A registered member and the statsforecast model implementing the same method."""

    member: str
    counterpart: str
    make: Callable[[], Forecaster]


PAIRS: tuple[Pair, ...] = (
    Pair("ses", "sf ETS(A,N,N) M4-adjusted", sf.SimpleSmoothing),
    Pair("holt", "sf ETS(A,A,N) M4-adjusted", sf.HoltLinear),
    Pair("damped", "sf ETS(A,Ad,N) M4-adjusted", sf.DampedTrend),
    Pair("holt_winters", "sf ETS(Z,Ad,Z)", sf.SeasonalDamped),
    Pair("theta", "sf Theta", sf.StandardTheta),
    Pair("arima", "sf AutoARIMA", sf.AutoARIMAModel),
)
LIBRARY_ONLY: tuple[str, ...] = ("auto_ets", "dotm", "auto_theta", "auto_ces")
#: Members run on every k-th series only, with their counterpart: k per set.
SAMPLED: dict[str, dict[str, int]] = {"arima": {"yearly": 6, "quarterly": 10, "monthly": 40}}


@cache
def _data(folder: Path, name: str) -> tuple[Panel, np.ndarray]:
    return load(folder, name)


def _is_library(model: Forecaster) -> bool:
    return isinstance(model, sf.StatsforecastModel)


def _tasks(sets: list[str]) -> list[tuple[str, str]]:
    """(set, row label) for every model to run; a label is a registry name or a counterpart."""
    tasks = []
    for name in sets:
        freq = {"yearly": "Y", "quarterly": "Q", "monthly": "M"}[name]
        labels = [BASELINES[freq]]
        for pair in PAIRS:
            if freq not in REGISTRY[pair.member].family.frequencies:
                continue
            labels.append(pair.member)
            if not _is_library(create(pair.member)):
                labels.append(pair.counterpart)
        labels += [label for label in LIBRARY_ONLY if freq in REGISTRY[label].family.frequencies]
        tasks += [(name, label) for label in labels]
    # The slowest first, so that parallel workers finish together.
    return sorted(tasks, key=lambda task: _member(task[1]) not in SAMPLED)


def _member(label: str) -> str:
    """The member a row belongs to (itself, or the member a counterpart is paired with)."""
    return next((pair.member for pair in PAIRS if label == pair.counterpart), label)


def _positions(name: str, label: str, n_series: int) -> np.ndarray:
    step = SAMPLED.get(_member(label), {}).get(name, 1)
    return np.arange(0, n_series, step)


def _model(label: str) -> Forecaster:
    for pair in PAIRS:
        if label == pair.counterpart:
            return pair.make()
    return create(label)


def run_one(folder: Path, name: str, label: str) -> dict[str, Any]:
    """Fit ``label`` on the training halves of set ``name``; per-series errors and the time."""
    panel, actual = _data(folder, name)
    positions = _positions(name, label, panel.n_series)
    if len(positions) < panel.n_series:
        panel, actual = panel.take(positions), actual[positions]
    model = _model(label)
    started = time.perf_counter()
    forecast = model.fit(panel).predict(SETS[name], LEVELS)
    seconds = time.perf_counter() - started
    scales = np.array([naive_scale(y, panel.season_length) for _, y in panel])
    return {
        "set": name,
        "model": label,
        "kind": "statsforecast" if _is_library(model) else "hand-written",
        "positions": positions,
        "mase": mase(actual, forecast.mean, scales),
        "smape": smape(actual, forecast.mean),
        **{
            f"cov{level}": coverage(actual, forecast.lower[level], forecast.upper[level])
            for level in LEVELS
        },
        "ms/series": 1000 * seconds / panel.n_series,
        "fallback %": 100 * len(forecast.fallback) / panel.n_series,
    }


def _run_one(args: tuple[Path, str, str]) -> dict[str, Any]:
    result = run_one(*args)
    print(f"{args[1]} {args[2]}: {result['ms/series']:.0f} ms/series", flush=True)
    return result


def _difference(a: np.ndarray, b: np.ndarray) -> str:
    """Mean of b − a over series, ± two standard errors."""
    diff = b - a
    se = float(np.std(diff, ddof=1) / np.sqrt(len(diff)))
    return f"{np.mean(diff):+.3f} ± {2 * se:.3f}"


def tables(results: list[dict[str, Any]], sets: list[str]) -> dict[str, pd.DataFrame]:
    out: dict[str, pd.DataFrame] = {}
    for name in sets:
        rows = {r["model"]: r for r in results if r["set"] == name}
        freq = {"yearly": "Y", "quarterly": "Q", "monthly": "M"}[name]
        baseline = rows[BASELINES[freq]]
        summary = pd.DataFrame(
            [
                {
                    "model": label,
                    "kind": r["kind"],
                    "MASE": float(np.mean(r["mase"])),
                    "sMAPE": float(np.mean(r["smape"])),
                    "series": len(r["positions"]),
                    "MASE/naive": float(
                        np.mean(r["mase"]) / np.mean(baseline["mase"][r["positions"]])
                    ),
                    "sMAPE/naive": float(
                        np.mean(r["smape"]) / np.mean(baseline["smape"][r["positions"]])
                    ),
                    **{f"cov{lv}": float(np.mean(r[f"cov{lv}"])) for lv in LEVELS},
                    "ms/series": r["ms/series"],
                    "fallback %": r["fallback %"],
                }
                for label, r in rows.items()
            ]
        )
        n_series = len(baseline["mase"])
        horizon = SETS[name]
        out[f"M1 {name}: {n_series} series, horizon {horizon}"] = summary.round(3)
        paired = [
            {
                "member": pair.member,
                "counterpart": pair.counterpart,
                "ΔMASE (counterpart − member)": _difference(
                    rows[pair.member]["mase"], rows[pair.counterpart]["mase"]
                ),
                "ΔsMAPE (counterpart − member)": _difference(
                    rows[pair.member]["smape"], rows[pair.counterpart]["smape"]
                ),
            }
            for pair in PAIRS
            if pair.member in rows and pair.counterpart in rows
        ]
        if paired:
            out[f"M1 {name}: paired differences, mean ± 2 SE over series"] = pd.DataFrame(paired)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, required=True, help="folder with m1_*_{train,test}.csv"
    )
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--jobs", type=int, default=1, help="models run in parallel (1 per core)")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    tasks = [(args.data, name, label) for name, label in _tasks(args.sets)]
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            results = list(pool.map(_run_one, tasks, chunksize=1))
    else:
        results = [_run_one(task) for task in tasks]
    found = tables(results, args.sets)
    for title, table in found.items():
        print(f"\n{title}\n")
        print(table.to_markdown(index=False))
    notes = (
        "fit and predict of each model on one core (runs in parallel with --jobs); intervals "
        "as the models give them, before the engine's calibration"
    )
    if not args.no_record:
        print("recorded in", record("members", command_line(), found, notes))


if __name__ == "__main__":
    main()
