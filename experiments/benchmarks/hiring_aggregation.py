"""Annual hiring demand: forecast the monthly series and sum, or forecast yearly totals directly?

Demand in the balance is annual (new-graduate openings per field, level and year), while hiring
arrives monthly. On the demo's monthly hiring series (with their Spring-Festival dips, COVID
shock and missing months), for several forecast origins (end of 2019, 2020, 2021, 2022), this
script forecasts the next three calendar years both ways with the default engine and scores the
annual totals against what the data then show. The approach with the lower error is the one the
demand model uses (recorded in the results file).

    python experiments/benchmarks/hiring_aggregation.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from data.catalog import load_default_catalog
from data.demo import generate
from experiments.benchmarks.recording import command_line, record
from features.panel import Panel
from forecasting.engine import ForecastEngine
from forecasting.metrics import coverage, mase, naive_scale, smape

YEARS_AHEAD = 3
LEVELS = (80, 95)


def monthly_hiring() -> pd.DataFrame:
    """Demo postings per (field, level) and month, after corrections (as the store holds them)."""
    hiring = generate(load_default_catalog()).observations("hiring")
    hiring = hiring[hiring["period"].str.len() == 7]
    frame = hiring.assign(series_id=hiring["field_code"] + "/" + hiring["level"])
    return frame.loc[:, ["series_id", "period", "postings"]].rename(columns={"postings": "value"})


def annual(frame: pd.DataFrame) -> pd.DataFrame:
    """Calendar-year totals of complete years (12 months present after interpolation)."""
    panel = Panel.from_frame(frame, gaps="interpolate")
    long = panel.to_frame()
    long["year"] = long["period"].str[:4]
    totals = long.groupby(["series_id", "year"])["value"].agg(["sum", "size"]).reset_index()
    totals = totals[totals["size"] == 12]
    return totals.rename(columns={"year": "period", "sum": "value"}).drop(columns="size")


def run(origins: list[int]) -> pd.DataFrame:
    monthly = monthly_hiring()
    yearly = annual(monthly)
    truth = yearly.pivot(index="series_id", columns="period", values="value")
    rows = []
    for origin in origins:
        target_years = [str(origin + k) for k in range(1, YEARS_AHEAD + 1)]
        cut_m = monthly[monthly["period"] <= f"{origin}-12"]
        cut_y = yearly[yearly["period"] <= str(origin)]
        # Series with a complete history of at least 3 years before the origin, and actuals.
        eligible = sorted(
            set(cut_y.groupby("series_id").size().loc[lambda s: s >= 3].index)
            & set(truth.dropna(subset=target_years).index)
        )
        cut_m = cut_m[cut_m["series_id"].isin(eligible)]
        cut_y = cut_y[cut_y["series_id"].isin(eligible)]
        actual = truth.loc[eligible, target_years].to_numpy(dtype=float)
        annual_panel = Panel.from_frame(cut_y)
        scales = np.array([naive_scale(y, 1) for _, y in annual_panel])

        started = time.perf_counter()
        direct = ForecastEngine(YEARS_AHEAD, levels=LEVELS).fit(annual_panel)
        direct_forecast = direct.predict()
        direct_seconds = time.perf_counter() - started

        started = time.perf_counter()
        monthly_panel = Panel.from_frame(cut_m, gaps="interpolate")
        summed = ForecastEngine(12 * YEARS_AHEAD, levels=LEVELS).fit(monthly_panel)
        monthly_forecast = summed.predict()
        monthly_seconds = time.perf_counter() - started
        order = [monthly_panel.ids.index(series_id) for series_id in annual_panel.ids]
        sums = monthly_forecast.mean[order].reshape(len(order), YEARS_AHEAD, 12).sum(axis=2)
        # Bounds of a sum are not sums of bounds; summing them assumes errors move together,
        # which gives the widest (most cautious) interval of the sum.
        sum_bounds = {
            level: (
                monthly_forecast.lower[level][order].reshape(-1, YEARS_AHEAD, 12).sum(axis=2),
                monthly_forecast.upper[level][order].reshape(-1, YEARS_AHEAD, 12).sum(axis=2),
            )
            for level in LEVELS
        }
        for approach, point, bounds, seconds, selection in (
            (
                "direct yearly",
                direct_forecast.mean,
                {lv: (direct_forecast.lower[lv], direct_forecast.upper[lv]) for lv in LEVELS},
                direct_seconds,
                direct.selection_.label,
            ),
            ("monthly, summed", sums, sum_bounds, monthly_seconds, summed.selection_.label),
        ):
            row = {
                "origin": origin,
                "series": len(eligible),
                "approach": approach,
                "MASE": float(np.mean(mase(actual, point, scales))),
                "sMAPE": float(np.mean(smape(actual, point))),
            }
            for level in LEVELS:
                row[f"cov{level}"] = float(np.mean(coverage(actual, *bounds[level])))
            row["seconds"] = seconds
            row["selected"] = selection
            rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--origins", nargs="+", type=int, default=[2019, 2020, 2021, 2022])
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    detail = run(args.origins)
    summary = (
        detail.groupby("approach")[["MASE", "sMAPE", "cov80", "cov95", "seconds"]]
        .mean()
        .reset_index()
    )
    winner = summary.sort_values("MASE").iloc[0]["approach"]
    by_origin = detail.loc[detail.groupby("origin")["MASE"].idxmin(), ["origin", "approach"]]
    tables = {"Per origin": detail.round(3), "Mean over origins": summary.round(3)}
    for title, table in tables.items():
        print(f"\n{title}\n")
        print(table.to_markdown(index=False))
    per_origin = ", ".join(f"{o}: {a}" for o, a in by_origin.itertuples(index=False))
    note = (
        f"lower mean MASE: {winner}; lower MASE per origin: {per_origin} (hiring data start in "
        "2016, so the 2019 and 2020 origins have 4-5 complete years: too few for a yearly "
        "backtest window)"
    )
    print("\n" + note)
    if not args.no_record:
        print("recorded in", record("hiring_aggregation", command_line(), tables, note))


if __name__ == "__main__":
    main()
