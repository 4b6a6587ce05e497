"""The talent balance: supply, demand and the gap between them, as distributions.

Supply and demand arrive as joint samples (samples × fields × levels × years). The gap is
computed sample by sample (demand − supply), never as a difference of means, so its quantiles
and the probability of a shortage reflect how the two actually vary. Totals over levels and
over fields are sums of the same samples, so every total is consistent with its parts.

Outputs (the ``balance``, ``drivers``, ``programme_supply``, ``survey_bias`` and ``forecasts``
run outputs) are plain frames; :func:`shortage_ranking` orders fields for one year and level.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field, replace
from typing import Final

import numpy as np
import pandas as pd

from data.vocabulary import ALL_LEVELS
from features.talent import TalentData, split_key
from forecasting.demand import DemandResult, Postings, forecast_demand, forecast_postings
from forecasting.fits import keep, take
from forecasting.joint import JointDraws
from forecasting.market import market_history
from forecasting.progress import CountsOnly, RunProgress
from forecasting.scales import ScaleEstimate, estimate_scales
from forecasting.settings import BalanceSettings
from forecasting.supply import (
    SupplyResult,
    forecast_supply,
    observed_flows,
    observed_supply,
    respond_to_tightness,
)

TOTAL: Final = "all"
QUANTILES: Final = {"p05": 5, "p10": 10, "p50": 50, "p90": 90, "p95": 95}
#: A demand/supply ratio with (almost) no supply is reported as this cap, not infinity.
MAX_RATIO: Final = 100.0
#: The joint origins of a balance are drawn from its seed plus this.
JOINT_SEED_OFFSET: Final = 6


@dataclass
class BalanceResult:
    """Everything the balance computed, ready to be stored as run outputs."""

    last_year: int
    supply: SupplyResult
    demand: DemandResult
    scales: ScaleEstimate
    balance: pd.DataFrame
    drivers: pd.DataFrame
    programme_supply: pd.DataFrame
    seconds: dict[str, float] = field(default_factory=dict)

    def outputs(self) -> dict[str, pd.DataFrame]:
        """The run outputs of the balance, keyed like the store's output tables."""
        forecasts = pd.concat(
            [self.supply.forecasts, self.demand.forecasts], ignore_index=True
        ).loc[
            :,
            [
                "kind",
                "series_id",
                "programme_code",
                "level",
                "field_code",
                "period",
                "forecast",
                "lo_80",
                "hi_80",
                "lo_95",
                "hi_95",
                "model",
            ],
        ]
        return {
            "forecasts": forecasts,
            "balance": self.balance,
            "drivers": self.drivers,
            "programme_supply": self.programme_supply,
            "survey_bias": self.demand.survey_bias,
            "demand_scales": self.demand.scales,
        }


def compute_balance(
    data: TalentData,
    settings: BalanceSettings,
    progress: RunProgress | None = None,
    *,
    joint: JointDraws | None = None,
) -> BalanceResult:
    """Forecast supply and demand for the years after ``data.last_year`` and the gap.

    The openings scales are estimated first (from the history alone), so that supply knows
    whether in-field rates follow their trend or the market; then demand in openings; then
    supply's response to the forecast tightness of each sample. ``progress`` is told as the
    supply, demand and balance stages start, and of the engines' batches. ``joint`` are the
    backtest origins of the samples when several balances must err together (the regions of
    a province); by default they are drawn from the settings' seed.
    """
    model = settings.resolved_demand_model
    return compute_balances(data, settings, (model,), progress, joint=joint)[model]


def prefit_balance(
    data: TalentData, settings: BalanceSettings, progress: RunProgress | None = None
) -> None:
    """Forecast the parts of ``data``'s balance that no demand model changes (scales, supply
    and postings samples, with their engines' fits), and leave them in the run's shared fits
    (:func:`forecasting.fits.shared_fits`) for the balance of the same data and settings to
    take; without shared fits it only spends the time.

    A run calls it while its balance backtest still occupies workers: the backtest chooses
    the demand model, but these parts do not depend on that choice. ``progress`` is told
    of the engines' batches, not of stages: they are fitted inside the stage under way.
    """
    joint = JointDraws.draw(settings.n_samples, settings.seed + JOINT_SEED_OFFSET)
    counts = None if progress is None else CountsOnly(progress)
    keep(_model_free_key(settings, joint), data, _model_free_parts(data, settings, joint, counts))


def compute_balances(
    data: TalentData,
    settings: BalanceSettings,
    models: tuple[str, ...],
    progress: RunProgress | None = None,
    *,
    joint: JointDraws | None = None,
) -> dict[str, BalanceResult]:
    """:func:`compute_balance` with each demand model of ``models`` (``direct``,
    ``tightness``, ``combined``), each result exactly what ``compute_balance`` gives with that
    model in ``settings``.

    What does not depend on the demand model — the scales, business-as-usual supply and the
    postings forecast — is computed once for all of them: the balance backtest replays every
    cut year with both candidate models, and those parts are most of a balance's time. The
    ``seconds`` of each result count the shared parts in full, unless :func:`prefit_balance`
    forecast them earlier in the run: their time is then the stage's that ran it.
    """
    if progress is not None:
        progress.stage("supply")
    started = time.perf_counter()
    # One backtest origin per sample for every engine: supply and demand err together as
    # they did in the backtest, and totals keep their correlation.
    if joint is None:
        joint = JointDraws.draw(settings.n_samples, settings.seed + JOINT_SEED_OFFSET)
    free = take(_model_free_key(settings, joint), data)
    if isinstance(free, _ModelFree):  # forecast earlier in the run (prefit_balance)
        supply_seconds, shared = time.perf_counter() - started, 0.0
        if progress is not None:
            progress.stage("demand")
    else:
        free = _model_free_parts(data, settings, joint, progress)
        supply_seconds, shared = free.seconds
    results = {}
    for model in models:
        begun = time.perf_counter()
        own = replace(settings, demand_model=model)
        demand = forecast_demand(
            data,
            own,
            free.supply,
            free.scales,
            free.log_scales,
            joint=joint,
            progress=progress,
            postings=free.postings,
        )
        responded = free.supply
        if free.response is not None:
            responded = respond_to_tightness(
                free.supply, demand.combined, demand.log_scales, *free.response
            )
        demanded = time.perf_counter()
        if progress is not None:
            progress.stage("balance")
        balance = balance_table(responded, demand)
        drivers = driver_table(responded, demand, data.last_year)
        programmes = programme_supply_table(responded)
        finished = time.perf_counter()
        results[model] = BalanceResult(
            data.last_year,
            responded,
            demand,
            free.scales,
            balance,
            drivers,
            programmes,
            {
                "supply": supply_seconds,
                "demand": shared + demanded - begun,
                "balance": finished - demanded,
            },
        )
    return results


@dataclass(frozen=True)
class _ModelFree:
    """The parts of a balance no demand model changes, and the seconds supply and postings
    took to forecast."""

    scales: ScaleEstimate
    supply: SupplyResult
    log_scales: np.ndarray
    response: tuple[np.ndarray, np.ndarray] | None
    postings: Postings
    seconds: tuple[float, float]


def _model_free_key(settings: BalanceSettings, joint: JointDraws) -> str:
    """What the model-free parts depend on besides the data: every setting but the demand
    model, and the joint draws."""
    digest = hashlib.sha256(np.ascontiguousarray(joint.origin).tobytes()).hexdigest()
    return f"balance-model-free|{replace(settings, demand_model='auto')!r}|{digest}"


def _model_free_parts(
    data: TalentData,
    settings: BalanceSettings,
    joint: JointDraws,
    progress: RunProgress | None,
) -> _ModelFree:
    """The scales, business-as-usual supply, the draws of the scales and of supply's response,
    and the postings forecast (see :func:`compute_balances`)."""
    started = time.perf_counter()
    market = market_history(data)
    fields = tuple(data.catalog.fields["field_code"])
    scales = estimate_scales(market, fields, settings.admin_scales)
    relation = scales.relations["infield_share"]
    respond = settings.supply_response and relation.usable
    supply = forecast_supply(
        data,
        settings,
        frozen_rates=("infield",) if respond else (),
        joint=joint,
        progress=progress,
    )
    supplied = time.perf_counter()
    if progress is not None:
        progress.stage("demand")
    rng = np.random.default_rng(settings.seed + 7)
    log_scales = scales.draw(settings.n_samples, rng)
    response = None
    if respond:
        # Drawn before demand is forecast (which draws nothing from this generator), once
        # for every model.
        beta = np.maximum(rng.normal(relation.beta, relation.se, settings.n_samples), 0.0)
        response = (recent_tightness(market, supply.fields, supply.levels), beta)
    postings = forecast_postings(data, settings, supply, joint=joint, progress=progress)
    return _ModelFree(
        scales,
        supply,
        log_scales,
        response,
        postings,
        (supplied - started, time.perf_counter() - supplied),
    )


def recent_tightness(
    market: pd.DataFrame, fields: tuple[str, ...], levels: tuple[str, ...], years: int = 3
) -> np.ndarray:
    """Mean tightness index of each cell over its last ``years`` observed years, (fields,
    levels); NaN where the cell has no market history."""
    out = np.full((len(fields), len(levels)), np.nan)
    if market.empty:
        return out
    recent = market[
        market["year"] > market.groupby(["field_code", "level"])["year"].transform("max") - years
    ]
    means = recent.groupby(["field_code", "level"])["tightness_index"].mean()
    position = {f: i for i, f in enumerate(fields)}
    level_position = {lv: i for i, lv in enumerate(levels)}
    for (code, level), value in means.items():
        if code in position and level in level_position:
            out[position[code], level_position[level]] = value
    return out


def balance_table(supply: SupplyResult, demand: DemandResult) -> pd.DataFrame:
    """Quantiles of supply, demand and gap per field × level × year, totals included, plus
    the observed history (all quantiles equal to the observed value)."""
    observed = demand.observed
    return cell_table(
        supply.by_field_level * observed[None, :, :, None],
        demand.combined * observed[None, :, :, None],
        observed,
        CellAxes(supply.fields, supply.levels, supply.years),
        observed_history(supply, demand),
    )


@dataclass(frozen=True)
class CellAxes:
    """The fields, levels and forecast years of a (samples, fields, levels, years) array."""

    fields: tuple[str, ...]
    levels: tuple[str, ...]
    years: np.ndarray


def cell_table(
    s: np.ndarray,
    d: np.ndarray,
    observed: np.ndarray,
    axes: CellAxes,
    history: pd.DataFrame,
) -> pd.DataFrame:
    """The balance rows of supply ``s`` and demand ``d`` samples (samples, fields, levels,
    years; zero outside ``observed`` cells) and of the observed ``history`` of the cells
    (field_code, level, year, supply, demand), totals computed sample by sample."""
    rows: list[pd.DataFrame] = []
    fields = list(axes.fields)
    levels = list(axes.levels)
    for f_index, field_code in enumerate([*fields, TOTAL]):
        for l_index, level in enumerate([*levels, ALL_LEVELS]):
            if field_code != TOTAL and level != ALL_LEVELS and not observed[f_index, l_index]:
                continue
            if field_code != TOTAL and level == ALL_LEVELS and not observed[f_index].any():
                continue
            cell_s = _select(s, f_index, l_index, field_code == TOTAL, level == ALL_LEVELS)
            cell_d = _select(d, f_index, l_index, field_code == TOTAL, level == ALL_LEVELS)
            rows.append(quantile_rows(field_code, level, axes.years, cell_s, cell_d))
    forecast = pd.concat(rows, ignore_index=True)
    return (
        pd.concat([history_rows(history), forecast], ignore_index=True)
        .sort_values(["field_code", "level", "year"], key=_total_last)
        .reset_index(drop=True)
    )


def _select(values: np.ndarray, f: int, lv: int, all_fields: bool, all_levels: bool) -> np.ndarray:
    """(samples, years) for one cell or total."""
    part = values.sum(axis=1) if all_fields else values[:, f]
    return part.sum(axis=1) if all_levels else part[:, lv]


def quantile_rows(
    field_code: str, level: str, years: np.ndarray, s: np.ndarray, d: np.ndarray
) -> pd.DataFrame:
    gap = d - s
    columns: dict[str, object] = {
        "field_code": field_code,
        "level": level,
        "year": years.astype(int),
    }
    for name, values in (("supply", s), ("demand", d), ("gap", gap)):
        columns[f"{name}_mean"] = values.mean(axis=0)
        # One call for every quantile: the same numbers as one call each, a fifth of the time.
        quantiles = np.percentile(values, list(QUANTILES.values()), axis=0)
        for label, row in zip(QUANTILES, quantiles, strict=True):
            columns[f"{name}_{label}"] = row
    ratio = np.minimum(d / np.maximum(s, 1e-9), MAX_RATIO)
    columns["ratio_p50"] = np.median(ratio, axis=0)
    columns["p_shortage"] = (gap > 0).mean(axis=0)
    # Expected shortfall in persons: weighs how short as well as how likely (a 93% chance of
    # one missing graduate is less pressing than a 60% chance of a hundred). Each sample's gap
    # counts at most at the cell's 90th percentile: at long horizons the demand samples of a
    # small cell spread over factors of ten, and a plain mean would rank fields by those few.
    cap = np.percentile(gap, 90, axis=0)
    columns["shortfall_w90"] = np.clip(np.minimum(gap, cap), 0, None).mean(axis=0)
    return pd.DataFrame(columns)


def observed_history(supply: SupplyResult, demand: DemandResult) -> pd.DataFrame:
    """Observed supply and demand per observed cell and year (both known), no totals."""
    history = supply.history.merge(demand.history, on=["field_code", "level", "year"], how="inner")
    observed_cells = {
        (f, lv)
        for f_index, f in enumerate(supply.fields)
        for l_index, lv in enumerate(supply.levels)
        if demand.observed[f_index, l_index]
    }
    keep = [
        (f, lv) in observed_cells
        for f, lv in zip(history["field_code"], history["level"], strict=True)
    ]
    return history.loc[keep, ["field_code", "level", "year", "supply", "demand"]]


def _history_rows(supply: SupplyResult, demand: DemandResult) -> pd.DataFrame:
    """Observed supply and demand per cell and year (both known), with totals."""
    return history_rows(observed_history(supply, demand))


def history_rows(history: pd.DataFrame) -> pd.DataFrame:
    """Balance rows of observed cells (:func:`observed_history`), with their totals."""
    if history.empty:
        return pd.DataFrame()
    parts = [history]
    parts.append(
        history.groupby(["field_code", "year"], as_index=False)[["supply", "demand"]]
        .sum()
        .assign(level=ALL_LEVELS)
    )
    parts.append(
        history.groupby(["level", "year"], as_index=False)[["supply", "demand"]]
        .sum()
        .assign(field_code=TOTAL)
    )
    parts.append(
        history.groupby(["year"], as_index=False)[["supply", "demand"]]
        .sum()
        .assign(field_code=TOTAL, level=ALL_LEVELS)
    )
    frame = pd.concat(parts, ignore_index=True)
    frame["gap"] = frame["demand"] - frame["supply"]
    out = frame.loc[:, ["field_code", "level", "year"]].copy()
    for name in ("supply", "demand", "gap"):
        out[f"{name}_mean"] = frame[name]
        for label in QUANTILES:
            out[f"{name}_{label}"] = frame[name]
    out["ratio_p50"] = np.minimum(frame["demand"] / frame["supply"].clip(lower=1e-9), MAX_RATIO)
    out["p_shortage"] = (frame["gap"] > 0).astype(float)
    out["shortfall_w90"] = frame["gap"].clip(lower=0)
    return out


def driver_table(supply: SupplyResult, demand: DemandResult, base_year: int) -> pd.DataFrame:
    """What moves each cell's expected gap from the last observed year to each forecast year.

    With means (which add up, unlike medians): expected gap(y) = base gap + demand growth
    (hiring forecast − base demand) + survey adjustment (combined − hiring-only demand)
    + cohort pipeline (−(supply at today's rates − base supply): more or fewer graduates)
    + rates (−(supply − supply at today's rates): placement, field entry, retention moving).
    """
    base = _history_rows(supply, demand)
    base = base[base["year"] == base_year].set_index(["field_code", "level"])
    rows = []
    for f_index, field_code in enumerate(supply.fields):
        for l_index, level in enumerate(supply.levels):
            if not demand.observed[f_index, l_index]:
                continue
            base_supply = _base(base, field_code, level, "supply_mean")
            base_demand = _base(base, field_code, level, "demand_mean")
            hiring = demand.hiring[:, f_index, l_index].mean(axis=0)
            combined = demand.combined[:, f_index, l_index].mean(axis=0)
            at_base = supply.at_base_rates[:, f_index, l_index].mean(axis=0)
            total = supply.by_field_level[:, f_index, l_index].mean(axis=0)
            for j, year in enumerate(supply.years):
                rows.append(
                    {
                        "field_code": field_code,
                        "level": level,
                        "year": int(year),
                        "base_year": base_year,
                        "base_gap": base_demand - base_supply,
                        "demand_growth": hiring[j] - base_demand,
                        "survey_adjustment": combined[j] - hiring[j],
                        "cohort_pipeline": -(at_base[j] - base_supply),
                        "rates": -(total[j] - at_base[j]),
                        "gap": combined[j] - total[j],
                    }
                )
    return pd.DataFrame(rows)


def _base(base: pd.DataFrame, field_code: str, level: str, column: str) -> float:
    if (field_code, level) in base.index:
        return float(base.loc[(field_code, level), column])
    return 0.0


def programme_supply_table(supply: SupplyResult) -> pd.DataFrame:
    """Graduates and rates per programme and year (medians; graduates with an 80% band)."""
    rows = []
    graduates = np.percentile(supply.graduates, [10, 50, 90], axis=0)
    rates = {name: np.median(values, axis=0) for name, values in supply.rates.items()}
    for p, key in enumerate(supply.programmes):
        code, level = split_key(key)
        for j, year in enumerate(supply.years):
            rows.append(
                {
                    "programme_code": code,
                    "level": level,
                    "year": int(year),
                    "graduates_p10": graduates[0, p, j],
                    "graduates_p50": graduates[1, p, j],
                    "graduates_p90": graduates[2, p, j],
                    "placement_rate": rates["placement"][p, j],
                    "infield_rate": rates["infield"][p, j],
                    "local_rate": rates["local"][p, j],
                    "from_enrolled_cohorts": bool(supply.from_cohorts[p, j]),
                }
            )
    return pd.DataFrame(rows)


def realised_balance(
    data: TalentData, admin_scales: dict[str, tuple[float, str]] | None = None
) -> pd.DataFrame:
    """Observed supply, demand (openings: postings ÷ the median scale estimated from these
    same data), gap and ratio per field, level and year (no forecasting)."""
    flows = observed_flows(data)  # once for the supply and the market both
    supply = observed_supply(data, flows)
    fields = tuple(data.catalog.fields["field_code"])
    scales = estimate_scales(market_history(data, flows), fields, admin_scales)
    hiring = data.annual_hiring()
    demand = hiring.assign(demand=scales.openings(hiring)).loc[
        :, ["field_code", "level", "year", "demand"]
    ]
    frame = supply.merge(demand, on=["field_code", "level", "year"], how="inner")
    frame["gap"] = frame["demand"] - frame["supply"]
    frame["ratio"] = np.minimum(frame["demand"] / frame["supply"].clip(lower=1e-9), MAX_RATIO)
    return frame


#: Orders of :func:`shortage_ranking`: by P(shortage) (then the gap relative to supply), or by
#: expected shortfall in persons (then P(shortage)).
RANKING_KEYS: Final[dict[str, tuple[str, str]]] = {
    "probability": ("p_shortage", "gap_share"),
    "shortfall": ("shortfall_w90", "p_shortage"),
}


def shortage_ranking(
    balance: pd.DataFrame, year: int, level: str, by: str = "probability"
) -> pd.DataFrame:
    """Fields ranked by shortage for ``year`` and ``level``, totals left out.

    ``by="probability"``: most likely short first, then by the size of the expected gap
    relative to supply. ``by="shortfall"``: largest expected shortfall in persons first (the
    mean of max(demand − supply, 0) over the joint samples, each gap counted at most at the
    cell's 90th percentile), then most likely short.
    """
    if by not in RANKING_KEYS:
        raise ValueError(f"by must be one of {', '.join(RANKING_KEYS)}, got {by!r}")
    rows = balance[
        (balance["year"] == year) & (balance["level"] == level) & (balance["field_code"] != TOTAL)
    ].copy()
    rows["gap_share"] = rows["gap_p50"] / rows["supply_p50"].clip(lower=1.0)
    ranked = rows.sort_values(list(RANKING_KEYS[by]), ascending=False).reset_index(drop=True)
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    return ranked


def _total_last(column: pd.Series) -> pd.Series:
    """Sort key putting totals ("all") after the individual fields and levels."""
    if column.name in ("field_code", "level"):
        return column.map(lambda v: (1, "") if v == TOTAL else (0, str(v)))
    return column
