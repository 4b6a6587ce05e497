"""Vintage accuracy on the demo: train with the data known at the end of 2021, then load the
2022-2025 actuals and score that run's forecasts against them — next to naive forecasts made
at the same time — with :func:`forecasting.accuracy.score_vintages`, the function behind
``GET /api/v1/accuracy`` (tests/serving/test_accuracy.py does the same through the API).

    python experiments/benchmarks/vintage_accuracy.py [--cut 2021]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from data.demo import load_demo_until
from data.ingest import open_store
from experiments.benchmarks.recording import command_line, record
from forecasting.accuracy import ACCURACY_COLUMNS, score_vintages
from forecasting.pipeline import TrainingConfig, train
from forecasting.settings import BalanceSettings


def vintage_accuracy(folder: Path, cut: int, config: TrainingConfig) -> tuple[pd.DataFrame, int]:
    """The accuracy rows (what ``GET /accuracy`` serves) of a run trained at ``cut`` once
    every later actual is stored."""
    store = open_store(f"sqlite:///{folder / 'vintage.db'}")
    try:
        load_demo_until(store, cut)
        run = train(store, config).run
        load_demo_until(store, None)
        return score_vintages(store, [store.run(run.id)]), run.id
    finally:
        store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cut", type=int, default=2021)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    config = TrainingConfig(balance=BalanceSettings(n_jobs=args.jobs), balance_backtest_cuts=0)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        rows, run_id = vintage_accuracy(Path(folder), args.cut, config)
    seconds = time.perf_counter() - started
    columns = [c for c in ACCURACY_COLUMNS if c not in ("run_id", "watermark")]
    overall = rows[rows["field_code"] == "all"].loc[:, columns].round(3)
    fields = rows[(rows["kind"] == "hiring") & (rows["field_code"] != "all")]
    by_field = fields.sort_values("relative").loc[:, columns].round(3)
    print(overall.to_markdown(index=False))
    print(by_field.to_markdown(index=False))
    notes = (
        f"run #{run_id} trained on the demo known at the end of {args.cut}, scored on "
        f"{args.cut + 1}-2025 actuals loaded afterwards; relative = MASE of the run ÷ MASE of "
        f"naive (last value at {args.cut}); {seconds:.0f} s in all"
    )
    print(notes)
    if not args.no_record:
        tables = {"All fields": overall, "Hiring per field": by_field}
        print("recorded in", record("vintage_accuracy", command_line(), tables, notes))


if __name__ == "__main__":
    main()
