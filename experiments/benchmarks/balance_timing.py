"""Time of the full demo balance (all fields × levels × 10 years, 1,000 joint samples).

Stages: ``supply`` (enrollment and rate forecasts, cohort pipeline, rate paths), ``demand``
(hiring/tightness forecasts, survey bias and combination) and ``balance`` (gap distribution,
totals, drivers, programme tables — the part that runs after the series forecasts exist).
Best of ``--repeat`` runs, with the number of worker processes given.

    python experiments/benchmarks/balance_timing.py --jobs 2
"""

from __future__ import annotations

import argparse

import pandas as pd

from experiments.benchmarks.balance_backtest import demo_data
from experiments.benchmarks.recording import command_line, record
from forecasting.balance import compute_balance
from forecasting.settings import BalanceSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    data = demo_data()
    settings = BalanceSettings(n_jobs=args.jobs)
    runs = []
    for _ in range(args.repeat):
        result = compute_balance(data, settings)
        runs.append({**result.seconds, "total": sum(result.seconds.values())})
    frame = pd.DataFrame(runs)
    best = frame.min().to_frame("best seconds").T.round(2)
    cells = result.balance[["field_code", "level"]].drop_duplicates().shape[0]
    tables = {f"Demo balance, {args.jobs} worker processes, {cells} field × level rows": best}
    print(best.to_markdown(index=False))
    if not args.no_record:
        notes = f"best of {args.repeat}; 1,000 samples; 10 years"
        print("recorded in", record("balance_timing", command_line(), tables, notes))


if __name__ == "__main__":
    main()
