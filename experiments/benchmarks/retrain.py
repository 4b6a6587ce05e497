"""Time of a full retrain of the demo: every series, backtests, balance, balance backtest,
warnings, recommendations, stored outputs and the MLflow record.

A fresh SQLite store gets the demo; one retrain runs with the production defaults (10 years,
1,000 samples, three balance-backtest cuts, quota optimisation with 200 scenarios and 8
resamples) on ``--jobs`` worker processes — local ones, or with ``--executor dask`` a local
Dask cluster of that many workers started for the run — logged to a fresh MLflow SQLite store.
The target is under three minutes on two cores.

    python experiments/benchmarks/retrain.py --jobs 2
    python experiments/benchmarks/retrain.py --jobs 2 --executor dask
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from data.demo import load_demo
from data.ingest import open_store
from experiments.benchmarks.recording import command_line, record
from experiments.tracking import MlflowTracker
from forecasting.executors import EXECUTORS
from forecasting.pipeline import STAGES, TrainingConfig, train
from forecasting.settings import BalanceSettings

TARGET_SECONDS = 180.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--executor", choices=EXECUTORS, default="processes")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(f"sqlite:///{Path(folder) / 'store.db'}")
        tracker = MlflowTracker(f"sqlite:///{Path(folder) / 'mlflow.db'}", f"{folder}/artifacts")
        try:
            load_demo(store)
            balance = BalanceSettings(n_jobs=args.jobs, executor=args.executor)
            config = TrainingConfig(balance=balance)
            started = time.perf_counter()
            result = train(store, config, tracker=tracker)
            total = time.perf_counter() - started
        finally:
            store.dispose()
    timings = {stage: result.run.timings.get(stage, 0.0) for stage in STAGES}
    timings["store + MLflow"] = total - sum(timings.values())
    table = pd.DataFrame([{**timings, "total": total}]).round(1)
    verdict = "met" if total < TARGET_SECONDS else "MISSED"
    notes = (
        f"run served: {result.promoted}; gates: {'passed' if result.gates.passed else 'failed'}; "
        f"target < {TARGET_SECONDS:.0f} s {verdict}; {args.jobs} worker processes "
        f"({args.executor})"
    )
    print(table.to_markdown(index=False))
    print(notes)
    if not args.no_record:
        tables = {"Full demo retrain, seconds per stage": table}
        print("recorded in", record("retrain", command_line(), tables, notes))


if __name__ == "__main__":
    main()
