"""Demand: openings for new graduates per field, level and year, in persons.

1. **Postings.** Annual postings per field and level are forecast with the engine on the log
   scale (:mod:`forecasting.counts`), as joint sample paths. With enough complete years the
   yearly totals are forecast directly; with fewer, the monthly series are forecast and
   summed per year (the better of the two in each regime, see
   experiments/benchmarks/hiring_aggregation.py).
2. **Openings.** Postings are not openings: each field posts an opening k_f times on average.
   Every sample divides the postings path by a draw of its field's scale k_f from the
   posterior of :mod:`forecasting.scales` (hires, the market-clearing evidence in outcome
   rates, or the admin's figure), so demand is in persons and carries the scale's
   uncertainty. The history of demand is postings ÷ the median scale.
3. **Surveys.** Associations state needs for future years, and they are biased (an industry
   lobbying for places overstates; a cautious one understates). Each association's bias per
   field is learned from its past surveys whose target year has since happened — the log ratio
   of stated need to realised openings, on the same scale — shrunk toward the association's
   overall bias when it has few surveys for that field (and that toward no bias when the
   association itself has few), and removed from its current surveys.
4. **Combination.** For each field, level and year with corrected surveys, the postings-based
   sample and the surveys are averaged in log space with precision weights, sample by sample.
   A survey is never credited with more precision than its own past accuracy supports, the
   surveys of a cell together carry at most MAX_SURVEY_SHARE of the weight, and a survey far
   outside the forecast's range counts less the further out it lies; years beyond the
   surveys' reach keep the last surveyed year's adjustment. A run whose large moves come
   from a few new rows waits for an admin (:mod:`forecasting.changes`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.vocabulary import ALL_LEVELS
from features.panel import Panel
from features.talent import KEY_SEPARATOR, TalentData
from forecasting.counts import VALUE_COLUMNS, fit_counts, frame_in_counts, sample_counts
from forecasting.engine import ForecastEngine, backtest_report
from forecasting.fits import fitted
from forecasting.joint import JointDraws
from forecasting.progress import RunProgress, fitting
from forecasting.scales import ScaleEstimate
from forecasting.settings import BalanceSettings
from forecasting.supply import SupplyResult, concat_reports, forecast_frame

#: Below this typical yearly supply (persons) a cell's demand is forecast directly, not as
#: tightness: a ratio over a handful of graduates swings wildly from year to year.
MIN_TIGHTNESS_SUPPLY = 20.0

#: Smallest residual spread (log scale) credited to an association: nobody forecasts a
#: field's openings years ahead better than ±15% (and a spread of zero would let one survey
#: override everything).
MIN_SURVEY_SD = 0.15
#: Spread assumed for an association's surveys before its track record shows otherwise, and
#: how many scored surveys that assumption is worth.
PRIOR_SURVEY_SD = 0.4
PRIOR_SURVEY_WEIGHT = 4.0
#: Largest share of a cell's precision that surveys together may have.
MAX_SURVEY_SHARE = 0.75
#: A survey this many standard deviations from the postings forecast starts to be discounted.
SURVEY_CONFLICT_Z = 3.0
#: Whether years beyond the surveys' reach keep the last surveyed year's adjustment.
CARRY_SURVEY_ADJUSTMENT = True
#: Central share (percent) of a cell's postings samples whose survey adjustments bound the
#: adjustment carried beyond the surveys' reach (see :func:`_carry_forward`).
CARRY_CENTRAL = 98.0


@dataclass(frozen=True)
class DemandResult:
    """Demand samples in openings, shape (samples, fields, levels, years), from postings
    alone (``hiring``) and combined with surveys (``combined``); ``log_scales`` (samples,
    fields of the supply's order) the log postings-per-opening drawn per sample.

    ``observed`` marks (field, level) cells with hiring data: cells without any have no
    demand estimate and are left out of the balance.
    """

    years: np.ndarray
    hiring: np.ndarray
    combined: np.ndarray
    observed: np.ndarray
    survey_bias: pd.DataFrame
    forecasts: pd.DataFrame
    history: pd.DataFrame
    approach: str
    log_scales: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    scales: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    #: The engines' backtest reports (:func:`forecasting.engine.backtest_report`) by kind.
    backtests: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)


@dataclass(frozen=True)
class Postings:
    """Postings sample paths per field and level, forecast directly (not as tightness):
    (samples, fields, levels, years) in ``paths``, ``observed`` the cells with hiring data.

    Every demand model starts from them, and they do not depend on the model, so a caller
    computing several models on the same data forecasts them once (:func:`forecast_postings`).
    """

    paths: np.ndarray
    observed: np.ndarray
    forecasts: pd.DataFrame
    approach: str
    reports: tuple[pd.DataFrame, ...]


def forecast_postings(
    data: TalentData,
    settings: BalanceSettings,
    supply: SupplyResult,
    *,
    joint: JointDraws | None = None,
    progress: RunProgress | None = None,
) -> Postings:
    """Annual postings sample paths for the years after ``data.last_year`` (monthly series
    summed while there are few complete years of hiring, see the module's docstring)."""
    fields, levels = supply.fields, supply.levels
    years = np.arange(data.last_year + 1, data.last_year + settings.horizon + 1)
    hiring_history = data.annual_hiring()
    reports: list[pd.DataFrame] = []
    hiring = np.zeros((settings.n_samples, len(fields), len(levels), len(years)))
    observed = np.zeros((len(fields), len(levels)), dtype=bool)
    if hiring_history.empty:
        return Postings(hiring, observed, pd.DataFrame(), "none", ())
    complete_years = int(hiring_history.groupby(["field_code", "level"])["year"].nunique().median())
    monthly = (
        complete_years < settings.monthly_hiring_below_years
        and (data.hiring["period"].str.len() == 7).any()
    )
    paths, ids, forecasts = (
        _monthly_paths(data, years, settings, reports, joint, progress=progress)
        if monthly
        else _yearly_paths(data, years, settings, reports, joint, progress=progress)
    )
    field_index = {f: i for i, f in enumerate(fields)}
    level_index = {lv: i for i, lv in enumerate(levels)}
    for column, series_id in enumerate(ids):
        field, level = series_id.split(KEY_SEPARATOR)
        if field in field_index and level in level_index:
            hiring[:, field_index[field], level_index[level], :] = paths[:, column, :]
            observed[field_index[field], level_index[level]] = True
    approach = "monthly forecasts summed" if monthly else "yearly totals"
    return Postings(hiring, observed, forecasts, approach, tuple(reports))


def forecast_demand(
    data: TalentData,
    settings: BalanceSettings,
    supply: SupplyResult,
    scales: ScaleEstimate,
    log_scales: np.ndarray,
    *,
    joint: JointDraws | None = None,
    progress: RunProgress | None = None,
    postings: Postings | None = None,
) -> DemandResult:
    """Joint demand samples (openings) for the years after ``data.last_year``.

    ``settings.resolved_demand_model`` picks how postings are forecast: ``direct`` forecasts
    the annual postings themselves; ``tightness`` forecasts the ratio of postings to supply
    and multiplies it by the business-as-usual supply sample; ``combined`` averages the two
    in log space, sample by sample. ``log_scales`` (samples, fields) are draws of each
    field's log postings per opening (:meth:`ScaleEstimate.draw`). Demand is computed once, at
    business-as-usual supply, and then held fixed: a quota scenario changes supply, not the
    openings industry will post. ``joint`` shares backtest origins with supply's engines.
    ``postings`` are :func:`forecast_postings` of the same data, settings and supply when the
    caller has them already (they are forecast here otherwise).
    """
    fields, levels = supply.fields, supply.levels
    years = np.arange(data.last_year + 1, data.last_year + settings.horizon + 1)
    hiring_history = data.annual_hiring()
    postings_history = hiring_history.rename(columns={"postings": "demand"})
    history = hiring_history.assign(demand=scales.openings(hiring_history))
    if postings is None:
        postings = forecast_postings(data, settings, supply, joint=joint, progress=progress)
    reports = list(postings.reports)
    hiring, observed = postings.paths, postings.observed
    forecasts, approach = postings.forecasts, postings.approach
    if settings.resolved_demand_model != "direct" and not history.empty:
        tight, tight_observed, tight_forecasts = _tightness_paths(
            postings_history, supply, settings, reports, joint, progress=progress
        )
        both = observed & tight_observed
        if settings.resolved_demand_model == "tightness":
            hiring = np.where(tight_observed[None, :, :, None], tight, hiring)
        else:
            mixed = np.exp(
                0.5 * np.log(np.maximum(hiring, 1.0)) + 0.5 * np.log(np.maximum(tight, 1.0))
            )
            hiring = np.where(both[None, :, :, None], mixed, hiring)
        forecasts = pd.concat([forecasts, tight_forecasts], ignore_index=True)
        approach += f" + {settings.resolved_demand_model}"
    log_scales = log_scales[:, [scales.fields.index(f) for f in fields]]
    openings = hiring / np.exp(log_scales)[:, :, None, None]
    bias = survey_bias(data, history, settings.survey_prior_strength)
    combined = _combine_with_surveys(
        openings, data.surveys, bias, years=years, fields=fields, levels=levels, seed=settings.seed
    )
    return DemandResult(
        years,
        openings,
        combined,
        observed,
        bias,
        forecasts,
        history,
        approach + ", in openings",
        log_scales=log_scales,
        scales=scales.table(),
        backtests=concat_reports(reports),
    )


def _tightness_paths(
    history: pd.DataFrame,
    supply: SupplyResult,
    settings: BalanceSettings,
    reports: list[pd.DataFrame],
    joint: JointDraws | None = None,
    *,
    progress: RunProgress | None = None,
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Demand as forecast tightness (postings ÷ supply) times the supply sample.

    The log ratio per field and level is forecast with the engine; its sample paths multiply
    the supply sample paths of the same sample index, so demand inherits supply's uncertainty
    and the gap (= supply × (ratio − 1)) the ratio's.
    """
    realised = realised_tightness(history, supply.history)
    shape = supply.by_field_level.shape
    paths = np.zeros(shape)
    observed = np.zeros(shape[1:3], dtype=bool)
    if realised.empty:
        return paths, observed, pd.DataFrame()
    panel = tightness_panel(realised)
    last = int(supply.years[0]) - 1
    lags = [max(last - period.year, 0) for period in panel.last_periods()]
    horizon = len(supply.years)
    # Log ratios sit around zero, where sMAPE is unstable: select on scaled errors.
    steps = horizon + max(lags)
    engine = fitted(
        "tightness",
        panel,
        steps,
        lambda: ForecastEngine(
            steps,
            n_jobs=settings.n_jobs,
            executor=settings.make_executor(),
            non_negative=False,
            score="mase",
        ).fit(panel, fitting(progress, "tightness", panel)),
    )
    reports.append(backtest_report("tightness", engine))
    samples = engine.sample(settings.n_samples, seed=settings.seed + 4, joint=joint)
    field_index = {f: i for i, f in enumerate(supply.fields)}
    level_index = {lv: i for i, lv in enumerate(supply.levels)}
    typical_supply = realised.groupby(["field_code", "level"])["supply"].median()
    for column, (series_id, lag) in enumerate(zip(panel.ids, lags, strict=True)):
        field, level = series_id.split(KEY_SEPARATOR)
        if typical_supply[(field, level)] < MIN_TIGHTNESS_SUPPLY:
            continue  # a ratio over a handful of graduates is noise: direct demand instead
        f, lv = field_index[field], level_index[level]
        # Keep sampled tightness within 3× of the range ever observed: beyond the backtest
        # horizon the paths grow like a random walk, and exp() of a wild log ratio is not a
        # demand anyone should plan on.
        history_values = panel.series(column)
        low, high = history_values.min() - np.log(3), history_values.max() + np.log(3)
        ratio = np.exp(np.clip(samples[:, column, lag : lag + horizon], low, high))
        paths[:, f, lv, :] = ratio * supply.by_field_level[:, f, lv, :]
        observed[f, lv] = True
    frame = forecast_frame("tightness", engine.predict(), engine.selection_.label)
    for column_name in VALUE_COLUMNS:
        frame[column_name] = np.exp(frame[column_name].to_numpy())
    return paths, observed, frame


def realised_tightness(postings: pd.DataFrame, supply_history: pd.DataFrame) -> pd.DataFrame:
    """Field, level and year rows with both postings (column ``demand``) and realised supply
    positive: the years a tightness ratio exists for."""
    realised = supply_history.merge(postings, on=["field_code", "level", "year"], how="inner")
    return realised[(realised["supply"] > 0) & (realised["demand"] > 0)]


def tightness_panel(realised: pd.DataFrame) -> Panel:
    """The log of postings ÷ supply per ``field|level`` (rows of :func:`realised_tightness`,
    not empty): the panel the tightness engine is fitted on."""
    long = pd.DataFrame(
        {
            "series_id": realised["field_code"] + KEY_SEPARATOR + realised["level"],
            "period": realised["year"].astype(int).astype(str),
            "value": np.log(realised["demand"] / realised["supply"]),
        }
    )
    return Panel.from_frame(long, gaps="interpolate")


def survey_bias(data: TalentData, realised: pd.DataFrame, strength: float) -> pd.DataFrame:
    """Each association's log bias per field against realised openings, and its spread.

    Columns: source, field_code, n_surveys, log_bias (shrunk toward the association's overall
    bias with ``strength`` pseudo-surveys), factor (= exp(log_bias): stated ÷ realised),
    residual_sd (spread of its log ratios once the bias is removed).
    """
    columns = ["source", "field_code", "n_surveys", "log_bias", "factor", "residual_sd"]
    surveys = data.surveys
    if surveys.empty or realised.empty:
        return pd.DataFrame(columns=columns)
    by_level = realised.set_index(["field_code", "level", "year"])["demand"]
    by_field = realised.groupby(["field_code", "year"])["demand"].sum()
    actual = [
        by_field.get((f, t)) if lv == ALL_LEVELS else by_level.get((f, lv, t))
        for f, lv, t in zip(
            surveys["field_code"], surveys["level"], surveys["target_year"], strict=True
        )
    ]
    scored = surveys.assign(actual=pd.to_numeric(pd.Series(actual, index=surveys.index)))
    scored = scored[(scored["actual"] > 0) & (scored["headcount"] > 0)]
    if scored.empty:
        return pd.DataFrame(columns=columns)
    scored = scored.assign(ratio=np.log(scored["headcount"] / scored["actual"]))
    # An association's overall bias is itself shrunk toward no bias while it has filed few
    # scored surveys: two surveys are no track record.
    per_source = scored.groupby("source")["ratio"].agg(["sum", "size"])
    overall = per_source["sum"] / (per_source["size"] + strength)
    rows = []
    for (source, field), group in scored.groupby(["source", "field_code"]):
        n = len(group)
        shrunk = (group["ratio"].sum() + strength * overall[source]) / (n + strength)
        rows.append(
            {
                "source": source,
                "field_code": field,
                "n_surveys": n,
                "log_bias": float(shrunk),
                "factor": float(np.exp(shrunk)),
            }
        )
    table = pd.DataFrame(rows)
    residuals = scored.merge(table.loc[:, ["source", "field_code", "log_bias"]])
    residuals["residual"] = residuals["ratio"] - residuals["log_bias"]
    # Past accuracy bounds a survey's weight: its residual spread, pooled with a prior spread
    # worth a few surveys, so that a short lucky record does not buy a large weight.
    moments = residuals.groupby("source")["residual"].agg(
        squares=lambda r: float(np.sum(r**2)), count="size"
    )
    spread = np.sqrt(
        (moments["squares"] + PRIOR_SURVEY_WEIGHT * PRIOR_SURVEY_SD**2)
        / (moments["count"] + PRIOR_SURVEY_WEIGHT)
    )
    table["residual_sd"] = np.maximum(table["source"].map(spread), MIN_SURVEY_SD)
    return table.loc[:, columns]


def _yearly_paths(
    data: TalentData,
    years: np.ndarray,
    settings: BalanceSettings,
    reports: list[pd.DataFrame],
    joint: JointDraws | None = None,
    *,
    progress: RunProgress | None = None,
) -> tuple[np.ndarray, tuple[str, ...], pd.DataFrame]:
    panel = data.hiring_panel()
    # A series ending before the last enrollment year needs a few more steps to reach the
    # balance years; one ending later (hiring data newer than enrollment) is read from its
    # first forecast year on.
    lags = [max(data.last_year - period.year, 0) for period in panel.last_periods()]
    steps = len(years) + max(lags)
    engine = _fitted_counts("hiring", panel, steps, settings, progress)
    reports.append(backtest_report("hiring", engine))
    paths = sample_counts(engine, settings.n_samples, seed=settings.seed + 2, joint=joint)
    aligned = np.stack(
        [paths[:, index, lag : lag + len(years)] for index, lag in enumerate(lags)], axis=1
    )
    frame = forecast_frame("hiring", engine.predict(), engine.selection_.label)
    return aligned, panel.ids, frame_in_counts(frame)


def _fitted_counts(
    name: str,
    panel: Panel,
    steps: int,
    settings: BalanceSettings,
    progress: RunProgress | None,
) -> ForecastEngine:
    """The count engine of the hiring panel ``name``, fitted once per run (:func:`fitted`)."""
    return fitted(
        name,
        panel,
        steps,
        lambda: fit_counts(
            panel,
            steps,
            n_jobs=settings.n_jobs,
            executor=settings.make_executor(),
            progress=fitting(progress, name, panel),
        ),
    )


def _monthly_paths(
    data: TalentData,
    years: np.ndarray,
    settings: BalanceSettings,
    reports: list[pd.DataFrame],
    joint: JointDraws | None = None,
    *,
    progress: RunProgress | None = None,
) -> tuple[np.ndarray, tuple[str, ...], pd.DataFrame]:
    panel = data.hiring_panel(monthly=True)
    end = pd.Period(f"{int(years[-1])}-12", freq="M")
    steps = max(int((end - min(panel.last_periods())).n), 1)
    engine = _fitted_counts("monthly hiring", panel, steps, settings, progress)
    reports.append(backtest_report("hiring_monthly", engine))
    paths = sample_counts(engine, settings.n_samples, seed=settings.seed + 2, joint=joint)
    annual = np.zeros((settings.n_samples, panel.n_series, len(years)))
    for index, periods in enumerate(panel.future_periods(steps)):
        calendar = np.array([p.year for p in periods])
        for j, year in enumerate(years):
            annual[:, index, j] = paths[:, index, calendar == year].sum(axis=1)
    frame = forecast_frame("hiring", engine.predict(), engine.selection_.label)
    return annual, panel.ids, frame_in_counts(frame)


def _combine_with_surveys(
    hiring: np.ndarray,
    surveys: pd.DataFrame,
    bias: pd.DataFrame,
    *,
    years: np.ndarray,
    fields: tuple[str, ...],
    levels: tuple[str, ...],
    seed: int,
) -> np.ndarray:
    """Precision-weighted log-space combination of hiring samples with corrected surveys."""
    combined = hiring.copy()
    if surveys.empty or bias.empty:
        return combined
    rng = np.random.default_rng(seed + 3)
    future = surveys[surveys["target_year"].isin(years)]
    latest = future.sort_values("survey_year").drop_duplicates(
        ["source", "field_code", "level", "target_year"], keep="last"
    )
    latest = latest.merge(bias, on=["source", "field_code"])
    field_index = {f: i for i, f in enumerate(fields)}
    level_index = {lv: i for i, lv in enumerate(levels)}
    year_index = {int(y): j for j, y in enumerate(years)}
    # Survey evidence per cell: lists of (log corrected headcount, sd).
    evidence: dict[tuple[int, int, int], list[tuple[float, float]]] = {}
    for row in latest.itertuples(index=False):
        if row.field_code not in field_index:
            continue
        f, j = field_index[row.field_code], year_index[int(row.target_year)]
        # A stated need of zero is floored at one person, like the postings samples: log space.
        corrected = max(float(row.headcount) / float(row.factor), 1.0)
        if row.level == ALL_LEVELS:
            medians = np.median(hiring[:, f, :, j], axis=0)
            shares = medians / medians.sum() if medians.sum() > 0 else None
            if shares is None:
                continue
            for level, share in enumerate(shares):
                if share > 0:
                    evidence.setdefault((f, level, j), []).append(
                        (np.log(corrected * share), float(row.residual_sd))
                    )
        elif row.level in level_index:
            evidence.setdefault((f, level_index[row.level], j), []).append(
                (np.log(corrected), float(row.residual_sd))
            )
    for (f, level, j), items in evidence.items():
        samples = np.log(np.maximum(hiring[:, f, level, j], 1.0))
        hiring_var = max(float(np.var(samples)), 1e-4)
        centre = float(np.median(samples))
        survey_precision = []
        for value, sd in items:
            # A survey far outside the forecast's range is discounted the further out it is
            # (a Student-t-like weight), so one odd upload cannot overturn the forecast.
            distance = abs(value - centre) / np.sqrt(hiring_var + sd**2)
            inflation = max(1.0, distance / SURVEY_CONFLICT_Z) ** 2
            survey_precision.append(1 / (sd**2 * inflation))
        total = float(np.sum(survey_precision))
        cap = MAX_SURVEY_SHARE / (1 - MAX_SURVEY_SHARE) / hiring_var
        factor = min(1.0, cap / total) if total > 0 else 0.0
        numerator = samples / hiring_var
        precision = 1 / hiring_var
        for (value, _), raw in zip(items, survey_precision, strict=True):
            weight = raw * factor
            draws = value + rng.normal(0, 1 / np.sqrt(weight), samples.shape)
            numerator = numerator + draws * weight
            precision += weight
        combined[:, f, level, j] = np.exp(numerator / precision)
    if CARRY_SURVEY_ADJUSTMENT:
        _carry_forward(combined, hiring, evidence)
    return combined


def _carry_forward(
    combined: np.ndarray, hiring: np.ndarray, evidence: dict[tuple[int, int, int], list]
) -> None:
    """Years after a cell's last surveyed year keep that year's survey adjustment (the log
    ratio of combined to postings-only demand, sample by sample): surveys reach three years
    ahead, and a level they reveal does not vanish the year after.

    The adjustment is measured against the postings sample as the combination saw it, floored
    at one opening, and kept within the adjustments of the samples whose postings that year
    lie in the central CARRY_CENTRAL percent. A sample with next to no openings in the last
    surveyed year (1e-20 of one when its supply draw is empty) is pulled far up by the
    surveys, and that pull, carried onto later years whose postings are ordinary again, made
    them 10^11 times too large (and hundreds of times with the floor alone): one outlying
    year of a path says nothing about the level of the next.
    """
    last: dict[tuple[int, int], int] = {}
    for f, level, j in evidence:
        last[(f, level)] = max(j, last.get((f, level), -1))
    for (f, level), j in last.items():
        postings = np.maximum(hiring[:, f, level, j], 1.0)
        shift = np.log(combined[:, f, level, j]) - np.log(postings)
        tail = (100 - CARRY_CENTRAL) / 2
        low, high = np.percentile(postings, [tail, 100 - tail], method="nearest")
        central = shift[(postings >= low) & (postings <= high)]
        shift = np.clip(shift, central.min(), central.max())
        combined[:, f, level, j + 1 :] = hiring[:, f, level, j + 1 :] * np.exp(shift)[:, None]
