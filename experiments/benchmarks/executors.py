"""Seconds of the balance backtest's replays on each executor, and as they ran before they were
tasks of their own.

The demo's balance is replayed from ``--cuts`` cut years with both candidate demand models (at
most 500 samples, as a run's backtest does) three ways, in turn, ``--repeat`` times, so that
the load of a shared machine falls on each of them alike:

- ``one after another``: each replayed balance in turn, its series batches on the process pool
  (how the backtest ran before its replays became tasks: the baseline);
- ``processes``: each replayed balance a task on the process pool, computed serially inside;
- ``dask``: the same tasks on a local Dask cluster of ``--jobs`` workers, started and closed by
  the run (its start-up is counted).

Each way also records the rank correlation and macro-F1 it scored: they are the same on every
way, or the executors do not compute the same thing.

    python experiments/benchmarks/executors.py --jobs 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from data.demo import load_demo
from data.ingest import open_store
from data.store import Store
from data.vocabulary import DEFAULT_CITY_REGION
from experiments.benchmarks.recording import publish
from features.talent import TalentData
from forecasting.balance import realised_balance
from forecasting.balance_backtest import replay_balance, score_balance
from forecasting.executors import run_executor
from forecasting.settings import AUTO_CANDIDATES, BalanceSettings

WAYS = ("one after another", "processes", "dask")


def one_after_another(data: TalentData, settings: BalanceSettings, cuts: int) -> list[float]:
    """The replayed balances' scores, each balance computed in turn on the process pool."""
    realised = realised_balance(data, settings.admin_scales)
    last = data.last_year
    reduced = replace(settings, n_samples=min(settings.n_samples, 500))
    scores: list[float] = []
    with run_executor(settings.n_jobs):
        for cut in range(last - 4, last - 4 - cuts, -1):
            for model in AUTO_CANDIDATES:
                horizon = replace(reduced, horizon=last - cut, demand_model=model)
                row = score_balance(cut, data.cut(cut), realised, horizon)
                scores += [cast(float, row["rank corr"]), cast(float, row["macro-F1"])]
    return scores


def as_tasks(store: Store, data: TalentData, settings: BalanceSettings, cuts: int) -> list[float]:
    """The same scores from the run's backtest, each replayed balance a task."""
    with settings.shared_executor():
        metrics = replay_balance(
            store, data, settings, cuts, as_of=store.watermark(), city_region=DEFAULT_CITY_REGION
        )
    rows: list[dict[str, Any]] = metrics["balance_backtest"]
    replayed = [r for r in rows if str(r["method"]).endswith("demand")]
    order = {model: i for i, model in enumerate(AUTO_CANDIDATES)}
    replayed.sort(
        key=lambda r: (
            -int(r["cut"]),
            order[str(r["method"]).split(", ")[1].removesuffix(" demand")],
        )
    )
    return [float(v) for r in replayed for v in (r["rank corr"], r["macro-F1"])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--cuts", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(f"sqlite:///{Path(folder) / 'store.db'}")
        try:
            load_demo(store)
            data = TalentData.from_store(store)
            scores: dict[str, list[float]] = {}
            for repeat in range(args.repeat):
                for way in WAYS:
                    kind = "dask" if way == "dask" else "processes"
                    settings = BalanceSettings(n_jobs=args.jobs, executor=kind)
                    started = time.perf_counter()
                    if way == "one after another":
                        scores[way] = one_after_another(data, settings, args.cuts)
                    else:
                        scores[way] = as_tasks(store, data, settings, args.cuts)
                    seconds = time.perf_counter() - started
                    rows.append({"repeat": repeat + 1, "way": way, "seconds": seconds})
        finally:
            store.dispose()
    table = pd.DataFrame(rows)
    summary = table.groupby("way", sort=False)["seconds"].median().to_frame("median seconds")
    summary["vs one after another"] = summary["median seconds"] / summary.loc[WAYS[0]].iloc[0]
    summary = summary.reset_index().round(3)
    same = all(np.array_equal(scores[way], scores[WAYS[0]], equal_nan=True) for way in WAYS)
    notes = [
        f"{args.cuts} cut years × {len(AUTO_CANDIDATES)} demand models, 500 samples, "
        f"{args.jobs} workers, {args.repeat} round(s) taking the ways in turn",
        f"scores identical on every way: {same}",
    ]
    publish(
        "executors",
        {"Balance backtest replays, seconds": summary, "Each round": table.round(2)},
        notes,
        save=not args.no_record,
    )


if __name__ == "__main__":
    main()
