"""Time of the full demo balance (all fields × levels × 10 years, 1,000 joint samples) and of
the decisions made on it.

Stages: ``supply`` (enrollment and rate forecasts, cohort pipeline, rate paths), ``demand``
(hiring/tightness forecasts, survey bias and combination), ``balance`` (gap distribution,
totals, drivers, programme tables — the part that runs after the series forecasts exist),
``warnings`` (employment rules on observed outcomes, quota limits) and ``quotas`` (samples
collected, quota optimisation for every programme with its resampled interval). Best of
``--repeat`` runs, with the number of worker processes given.

    python experiments/benchmarks/balance_timing.py --jobs 2
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from experiments.benchmarks.balance_backtest import demo_data
from experiments.benchmarks.recording import command_line, record
from features.rates import primary_fields
from forecasting.balance import compute_balance
from forecasting.quotas import QuotaSettings, recommend_quotas
from forecasting.rules import Policy, evaluate_rules, quota_limits
from forecasting.scenarios import samples_from_balance
from forecasting.settings import BalanceSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    data = demo_data()
    settings = BalanceSettings(n_jobs=args.jobs)
    programme_fields = primary_fields(data.catalog).to_dict()
    policy = Policy.default()
    runs = []
    for _ in range(args.repeat):
        result = compute_balance(data, settings)
        seconds = dict(result.seconds)
        started = time.perf_counter()
        limits = quota_limits(evaluate_rules(data, policy), data, data.last_year + 1, policy)
        seconds["warnings"] = time.perf_counter() - started
        started = time.perf_counter()
        samples = samples_from_balance(result, data.catalog)
        quotas = recommend_quotas(samples, limits, QuotaSettings(), programme_fields)
        seconds["quotas"] = time.perf_counter() - started
        runs.append({**seconds, "total": sum(seconds.values())})
    frame = pd.DataFrame(runs)
    best = frame.min().to_frame("best seconds").T.round(2)
    cells = result.balance[["field_code", "level"]].drop_duplicates().shape[0]
    tables = {f"Demo balance, {args.jobs} worker processes, {cells} field × level rows": best}
    print(best.to_markdown(index=False))
    if not args.no_record:
        notes = (
            f"best of {args.repeat}; 1,000 samples; 10 years; quotas for {len(quotas)} "
            "programmes (200 scenarios, 8 resamples)"
        )
        print("recorded in", record("balance_timing", command_line(), tables, notes))


if __name__ == "__main__":
    main()
