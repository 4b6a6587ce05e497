"""Backtest of the talent balance on the demo data: would it have called the shortages?

For each cut year (2019, 2020, 2021) the balance sees only what was known at the end of that
year (enrollment, graduates and outcomes up to it, hiring up to its December, surveys filed by
then), forecasts the gaps of the following years, and is scored against the gaps the data then
show (realised demand: annual postings; realised supply: placed × in-field share × local share
per programme through the crosswalk). Per cut and overall:

- direction accuracy: the sign of the forecast median gap equals the realised sign;
- rank correlation: Spearman correlation of the field ranking by demand/supply ratio with the
  realised one, per level and year, averaged;
- macro-F1 of shortage flags (P(shortage) > 0.5 vs realised gap > 0, both classes);
- coverage of the 80% interval of the gap.

The baseline, measured in the same run, is persistence: the last observed ratio
demand/supply carried forward (its 80% interval from the spread of past changes of the ratio
over the same number of years).

    python experiments/benchmarks/balance_backtest.py
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import pandas as pd
from scipy import stats

from data.catalog import load_default_catalog
from data.demo import generate
from data.vocabulary import Kind
from experiments.benchmarks.recording import command_line, record
from features.talent import TalentData
from forecasting.balance import compute_balance, realised_balance
from forecasting.settings import DEMAND_MODELS, BalanceSettings

KEY = ["field_code", "level"]


def demo_data() -> TalentData:
    demo = generate(load_default_catalog())
    frames = {kind: demo.observations(kind) for kind in Kind}
    return TalentData.from_observations(load_default_catalog(), frames)


def persistence(realised: pd.DataFrame, cut: int, years: list[int]) -> pd.DataFrame:
    """Last observed ratio carried forward, with intervals from past h-year ratio changes."""
    past = realised[realised["year"] <= cut]
    last = past[past["year"] == cut].set_index(KEY)["ratio"]
    logs = np.log(past.pivot_table(index=KEY, columns="year", values="ratio").clip(lower=1e-6))
    rows = []
    for year in years:
        h = year - cut
        changes = (logs.shift(-h, axis=1) - logs).to_numpy().ravel()
        changes = changes[np.isfinite(changes)]
        low, high = np.quantile(changes, [0.1, 0.9]) if changes.size >= 10 else (-np.inf, np.inf)
        for (field_code, level), ratio in last.items():
            rows.append(
                {
                    "field_code": field_code,
                    "level": level,
                    "year": year,
                    "ratio": ratio,
                    "ratio_lo": ratio * np.exp(low),
                    "ratio_hi": ratio * np.exp(high),
                }
            )
    return pd.DataFrame(rows)


def macro_f1(predicted: np.ndarray, actual: np.ndarray) -> float:
    scores = []
    for positive in (True, False):
        tp = np.sum((predicted == positive) & (actual == positive))
        fp = np.sum((predicted == positive) & (actual != positive))
        fn = np.sum((predicted != positive) & (actual == positive))
        scores.append(2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else 1.0)
    return float(np.mean(scores))


def mean_rank_correlation(frame: pd.DataFrame, forecast: str, actual: str) -> float:
    values = []
    for _, group in frame.groupby(["level", "year"]):
        if len(group) >= 4 and group[actual].nunique() > 1 and group[forecast].nunique() > 1:
            values.append(stats.spearmanr(group[forecast], group[actual]).statistic)
    return float(np.mean(values)) if values else float("nan")


def score(
    cut: int, data: TalentData, realised: pd.DataFrame, settings: BalanceSettings
) -> list[dict[str, object]]:
    rows = [
        _score_model(cut, data, realised, replace(settings, demand_model=model))
        for model in DEMAND_MODELS
    ]
    return [*rows, _score_persistence(cut, realised)]


def _score_model(
    cut: int, data: TalentData, realised: pd.DataFrame, settings: BalanceSettings
) -> dict[str, object]:
    started = time.perf_counter()
    result = compute_balance(data.cut(cut), settings)
    seconds = time.perf_counter() - started
    last = int(realised["year"].max())
    years = [int(y) for y in result.balance["year"].unique() if cut < y <= last]
    forecast = result.balance[
        result.balance["year"].isin(years)
        & (result.balance["field_code"] != "all")
        & (result.balance["level"] != "all")
    ]
    truth = realised[realised["year"].isin(years)].rename(
        columns={
            "supply": "actual_supply",
            "demand": "actual_demand",
            "gap": "actual_gap",
            "ratio": "actual_ratio",
        }
    )
    engine = forecast.merge(truth, on=[*KEY, "year"], how="inner")
    short = (engine["actual_gap"] > 0).to_numpy()
    inside = (engine["actual_gap"] >= engine["gap_p10"]) & (
        engine["actual_gap"] <= engine["gap_p90"]
    )
    default = " (default)" if settings.demand_model == BalanceSettings().demand_model else ""
    return {
        "cut": cut,
        "method": f"balance, {settings.demand_model} demand{default}",
        "cells": len(engine),
        "direction": float(np.mean((engine["gap_p50"] > 0).to_numpy() == short)),
        "rank corr": mean_rank_correlation(engine, "ratio_p50", "actual_ratio"),
        "macro-F1": macro_f1((engine["p_shortage"] > 0.5).to_numpy(), short),
        "coverage 80": float(np.mean(inside)),
        "seconds": seconds,
    }


def _score_persistence(cut: int, realised: pd.DataFrame) -> dict[str, object]:
    years = list(range(cut + 1, int(realised["year"].max()) + 1))
    truth = realised[realised["year"].isin(years)].rename(
        columns={
            "supply": "actual_supply",
            "demand": "actual_demand",
            "gap": "actual_gap",
            "ratio": "actual_ratio",
        }
    )
    base = persistence(realised, cut, years).merge(truth, on=[*KEY, "year"], how="inner")
    base_short = (base["actual_ratio"] > 1).to_numpy()
    base_inside = (base["actual_ratio"] >= base["ratio_lo"]) & (
        base["actual_ratio"] <= base["ratio_hi"]
    )
    return {
        "cut": cut,
        "method": "persistence",
        "cells": len(base),
        "direction": float(np.mean((base["ratio"] > 1).to_numpy() == base_short)),
        "rank corr": mean_rank_correlation(base, "ratio", "actual_ratio"),
        "macro-F1": macro_f1((base["ratio"] > 1).to_numpy(), base_short),
        "coverage 80": float(np.mean(base_inside)),
        "seconds": 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cuts", nargs="+", type=int, default=[2019, 2020, 2021])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    data = demo_data()
    realised = realised_balance(data)
    settings = BalanceSettings(n_samples=args.samples, n_jobs=args.jobs)
    rows = [row for cut in args.cuts for row in score(cut, data, realised, settings)]
    detail = pd.DataFrame(rows)
    summary = detail.groupby("method", as_index=False)[
        ["direction", "rank corr", "macro-F1", "coverage 80"]
    ].mean()
    tables = {"Per cut year": detail.round(3), "Mean over cut years": summary.round(3)}
    for title, table in tables.items():
        print(f"\n{title}\n")
        print(table.to_markdown(index=False))
    if not args.no_record:
        notes = (
            "demo data; cells = field × level × year after the cut with realised supply and "
            "demand; rank corr per level and year over fields"
        )
        print("recorded in", record("balance_backtest", command_line(), tables, notes))


if __name__ == "__main__":
    main()
