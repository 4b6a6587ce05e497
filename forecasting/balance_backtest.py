"""The balance scored against what happened: replay it from a cut year, compare with the gaps
the data then show.

The training pipeline runs this on every retrain (a few cut years before the last observed
one) and records the scores next to two baselines measured on the same cells — persistence
(the last observed demand/supply ratio carried forward) and persistence with a trend (that
ratio moved on by its recent, damped trend) — so that a run says how well *this* method did on
*these* data (experiments/benchmarks/balance_backtest.py runs the same on the demo). The
quality gates refuse to serve a run whose balance loses to a baseline on both ranking and flags
(:func:`forecasting.promotion.check_balance_backtest`).

Every replay reads the store as it was at the end of the cut year (:func:`replay_data`): the
upload that ended that year's knowledge and the catalog in force then, so that values revised
later and programmes mapped later do not leak into the "past". Where the store holds no such
vintage (data loaded in one upload spanning the cut, like the embedded demo) the replay falls
back to today's data cut at that year and says so in its ``vintage`` column. The realised gaps
it is scored on always come from the newest data.

A cut year whose replay inputs (data as read, settings, code) are what an earlier retrain
replayed reuses that replay's balance, kept in the store (:mod:`forecasting.replays`), and is
scored afresh; both demand models of a cut are replayed together, sharing supply and postings
(:func:`~forecasting.balance.compute_balances`).

Scores per cut: direction accuracy (sign of the median gap), rank correlation of the field
ranking by ratio (Spearman, per level and year, averaged), macro-F1 of shortage flags
(P(shortage) > 0.5 vs realised gap > 0), coverage of the gap's 80% interval per cell, and for
the balance also of the city totals (``coverage 80 city``: rows of field ``all``, per level and
over all levels) and of each field's total over its levels (``coverage 80 level``: rows of
level ``all``), each realised total being the sum of the realised cells the total adds up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Final

import numpy as np
import pandas as pd
from scipy import stats

from data.store import Store
from features.talent import Regions, TalentData
from forecasting.balance import TOTAL, compute_balance, realised_balance
from forecasting.executors import Progress, SerialExecutor
from forecasting.metrics import coverage
from forecasting.progress import RunProgress
from forecasting.replays import (
    REPLAYED,
    REUSED,
    CutReplay,
    code_fingerprint,
    keep,
    look_up,
    replay_missing,
)
from forecasting.settings import AUTO_CANDIDATES, BalanceSettings

KEY = ["field_code", "level"]
PERSISTENCE: Final = "persistence"
PERSISTENCE_TREND: Final = "persistence with trend"
#: The trend of persistence with a trend: the mean yearly log change of the ratio over this
#: many years before the cut, damped by this factor per year ahead (0.8: the trend adds
#: 0.8 + 0.64 + ... of a year's change, at most 4 years' worth), because a market's recent
#: tightening rarely continues unchecked.
TREND_YEARS: Final = 3
TREND_DAMPING: Final = 0.8
#: The ``vintage`` of a replay that had to use today's (revised) data.
REVISED: Final = "revised data: no vintage held"
MEASURES: Final = [
    "direction",
    "rank corr",
    "macro-F1",
    "coverage 80",
    "coverage 80 city",
    "coverage 80 level",
]
_ACTUAL = {"supply": "actual_supply", "demand": "actual_demand", "gap": "actual_gap"}


@dataclass(frozen=True)
class Replay:
    """The data a cut year is replayed from, and where they came from (``vintage``)."""

    cut: int
    data: TalentData
    vintage: str
    upload: int | None


def replay_data(
    store: Store, today: TalentData, cut: int, *, as_of: int, city_region: Regions
) -> Replay:
    """The store as it was at the end of ``cut`` (its vintage, :meth:`Store.vintage`), cut at
    ``cut`` again for safety; today's data cut at ``cut`` when the store holds no vintage.

    A vintage counts as held when it already had enrollment through ``cut`` and every kind of
    data that today's cut has: a store whose hiring arrived later in one upload spanning all
    years never knew the cut's hiring, and a replay without it would score nothing.
    """
    revised = today.cut(cut)
    upload = store.vintage(cut, as_of=as_of)
    if upload is not None:
        held = TalentData.from_store(store, as_of=upload, city_region=city_region).cut(cut)
        if _holds(held, revised, cut):
            return Replay(cut, held, f"store as of upload #{upload}", upload)
    return Replay(cut, revised, REVISED, None)


def _holds(held: TalentData, revised: TalentData, cut: int) -> bool:
    if held.enrollment.empty or int(held.enrollment["year"].max()) != cut:
        return False
    names = ("enrollment", "graduates", "outcomes", "hiring", "surveys")
    return all(getattr(held, n).shape[0] > 0 or getattr(revised, n).empty for n in names)


def replay_balance(
    store: Store,
    today: TalentData,
    settings: BalanceSettings,
    cuts: int,
    *,
    as_of: int,
    city_region: Regions,
    progress: RunProgress | None = None,
    code_version: str | None = None,
    on_submit: Callable[[], object] | None = None,
) -> dict[str, Any]:
    """The balance replayed from ``cuts`` cut years (4, 5, ... years before the last observed
    one, so that a few realised years follow) and scored next to both baselines, as run
    metrics: ``balance_backtest`` (rows per cut and method, with the ``vintage`` replayed),
    ``balance_backtest_summary`` (means over the cuts per method), ``balance_backtest_vintages``,
    ``balance_backtest_skipped`` (cut years with too little history, and why) and
    ``balance_backtest_replays`` (per cut year: ``replayed``, ``reused`` or ``skipped``, the
    demand models replayed and reused, and its seconds).

    With ``code_version`` (:func:`forecasting.pipeline.code_version`) a cut year whose replay
    inputs are unchanged since an earlier retrain reuses the balance it replayed then, kept in
    the store (:mod:`forecasting.replays`); without it every cut year is replayed and nothing
    kept. Either way the scores are computed from the replayed balance and today's realised
    one, so reuse changes no number. The replays use at most 500 samples: scores of flags and
    ranks do not need more. ``progress`` counts the replayed balances (one per cut year and
    candidate demand model not reused) as they are done. ``on_submit`` is called as the
    replays are handed to the executor (not at all when every cut year is reused or
    skipped), so that a caller sharing the workers can queue its own tasks behind them.
    """
    if cuts == 0:
        return {}
    last = today.last_year  # first: without enrollment there is nothing to replay
    realised = realised_balance(today, settings.admin_scales)
    rows: list[dict[str, Any]] = []
    vintages: list[dict[str, Any]] = []
    replays: list[dict[str, Any]] = []
    reduced = replace(settings, n_samples=min(settings.n_samples, 500))
    models = AUTO_CANDIDATES if settings.demand_model == "auto" else (settings.demand_model,)
    code = None if code_version is None else code_fingerprint(code_version)
    pending: list[tuple[Replay, pd.DataFrame, CutReplay, float]] = []
    skips: dict[int, str] = {}
    for cut in range(last - 4, last - 4 - cuts, -1):
        started = time.perf_counter()
        try:
            replay = replay_data(store, today, cut, as_of=as_of, city_region=city_region)
            history = realised_balance(replay.data, settings.admin_scales)
            horizon = replace(reduced, horizon=last - cut)
            found = look_up(store, replay.data, cut, horizon, models, code=code)
        except ValueError as error:
            skips[cut] = str(error)
            replays.append(_replay_record(cut, "skipped", (), (), time.perf_counter() - started))
            continue
        pending.append((replay, history, found, time.perf_counter() - started))
    # Each cut year's missing balances are a task of their own on the run's executor (its
    # demand models together, sharing supply and postings), computed serially inside it: a
    # task mapping onto the pool that runs it would wait on itself. A single task keeps the
    # run's executor for its own series instead.
    missing = [(replay, found) for replay, _, found, _ in pending if found.missing]
    parallel = len(missing) > 1
    inner = replace(reduced, n_jobs=1, executor="processes", dask_address=None)
    executor = settings.make_executor() if parallel else SerialExecutor()
    tasks = [
        (
            replay.cut,
            found.data,
            replace(inner if parallel else reduced, horizon=last - replay.cut),
            found.missing,
        )
        for replay, found in missing
    ]
    sizes = [len(found.missing) for _, found in missing]
    if progress is not None:
        progress.count("balances replayed", 0, sum(sizes))
    counted = None if progress is None else _count_replays(progress, sizes)
    if on_submit is not None and tasks:
        on_submit()
    outcomes = dict(
        zip(
            [replay.cut for replay, _ in missing],
            executor.map(replay_missing, tasks, counted),
            strict=True,
        )
    )
    for replay, history, found, looked in pending:
        cut = replay.cut
        started = time.perf_counter()
        outcome = outcomes.get(cut, ({}, 0.0))
        try:
            if isinstance(outcome, ValueError):
                raise outcome
            content, computed = outcome
            balances = keep(store, found, content, computed, code)
            scored = [
                *(score_replayed(cut, balances[m], realised, m) for m in models),
                score_persistence(cut, realised, history),
                score_persistence_trend(cut, realised, history),
            ]
        except ValueError as error:
            skips[cut] = str(error)
            replays.append(_replay_record(cut, "skipped", (), (), looked))
            continue
        seconds = looked + computed + time.perf_counter() - started
        status = REPLAYED if found.missing else REUSED
        reused = tuple(m for m in models if m not in found.missing)
        replays.append(_replay_record(cut, status, found.missing, reused, seconds))
        rows += [{**row, "vintage": replay.vintage} for row in scored]
        vintages.append({"cut": replay.cut, "vintage": replay.vintage, "upload": replay.upload})
    skipped = [f"{cut}: {why}" for cut, why in sorted(skips.items(), reverse=True)]
    replays.sort(key=lambda record: -int(record["cut"]))  # newest cut first, like the rows
    chosen = choose_demand_model(rows, models)
    rows = [_mark_choice(row, chosen) for row in rows]
    table = pd.DataFrame(rows)
    summary: dict[str, dict[str, float | None]] = {}
    if not table.empty:
        means = table.groupby("method")[MEASURES].mean()
        summary = {
            str(method): {k: None if pd.isna(v) else round(float(v), 4) for k, v in row.items()}
            for method, row in means.to_dict(orient="index").items()
        }
    records = table.drop(columns="seconds", errors="ignore")
    records = records.astype(object).where(records.notna(), None)
    return {
        "balance_backtest": records.to_dict(orient="records"),
        "balance_backtest_summary": summary,
        "balance_backtest_vintages": vintages,
        "balance_backtest_skipped": skipped,
        "balance_backtest_replays": replays,
        "demand_model": chosen,
    }


def _replay_record(
    cut: int, status: str, replayed: tuple[str, ...], reused: tuple[str, ...], seconds: float
) -> dict[str, Any]:
    return {
        "cut": cut,
        "status": status,
        "replayed": list(replayed),
        "reused": list(reused),
        "seconds": round(seconds, 3),
    }


def replay_timings(scores: dict[str, Any]) -> dict[str, float]:
    """The seconds of each cut year of :func:`replay_balance`'s metrics ``scores``, as run
    timings under the stage: ``balance_backtest.2021.replayed`` (or ``.reused``, ``.skipped``).
    Replays of several cut years run side by side, so their seconds may add up to more than
    the stage's."""
    return {
        f"balance_backtest.{record['cut']}.{record['status']}": float(record["seconds"])
        for record in scores.get("balance_backtest_replays", [])
    }


def _count_replays(progress: RunProgress, sizes: list[int]) -> Progress:
    """Tasks done as balances replayed (a task replays ``sizes[i]`` demand models)."""
    return lambda done, total: progress.count("balances replayed", sum(sizes[:done]), sum(sizes))


def choose_demand_model(rows: list[dict[str, Any]], models: tuple[str, ...]) -> str:
    """The candidate demand model with the best mean of rank correlation and macro-F1 over
    the replayed cut years (the first candidate when nothing could be scored).

    The gate then reads the chosen candidate's scores on the same cuts: with two candidates
    the choice flatters them a little; the simulated-city benchmark, which never sees the
    choice, is the out-of-sample check.
    """
    scores = {}
    for model in models:
        own = [r for r in rows if r["method"] == _method(model)]
        values = [
            float(np.nanmean([r["rank corr"], r["macro-F1"]]))
            for r in own
            if np.isfinite(r["rank corr"]) or np.isfinite(r["macro-F1"])
        ]
        if values:
            scores[model] = float(np.mean(values))
    return max(scores, key=lambda m: scores[m]) if scores else models[0]


def _method(model: str) -> str:
    return f"balance, {model} demand"


def _mark_choice(row: dict[str, Any], chosen: str) -> dict[str, Any]:
    """Rows of the candidate not chosen are kept as ``candidate, ...`` (not ``balance``, which
    the gate reads)."""
    method = str(row["method"])
    if method.startswith("balance, ") and method != _method(chosen):
        return {**row, "method": "candidate" + method.removeprefix("balance")}
    return row


def persistence(realised: pd.DataFrame, cut: int, years: list[int]) -> pd.DataFrame:
    """Last observed ratio carried forward, with intervals from past h-year ratio changes."""
    return _baseline(realised, cut, years, trend_years=0)


def persistence_with_trend(
    realised: pd.DataFrame,
    cut: int,
    years: list[int],
    trend_years: int = TREND_YEARS,
    damping: float = TREND_DAMPING,
) -> pd.DataFrame:
    """The last observed ratio moved on by its damped trend: log ratio(cut + h) = log ratio(cut)
    + trend × (φ + φ² + ... + φʰ), the trend being the mean yearly log change over the
    ``trend_years`` before the cut (none for a cell without a ratio that long ago), φ =
    ``damping``. Intervals come from the errors the same rule made at earlier origins."""
    if trend_years < 1 or not 0 <= damping <= 1:
        raise ValueError(
            f"trend_years must be ≥ 1 and damping within [0, 1], got {trend_years}, {damping}"
        )
    return _baseline(realised, cut, years, trend_years=trend_years, damping=damping)


def _baseline(
    realised: pd.DataFrame, cut: int, years: list[int], trend_years: int, damping: float = 1.0
) -> pd.DataFrame:
    columns = [*KEY, "year", "ratio", "ratio_lo", "ratio_hi"]
    past = realised[realised["year"] <= cut]
    if not (past["year"] == cut).any():
        return pd.DataFrame(columns=columns)
    logs = np.log(past.pivot_table(index=KEY, columns="year", values="ratio").clip(lower=1e-6))
    logs = logs.reindex(columns=range(int(logs.columns.min()), cut + 1))  # gaps as NaN
    last = past[past["year"] == cut].set_index(KEY)["ratio"]

    def slope(origin: int) -> pd.Series:
        if trend_years == 0 or origin - trend_years not in logs.columns:
            return pd.Series(0.0, index=logs.index)
        return ((logs[origin] - logs[origin - trend_years]) / trend_years).fillna(0.0)

    rows = []
    for year in years:
        h = year - cut
        steps = h if damping == 1.0 else sum(damping**k for k in range(1, h + 1))
        errors = [
            logs[origin + h] - logs[origin] - slope(origin) * steps
            for origin in logs.columns
            if origin + h <= cut and (trend_years == 0 or origin - trend_years in logs.columns)
        ]
        pooled = pd.concat(errors).to_numpy() if errors else np.array([])
        pooled = pooled[np.isfinite(pooled)]
        low, high = np.quantile(pooled, [0.1, 0.9]) if pooled.size >= 10 else (-np.inf, np.inf)
        moved = np.exp(slope(cut) * steps)
        for (field_code, level), ratio in last.items():
            centre = ratio * moved[(field_code, level)]
            rows.append(
                {
                    "field_code": field_code,
                    "level": level,
                    "year": year,
                    "ratio": centre,
                    # Too few past changes give an unbounded interval (even around a zero ratio).
                    "ratio_lo": centre * np.exp(low) if np.isfinite(low) else 0.0,
                    "ratio_hi": centre * np.exp(high) if np.isfinite(high) else np.inf,
                }
            )
    return pd.DataFrame(rows, columns=columns)


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
    """The balance computed from ``data`` as known at the end of ``cut``, scored on
    ``realised`` (the newest data's observed balance)."""
    started = time.perf_counter()
    result = compute_balance(data.cut(cut), settings)
    seconds = time.perf_counter() - started
    scored = score_replayed(cut, result.balance, realised, settings.resolved_demand_model)
    return {**scored, "seconds": seconds}


def score_replayed(
    cut: int, balance: pd.DataFrame, realised: pd.DataFrame, model: str
) -> dict[str, object]:
    """A balance replayed from ``cut`` with demand model ``model`` (its rows of forecast years
    at least), scored on ``realised`` (the newest data's observed balance)."""
    last = int(realised["year"].max())
    years = [int(y) for y in balance["year"].unique() if cut < y <= last]
    balance = balance[balance["year"].isin(years)]
    cells = (balance["field_code"] != TOTAL) & (balance["level"] != TOTAL)
    truth = realised[realised["year"].isin(years)].rename(
        columns={**_ACTUAL, "ratio": "actual_ratio"}
    )
    engine = balance[cells].merge(truth, on=[*KEY, "year"], how="inner")
    short = (engine["actual_gap"] > 0).to_numpy()
    inside = coverage(
        engine["actual_gap"].to_numpy(dtype=float),
        engine["gap_p10"].to_numpy(dtype=float),
        engine["gap_p90"].to_numpy(dtype=float),
    )
    totals = total_coverage(balance[~cells], balance[cells], truth)
    return {
        "cut": cut,
        "method": _method(model),
        "cells": len(engine),
        "direction": float(np.mean((engine["gap_p50"] > 0).to_numpy() == short)),
        "rank corr": mean_rank_correlation(engine, "ratio_p50", "actual_ratio"),
        "macro-F1": macro_f1((engine["p_shortage"] > 0.5).to_numpy(), short),
        "coverage 80": float(inside),
        **totals,
        "seconds": 0.0,
    }


def total_coverage(
    totals: pd.DataFrame, cells: pd.DataFrame, truth: pd.DataFrame
) -> dict[str, float]:
    """Share of total rows whose realised gap lies in their 80% interval: ``coverage 80 city``
    over rows of field ``all``, ``coverage 80 level`` over a field's rows of level ``all``.

    A total's realised gap is the sum of the realised gaps of the cells the forecast total adds
    up; a total with any of those cells unrealised that year is not scored (NaN if none is).
    """
    realised = cells.loc[:, [*KEY, "year"]].merge(truth, on=[*KEY, "year"], how="left")
    scored: dict[str, list[tuple[float, float, float]]] = {
        "coverage 80 city": [],
        "coverage 80 level": [],
    }
    for row in totals.itertuples(index=False):
        part = realised[realised["year"] == row.year]
        if row.field_code != TOTAL:
            part = part[part["field_code"] == row.field_code]
        if row.level != TOTAL:
            part = part[part["level"] == row.level]
        if part.empty or part["actual_gap"].isna().any():
            continue
        actual = float(part["actual_gap"].sum())
        name = "coverage 80 city" if row.field_code == TOTAL else "coverage 80 level"
        scored[name].append((actual, row.gap_p10, row.gap_p90))
    # Columns of (actual, lower, upper): one row of steps per kind of total.
    return {
        name: float(coverage(*np.array(rows, dtype=float).T)) if rows else float("nan")
        for name, rows in scored.items()
    }


def score_persistence(
    cut: int, realised: pd.DataFrame, history: pd.DataFrame | None = None
) -> dict[str, object]:
    """Persistence from ``history`` (the balance observed as known at the cut; default
    ``realised``), scored on ``realised``."""
    return _score_baseline(cut, realised, history, PERSISTENCE)


def score_persistence_trend(
    cut: int, realised: pd.DataFrame, history: pd.DataFrame | None = None
) -> dict[str, object]:
    """Persistence with a trend, as :func:`score_persistence`."""
    return _score_baseline(cut, realised, history, PERSISTENCE_TREND)


def _score_baseline(
    cut: int, realised: pd.DataFrame, history: pd.DataFrame | None, method: str
) -> dict[str, object]:
    years = list(range(cut + 1, int(realised["year"].max()) + 1))
    truth = realised[realised["year"].isin(years)].rename(
        columns={**_ACTUAL, "ratio": "actual_ratio"}
    )
    source = realised if history is None else history
    rule = persistence if method == PERSISTENCE else persistence_with_trend
    base = rule(source, cut, years).merge(truth, on=[*KEY, "year"], how="inner")
    base_short = (base["actual_ratio"] > 1).to_numpy()
    base_inside = coverage(
        base["actual_ratio"].to_numpy(dtype=float),
        base["ratio_lo"].to_numpy(dtype=float),
        base["ratio_hi"].to_numpy(dtype=float),
    )
    return {
        "cut": cut,
        "method": method,
        "cells": len(base),
        "direction": float(np.mean((base["ratio"] > 1).to_numpy() == base_short)),
        "rank corr": mean_rank_correlation(base, "ratio", "actual_ratio"),
        "macro-F1": macro_f1((base["ratio"] > 1).to_numpy(), base_short),
        "coverage 80": float(base_inside),
        "coverage 80 city": float("nan"),
        "coverage 80 level": float("nan"),
        "seconds": 0.0,
    }
