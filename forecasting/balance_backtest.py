"""The balance scored against what happened: replay it from a cut year, compare with the gaps
the data then show.

The training pipeline runs this on every retrain (a few cut years before the last observed
one) and records the scores next to persistence — the last observed demand/supply ratio
carried forward — measured on the same cells, so that a run says how well *this* method did on
*these* data (experiments/benchmarks/balance_backtest.py runs the same on the demo).

Scores per cut: direction accuracy (sign of the median gap), rank correlation of the field
ranking by ratio (Spearman, per level and year, averaged), macro-F1 of shortage flags
(P(shortage) > 0.5 vs realised gap > 0) and coverage of the gap's 80% interval.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from scipy import stats

from features.talent import TalentData
from forecasting.balance import compute_balance
from forecasting.settings import BalanceSettings

KEY = ["field_code", "level"]


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


def score_balance(
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


def score_persistence(cut: int, realised: pd.DataFrame) -> dict[str, object]:
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
