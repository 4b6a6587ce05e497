"""Policy evaluation: quotas decided with the data to a cut year, scored on what then happened.

With only the demo data known at the end of 2019 (and again at 2020 and 2021, when the demo's
low-placement programmes have had time to trip the employment rules), three quota policies are
set for the next intake: (a) status quo (every programme keeps its last intake), (b) the
employment rules alone (status quo capped by the rules' limits), (c) the optimiser (balance
samples at the cut, rules as hard constraints). Each is scored on the realised mismatch in each
programme's graduation year (up to 2025, the last year of data): the realised supply is moved
by what each programme's extra or missing entrants would have added (its realised completion
and outcome rates), and compared with the realised demand (annual postings). Costs use the
optimiser's weights (the catalog's per field: Tianjin's are shortage 3/2/1.5 by tier, surplus 1).

    python experiments/benchmarks/quota_policy.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from experiments.benchmarks.balance_backtest import demo_data
from experiments.benchmarks.recording import command_line, record
from features.rates import primary_fields
from features.talent import TalentData, programme_keys
from forecasting.balance import compute_balance, realised_balance
from forecasting.quotas import QuotaSettings, recommend_quotas
from forecasting.rules import Policy, evaluate_rules, quota_limits
from forecasting.scenarios import samples_from_balance
from forecasting.settings import BalanceSettings


def realised_effect(data: TalentData, intake_year: int) -> pd.DataFrame:
    """Supply added per entrant of ``intake_year`` of each programme in its graduation year:
    completion × placed share × in-field share × local share, all as realised."""
    enrollment = data.enrollment.assign(key=programme_keys(data.enrollment)).set_index(
        ["key", "year"]
    )["enrolled"]
    outcomes = data.outcomes.assign(key=programme_keys(data.outcomes)).set_index(["key", "year"])
    durations = data.catalog.programmes.assign(
        key=programme_keys(data.catalog.programmes)
    ).set_index("key")["duration_years"]
    rows = []
    for key, duration in durations.items():
        graduation = intake_year + int(duration)
        entrants = enrollment.get((key, intake_year), np.nan)
        if (key, graduation) not in outcomes.index or not entrants or pd.isna(entrants):
            continue
        row = outcomes.loc[(key, graduation)]
        placed = float(row["placed"])
        if placed <= 0 or pd.isna(row["employed_in_field"]) or pd.isna(row["employed_locally"]):
            continue
        per_entrant = (
            float(row["employed_in_field"])
            * float(row["employed_locally"])
            / (placed * float(entrants))
        )
        rows.append((key, graduation, float(entrants), per_entrant))
    return pd.DataFrame(rows, columns=["key", "graduation_year", "actual_intake", "per_entrant"])


def mismatch(
    quotas: pd.Series,
    effect: pd.DataFrame,
    realised: pd.DataFrame,
    crosswalk: pd.DataFrame,
    costs: dict[str, tuple[float, float]],
) -> dict[str, float]:
    """Shortage and surplus (persons and cost) in the graduation years under ``quotas``."""
    crosswalk = crosswalk.assign(key=programme_keys(crosswalk))
    moved = effect.merge(crosswalk, on="key")
    moved["delta"] = (
        (moved["key"].map(quotas).fillna(moved["actual_intake"]) - moved["actual_intake"])
        * moved["per_entrant"]
        * moved["weight"]
    )
    shift = moved.groupby(["field_code", "level", "graduation_year"])["delta"].sum()
    cells = realised[realised["year"].isin(effect["graduation_year"].unique())].copy()
    index = list(zip(cells["field_code"], cells["level"], cells["year"], strict=True))
    cells["supply"] = cells["supply"].to_numpy() + shift.reindex(index).fillna(0).to_numpy()
    gap = cells["demand"] - cells["supply"]
    shortage_w = cells["field_code"].map(lambda f: costs.get(f, (0.0, 0.0))[0])
    surplus_w = cells["field_code"].map(lambda f: costs.get(f, (0.0, 0.0))[1])
    short, surplus = gap.clip(lower=0), (-gap).clip(lower=0)
    return {
        "shortage persons": float(short.sum()),
        "surplus persons": float(surplus.sum()),
        "mismatch persons": float(short.sum() + surplus.sum()),
        "weighted cost": float((short * shortage_w + surplus * surplus_w).sum()),
    }


def evaluate(data: TalentData, cut: int, jobs: int) -> tuple[pd.DataFrame, str]:
    """The three policies decided with data to ``cut`` for the next intake, and their scores."""
    known = data.cut(cut)
    intake_year = cut + 1
    costs = data.catalog.costs()

    started = time.perf_counter()
    balance = compute_balance(known, BalanceSettings(n_jobs=jobs))
    balanced = time.perf_counter()
    samples = samples_from_balance(balance, data.catalog)
    policy = Policy.default()
    warnings = evaluate_rules(known, policy)
    limits = quota_limits(warnings, known, intake_year, policy)
    optimised = recommend_quotas(
        samples, limits, QuotaSettings(), primary_fields(known.catalog).to_dict()
    )
    decided = time.perf_counter()

    current = pd.Series(samples.current_quota, index=list(samples.programmes))
    current = current[current > 0]
    limit = limits.assign(key=programme_keys(limits)).set_index("key")["max_quota"]
    rules_only = np.minimum(current, limit.reindex(current.index).fillna(np.inf))
    chosen = optimised.assign(key=programme_keys(optimised)).set_index("key")["recommended_quota"]

    effect = realised_effect(data, intake_year)
    realised = realised_balance(data)
    rows = []
    for name, quotas in (
        ("status quo (last intake)", current),
        ("employment rules alone", rules_only),
        ("optimiser (balance + rules)", chosen),
    ):
        scores = mismatch(quotas, effect, realised, data.catalog.crosswalk, costs)
        rows.append({"cut": cut, "policy": name, **scores})
    table = pd.DataFrame(rows).round(1)
    base = table.iloc[0]
    for column in ("mismatch persons", "weighted cost"):
        table[f"{column} vs status quo"] = (table[column] / base[column]).round(3)
    changed = int((chosen.reindex(current.index) - current).abs().gt(0.5).sum())
    years = sorted(int(y) for y in effect["graduation_year"].unique())
    notes = (
        f"cut {cut}: {intake_year} intake scored in graduation years {years[0]}-{years[-1]} "
        f"({len(effect)} programmes with realised outcomes); {len(current)} programmes, "
        f"{changed} changed by the optimiser, {int((limits['max_quota'] == 0).sum())} stopped and "
        f"{int((limits['max_quota'] > 0).sum())} capped by rules; balance "
        f"{balanced - started:.1f} s, warnings + quotas {decided - balanced:.1f} s"
    )
    return table, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cut", type=int, action="append", help="default: 2019, 2020, 2021")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    data = demo_data()
    tables: dict[str, pd.DataFrame] = {}
    notes = []
    for cut in args.cut or [2019, 2020, 2021]:
        table, note = evaluate(data, cut, args.jobs)
        print(table.to_markdown(index=False))
        print(note)
        tables[f"Realised mismatch in the graduation years of the {cut + 1} intake"] = table
        notes.append(note)
    if not args.no_record:
        print("recorded in", record("quota_policy", command_line(), tables, "; ".join(notes)))


if __name__ == "__main__":
    main()
