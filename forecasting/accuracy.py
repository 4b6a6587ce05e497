"""Vintages scored: how each past run's forecasts did against the actuals that came later.

Every run keeps its forecasts (a *vintage*). Once later data arrive, each forecast of a year
after the run's last observed year is compared with what was then observed, next to the naive
forecast made at the same time — the last value each series had as of the run's data
watermark, read from the store "as of" that upload. Errors are scaled as in MASE by each
series' in-sample naive error at that time, so series of any size pool together.

Per run, series kind (``enrollment`` per programme, ``hiring`` per field and level) and field:
the number of forecasts scored, the realised MASE of the run and of naive, their ratio, the
bias, the coverage of the 80% and 95% intervals (where the run had them), and a *drift* flag
when the realised error exceeds the run's own backtest error by more than a set margin — the
sign that the world has moved away from what the models learned.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import numpy as np
import pandas as pd

from data.store import Store
from data.store.runs import RunRecord
from data.store.tables import RunStatus
from data.vocabulary import DEFAULT_CITY_REGION
from features.rates import primary_fields
from features.talent import KEY_SEPARATOR, TalentData, programme_keys
from forecasting.balance import TOTAL
from forecasting.metrics import coverage, mase, naive_scale, scaled_bias

KINDS: Final = ("enrollment", "hiring")
ACCURACY_COLUMNS: Final = (
    "run_id",
    "watermark",
    "kind",
    "field_code",
    "first_year",
    "last_year",
    "forecasts",
    "mase",
    "mase_naive",
    "relative",
    "bias",
    "coverage_80",
    "coverage_95",
    "backtest_mase",
    "drift",
)


def score_vintages(
    store: Store,
    runs: Iterable[RunRecord],
    *,
    drift_margin: float = 0.5,
    city_region: str = DEFAULT_CITY_REGION,
) -> pd.DataFrame:
    """One row per run × kind × field (and ``all`` fields) with realised errors; runs whose
    forecasts no actual has reached yet give no rows."""
    runs = [run for run in runs if run.status is RunStatus.SUCCEEDED]
    if not runs:
        return _empty()
    current = TalentData.from_store(store, city_region=city_region)
    actual = _series_values(current)
    fields = primary_fields(current.catalog)
    parts = []
    for run in runs:
        then = TalentData.from_store(store, as_of=run.watermark, city_region=city_region)
        scored = _score_run(store, run, then, actual)
        if scored.empty:
            continue
        scored["field_code"] = np.where(
            scored["kind"] == "enrollment",
            scored["series_id"].map(fields).fillna("other"),
            scored["series_id"].str.split(KEY_SEPARATOR).str[0],
        )
        parts.append(_summarise(run, scored, drift_margin))
    if not parts:
        return _empty()
    return pd.concat(parts, ignore_index=True).loc[:, list(ACCURACY_COLUMNS)]


def _series_values(data: TalentData) -> pd.DataFrame:
    """Yearly values per kind and series: enrollment per programme, hiring per field|level."""
    enrollment = data.enrollment.dropna(subset=["enrolled"])
    intake = (
        pd.DataFrame(
            {
                "kind": "enrollment",
                "series_id": list(programme_keys(enrollment)),
                "year": enrollment["year"].astype(int).to_numpy(),
                "value": enrollment["enrolled"].astype(float).to_numpy(),
            }
        )
        .groupby(["kind", "series_id", "year"], as_index=False)["value"]
        .sum()
    )
    annual = data.annual_hiring()
    hiring = pd.DataFrame(
        {
            "kind": "hiring",
            "series_id": (annual["field_code"] + KEY_SEPARATOR + annual["level"]).to_numpy(),
            "year": annual["year"].astype(int).to_numpy(),
            "value": annual["postings"].astype(float).to_numpy(),
        }
    )
    return pd.concat([intake, hiring], ignore_index=True)


def _score_run(
    store: Store, run: RunRecord, then: TalentData, actual: pd.DataFrame
) -> pd.DataFrame:
    last = int(run.metrics.get("last_observed_year", then.last_year))
    forecasts = _yearly_forecasts(store.run_output(run.id, "forecasts"))
    forecasts = forecasts[forecasts["year"] > last]
    truth = actual.rename(columns={"value": "actual"})
    rows = forecasts.merge(truth, on=["kind", "series_id", "year"], how="inner")
    if rows.empty:
        return rows
    history = _series_values(then)
    history = history[history["year"] <= last].sort_values("year")
    grouped = history.groupby(["kind", "series_id"])["value"]
    naive = grouped.last().rename("naive")
    scale = grouped.apply(_naive_scale).rename("scale")
    rows = rows.join(naive, on=["kind", "series_id"]).join(scale, on=["kind", "series_id"])
    return rows.dropna(subset=["naive", "scale"])


def _yearly_forecasts(frame: pd.DataFrame) -> pd.DataFrame:
    """Yearly forecasts of the scored kinds; monthly hiring forecasts are summed to years
    (their intervals are not additive, so those rows have none)."""
    frame = frame[frame["kind"].isin(KINDS)]
    period = frame["period"].astype(str)
    yearly = frame[period.str.len() == 4].assign(year=lambda f: f["period"].astype(int))
    monthly = frame[period.str.len() == 7]
    if not monthly.empty:
        summed = (
            monthly.assign(year=monthly["period"].str[:4].astype(int))
            .groupby(["kind", "series_id", "year"], as_index=False)
            .agg(forecast=("forecast", "sum"), months=("forecast", "size"))
        )
        summed = summed[summed["months"] == 12].drop(columns="months")
        yearly = pd.concat([yearly, summed], ignore_index=True)
    columns = ["kind", "series_id", "year", "forecast", "lo_80", "hi_80", "lo_95", "hi_95"]
    return yearly.reindex(columns=columns)


def _naive_scale(values: pd.Series) -> float:
    """Mean absolute year-on-year change up to the run's last year (the MASE denominator); a
    series with fewer than two values, or a flat one, has none."""
    return naive_scale(values.to_numpy(dtype=float), 1, fallback=False)


def _summarise(run: RunRecord, rows: pd.DataFrame, drift_margin: float) -> pd.DataFrame:
    # Each scored forecast is a row of one step: the metrics give its own scaled error, and
    # the groups below pool those (every forecast counts once, whatever its series).
    actual = rows["actual"].to_numpy(dtype=float)[:, None]
    forecast = rows["forecast"].to_numpy(dtype=float)[:, None]
    scale = rows["scale"].to_numpy(dtype=float)
    rows = rows.assign(
        error=scaled_bias(actual, forecast, scale),
        abs_error=mase(actual, forecast, scale),
        naive_error=mase(actual, rows["naive"].to_numpy(dtype=float)[:, None], scale),
        inside_80=_inside(rows, 80),
        inside_95=_inside(rows, 95),
    )
    backtest = {
        str(row["kind"]).removesuffix("_monthly"): row.get("mase")
        for row in run.metrics.get("backtest", [])
        if row.get("model") == "selected"
    }
    out = []
    by_field = list(rows.groupby(["kind", "field_code"]))
    overall = [((kind, TOTAL), group) for kind, group in rows.groupby("kind")]
    groups = by_field + overall
    for (kind, field_code), group in groups:
        realised = float(group["abs_error"].mean())
        naive = float(group["naive_error"].mean())
        reference = backtest.get(str(kind))
        out.append(
            {
                "run_id": run.id,
                "watermark": run.watermark,
                "kind": kind,
                "field_code": field_code,
                "first_year": int(group["year"].min()),
                "last_year": int(group["year"].max()),
                "forecasts": len(group),
                "mase": realised,
                "mase_naive": naive,
                "relative": realised / naive if naive > 0 else np.nan,
                "bias": float(group["error"].mean()),
                "coverage_80": float(group["inside_80"].mean()),
                "coverage_95": float(group["inside_95"].mean()),
                "backtest_mase": reference,
                "drift": bool(reference is not None and realised > reference * (1 + drift_margin)),
            }
        )
    return pd.DataFrame(out)


def _inside(rows: pd.DataFrame, level: int) -> pd.Series:
    """Whether each forecast's ``level``% interval held its actual (1/0); NaN where the run
    had no interval (summed monthly forecasts), so that those rows are not scored."""
    low, high = rows[f"lo_{level}"], rows[f"hi_{level}"]
    inside = coverage(
        rows["actual"].to_numpy(dtype=float)[:, None],
        low.to_numpy(dtype=float)[:, None],
        high.to_numpy(dtype=float)[:, None],
    )
    return pd.Series(inside, index=rows.index).where(low.notna() & high.notna())


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=list(ACCURACY_COLUMNS))


def accuracy_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (NaN becomes None)."""
    plain = frame.astype(object).where(frame.notna(), None)
    return [dict(row) for row in plain.to_dict(orient="records")]
