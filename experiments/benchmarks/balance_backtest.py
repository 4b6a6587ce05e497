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
- coverage of the 80% interval of the gap, per cell and of the city and field totals.

The baselines, measured in the same run, are persistence: the last observed ratio
demand/supply carried forward (its 80% interval from the spread of past changes of the ratio
over the same number of years), and persistence with a trend (that ratio moved on by its
damped recent trend, see forecasting/balance_backtest.py).

    python experiments/benchmarks/balance_backtest.py
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import pandas as pd

from data.catalog import load_default_catalog
from data.demo import generate
from data.vocabulary import Kind
from experiments.benchmarks.recording import command_line, record
from features.talent import TalentData
from forecasting.balance import realised_balance
from forecasting.balance_backtest import (
    MEASURES,
    score_balance,
    score_persistence,
    score_persistence_trend,
)
from forecasting.settings import DEMAND_MODELS, BalanceSettings

KEY = ["field_code", "level"]


def demo_data() -> TalentData:
    demo = generate(load_default_catalog())
    frames = {kind: demo.observations(kind) for kind in Kind}
    return TalentData.from_observations(load_default_catalog(), frames)


def score(
    cut: int, data: TalentData, realised: pd.DataFrame, settings: BalanceSettings
) -> list[dict[str, object]]:
    rows = [
        score_balance(cut, data, realised, replace(settings, demand_model=model))
        for model in DEMAND_MODELS
        if model != "auto"
    ]
    # The baselines start from the balance as it was known at the cut (scales estimated from
    # the data of then), like the balance itself: the newest scales would tell them the future.
    history = realised_balance(data.cut(cut))
    return [
        *rows,
        score_persistence(cut, realised, history),
        score_persistence_trend(cut, realised, history),
    ]


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
    summary = detail.groupby("method", as_index=False)[MEASURES].mean()
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
