"""Supply: how many graduates of each field and level enter the city's workforce each year.

Supply of field f, level l, year y = Σ over programmes p of level l of
weight(p, f) × graduates(p, y) × placement × in-field × local retention.

- **Graduates** follow the cohort pipeline: graduates(p, y) = entrants(p, y − duration) ×
  completion(p). For the next ``duration`` years the entrants are cohorts already enrolled
  (observed); after that they are forecast intake (the engine's sample paths, on the log scale:
  :mod:`forecasting.counts`), which is exactly
  what a quota decides.
- **Rates** start from each programme's recent rates, shrunk toward its group
  (:mod:`features.rates`), and move with its group's forecast trend (the engine on the logit of
  the group rate), plus a persistent programme-level uncertainty from the shrinkage.
- **The market pulls.** A tight field draws more of its graduates into it. Where the history
  shows that response (:mod:`forecasting.scales`: logit(in-field share) moves by β per unit
  of log tightness), the in-field rate does not follow its own trend but the forecast
  tightness of its main field, sample by sample (:func:`respond_to_tightness`): a booming
  field's supply grows with its demand instead of staying at today's share.

Everything is computed on joint samples (samples × programmes × years), so the uncertainty of
intake, rates and their combination carries through to the balance without assuming anything
is normal or independent across years.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.vocabulary import LEVELS
from features.panel import Panel
from features.rates import completion_rates, group_rate_history, outcome_rates, primary_fields
from features.talent import TalentData, expit, logit, programme_key, programme_keys, split_key
from forecasting.counts import VALUE_COLUMNS, fit_counts, frame_in_counts, sample_counts
from forecasting.engine import BACKTEST_COLUMNS, ForecastEngine, backtest_report
from forecasting.fits import fitted
from forecasting.joint import JointDraws
from forecasting.progress import RunProgress, fitting
from forecasting.settings import BalanceSettings
from models.base import Forecast

RATE_NAMES = ("placement", "infield", "local")


@dataclass(frozen=True)
class SupplyResult:
    """Supply samples and what produced them.

    ``by_field_level`` has shape (samples, fields, levels, years); ``at_base_rates`` the same
    with every programme's rates held at their current values (for the driver breakdown).
    ``graduates``, ``rates`` and ``intake`` (forecast entrants per intake year; zero for
    programmes no longer enrolling) are per programme: (samples, programmes, years);
    ``weights`` is the programme × field crosswalk, ``completion``, ``durations``,
    ``current_intake`` (entrants of the last observed year) and ``max_intake`` (largest
    intake on record) are per programme — what quota scenarios need.
    """

    years: np.ndarray
    fields: tuple[str, ...]
    levels: tuple[str, ...]
    programmes: tuple[str, ...]
    graduates: np.ndarray
    rates: dict[str, np.ndarray]
    from_cohorts: np.ndarray
    by_field_level: np.ndarray
    at_base_rates: np.ndarray
    forecasts: pd.DataFrame
    history: pd.DataFrame
    intake: np.ndarray
    weights: np.ndarray
    completion: np.ndarray
    durations: np.ndarray
    current_intake: np.ndarray
    max_intake: np.ndarray
    #: The engines' backtest reports (:func:`forecasting.engine.backtest_report`) by kind.
    backtests: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)


def forecast_supply(
    data: TalentData,
    settings: BalanceSettings,
    frozen_rates: tuple[str, ...] = (),
    joint: JointDraws | None = None,
    progress: RunProgress | None = None,
) -> SupplyResult:
    """Joint supply samples for the ``settings.horizon`` years after ``data.last_year``.

    ``frozen_rates`` (of ``placement``, ``infield``, ``local``) stay at their current values
    instead of following their group's trend: they are moved later by the market
    (:func:`respond_to_tightness`), and a trend on top would count the same move twice.
    ``joint`` makes every engine draw its samples from the same backtest origins as the
    other engines of the run (:mod:`forecasting.joint`). ``progress`` hears of the engines'
    batches as they finish.
    """
    rng = np.random.default_rng(settings.seed)
    last = data.last_year
    years = np.arange(last + 1, last + settings.horizon + 1)
    catalog = data.catalog
    programmes = catalog.programmes
    keys = tuple(programme_keys(programmes))
    levels = tuple(sorted(set(programmes["level"]), key=_level_order))
    fields = tuple(catalog.fields["field_code"])

    completion = completion_rates(data).set_index("key")["rate"]
    level_completion = completion.groupby(lambda k: k.split("|")[1]).median()
    durations = programmes["duration_years"].to_numpy(dtype=int)

    reports: list[pd.DataFrame] = []
    intake, intake_forecast = _intake_samples(
        data, keys, years, settings, reports, joint=joint, progress=progress
    )
    graduates, from_cohorts = _graduate_samples(
        data,
        keys=keys,
        durations=durations,
        completion=completion,
        level_completion=level_completion,
        intake=intake,
        years=years,
        n_samples=settings.n_samples,
    )

    current = outcome_rates(data).set_index("key").reindex(list(keys))
    rates, rate_forecast = _rate_samples(
        data,
        current=current,
        keys=keys,
        years=years,
        settings=settings,
        rng=rng,
        reports=reports,
        frozen=frozen_rates,
        joint=joint,
        progress=progress,
    )
    base = np.prod(
        [_fill(current[name], programmes["level"]).to_numpy() for name in RATE_NAMES], axis=0
    )
    product = np.prod([rates[name] for name in RATE_NAMES], axis=0)

    weights = crosswalk_matrix(catalog.crosswalk, keys, fields)
    level_of = programmes["level"].to_numpy()
    by_field_level = _aggregate(graduates * product, weights, level_of, levels)
    at_base = _aggregate(graduates * base[None, :, None], weights, level_of, levels)
    history = realised_supply(data, current, weights, keys, fields)
    intake_array = np.zeros((settings.n_samples, len(keys), len(years)))
    for p, key in enumerate(keys):
        if key in intake:
            intake_array[:, p, :] = intake[key]
    observed_intake = data.enrollment.assign(key=programme_keys(data.enrollment))
    last_intake = observed_intake[observed_intake["year"] == last].groupby("key")["enrolled"].sum()
    largest = observed_intake.groupby("key")["enrolled"].max()
    return SupplyResult(
        years=years,
        fields=fields,
        levels=levels,
        programmes=keys,
        graduates=graduates,
        rates=rates,
        from_cohorts=from_cohorts,
        by_field_level=by_field_level,
        at_base_rates=at_base,
        forecasts=pd.concat([intake_forecast, rate_forecast], ignore_index=True),
        backtests=concat_reports(reports),
        history=history,
        intake=intake_array,
        weights=weights,
        completion=np.array(
            [completion.get(k, level_completion.get(k.split("|")[1], 0.9)) for k in keys]
        ),
        durations=durations,
        current_intake=last_intake.reindex(list(keys)).fillna(0).to_numpy(dtype=float),
        max_intake=largest.reindex(list(keys)).fillna(0).to_numpy(dtype=float),
    )


def observed_supply(data: TalentData, flows: pd.DataFrame | None = None) -> pd.DataFrame:
    """Realised supply per field, level and year, from the outcome counts alone (``flows``:
    :func:`observed_flows` of ``data`` when the caller has them)."""
    flows = observed_flows(data) if flows is None else flows
    if flows.empty:
        return pd.DataFrame(columns=["field_code", "level", "year", "supply"])
    return flows.loc[:, ["field_code", "level", "year", "supply"]]


def observed_flows(data: TalentData) -> pd.DataFrame:
    """:func:`outcome_flows` of the data's own catalog, with its programmes' current rates
    standing in for uncollected counts (empty without outcomes)."""
    if data.outcomes.empty:
        return pd.DataFrame()
    keys = tuple(programme_keys(data.catalog.programmes))
    fields = tuple(data.catalog.fields["field_code"])
    current = outcome_rates(data).set_index("key").reindex(list(keys))
    weights = crosswalk_matrix(data.catalog.crosswalk, keys, fields)
    return outcome_flows(data, current, weights, keys, fields)


def realised_supply(
    data: TalentData,
    current: pd.DataFrame,
    weights: np.ndarray,
    keys: tuple[str, ...],
    fields: tuple[str, ...],
) -> pd.DataFrame:
    """Observed supply per field, level and year from outcome counts (see
    :func:`outcome_flows`)."""
    flows = outcome_flows(data, current, weights, keys, fields)
    if flows.empty:
        return pd.DataFrame(columns=["field_code", "level", "year", "supply"])
    return flows.loc[:, ["field_code", "level", "year", "supply"]]


def outcome_flows(
    data: TalentData,
    current: pd.DataFrame,
    weights: np.ndarray,
    keys: tuple[str, ...],
    fields: tuple[str, ...],
) -> pd.DataFrame:
    """Graduates, placed, potential (placed × local share: graduates available to the city's
    fields) and supply (placed × in-field share × local share) per field, level and year,
    through the crosswalk.

    Where a year lacks the in-field or local count (not collected then), the programme's
    current rate (``current``, as :func:`features.rates.outcome_rates` gives) stands in.
    """
    outcomes = data.outcomes
    if outcomes.empty:
        return pd.DataFrame()
    frame = outcomes.assign(key=programme_keys(outcomes))
    frame = frame[frame["key"].isin(set(keys))]
    placed = frame["placed"].astype(float)
    safe = placed.where(placed > 0)
    infield = (frame["employed_in_field"].astype(float) / safe).fillna(
        frame["key"].map(current["infield"])
    )
    local = (frame["employed_locally"].astype(float) / safe).fillna(
        frame["key"].map(current["local"])
    )
    values = {
        "graduates": frame["graduates"].astype(float).fillna(0.0),
        "placed": placed.fillna(0.0),
        "potential": (placed * local).fillna(0.0),
        "supply": (placed * infield * local).fillna(0.0),
    }
    position = {k: i for i, k in enumerate(keys)}
    rows = []
    for (level, year), group in frame.groupby(["level", "year"]):
        index = [position[k] for k in group["key"]]
        totals = {}
        for name, column in values.items():
            vector = np.zeros(len(keys))
            vector[index] = column.loc[group.index].to_numpy()
            totals[name] = vector @ weights
        rows += [
            {
                "field_code": f,
                "level": level,
                "year": int(year),
                **{name: float(total[j]) for name, total in totals.items()},
            }
            for j, f in enumerate(fields)
        ]
    return pd.DataFrame(rows)


def _intake_samples(
    data: TalentData,
    keys: tuple[str, ...],
    years: np.ndarray,
    settings: BalanceSettings,
    reports: list[pd.DataFrame],
    *,
    joint: JointDraws | None = None,
    progress: RunProgress | None = None,
) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Entrant sample paths (samples, years) per programme still enrolling; closed programmes
    (no entrants in the last two years) and programmes without intake data get zero."""
    samples: dict[str, np.ndarray] = {}
    active = intake_panel(data)
    if active is None:
        return samples, pd.DataFrame()
    engine = fitted(
        "enrollment",
        active,
        len(years),
        lambda: fit_counts(
            active,
            len(years),
            n_jobs=settings.n_jobs,
            executor=settings.make_executor(),
            progress=fitting(progress, "enrollment", active),
        ),
    )
    reports.append(backtest_report("enrollment", engine))
    paths = sample_counts(engine, settings.n_samples, seed=settings.seed, joint=joint)
    for index, key in enumerate(active.ids):
        samples[key] = paths[:, index, :]
    frame = forecast_frame("enrollment", engine.predict(), engine.selection_.label)
    return samples, frame_in_counts(frame)


def intake_panel(data: TalentData) -> Panel | None:
    """Entrants per programme still enrolling (its series reaches the last year and has
    entrants in one of its last two years), in counts: the panel the intake engine is fitted
    on, on the log scale (:func:`forecasting.counts.fit_counts`); ``None`` when no programme
    is enrolling."""
    panel = data.programme_panel("enrollment")
    last = data.last_year
    open_positions = [
        i
        for i, (_, y) in enumerate(panel)
        if panel.last_periods()[i].year == last and y[-2:].sum() > 0
    ]
    return panel.take(open_positions) if open_positions else None


def rate_panel(data: TalentData) -> Panel | None:
    """The logits of the yearly group rates (:func:`features.rates.group_rate_history`): the
    panel the rate-trend engine is fitted on; ``None`` without outcome history."""
    history = group_rate_history(data)
    if history.empty:
        return None
    return Panel.from_frame(history.drop(columns="trials"), gaps="interpolate")


def _graduate_samples(
    data: TalentData,
    *,
    keys: tuple[str, ...],
    durations: np.ndarray,
    completion: pd.Series,
    level_completion: pd.Series,
    intake: dict[str, np.ndarray],
    years: np.ndarray,
    n_samples: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Graduates (samples, programmes, years) and whether each came from an enrolled cohort."""
    entrants = data.enrollment.assign(key=programme_keys(data.enrollment)).set_index(
        ["key", "year"]
    )["enrolled"]
    last = data.last_year
    graduates = np.zeros((n_samples, len(keys), len(years)))
    from_cohorts = np.zeros((len(keys), len(years)), dtype=bool)
    for p, key in enumerate(keys):
        rate = completion.get(key, level_completion.get(key.split("|")[1], 0.9))
        for j, year in enumerate(years):
            cohort = int(year) - int(durations[p])
            if cohort <= last:
                from_cohorts[p, j] = True
                enrolled = entrants.get((key, cohort), 0.0)
                graduates[:, p, j] = float(0.0 if pd.isna(enrolled) else enrolled) * rate
            elif key in intake:
                graduates[:, p, j] = intake[key][:, cohort - last - 1] * rate
    return graduates, from_cohorts


def _rate_samples(
    data: TalentData,
    *,
    current: pd.DataFrame,
    keys: tuple[str, ...],
    years: np.ndarray,
    settings: BalanceSettings,
    rng: np.random.Generator,
    reports: list[pd.DataFrame],
    frozen: tuple[str, ...] = (),
    joint: JointDraws | None = None,
    progress: RunProgress | None = None,
) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Rate paths per programme: its current (shrunk) rate moved by its group's forecast
    trend (unless ``frozen``), plus a persistent programme effect drawn from the shrinkage
    uncertainty."""
    panel = rate_panel(data)
    levels = pd.Series([k.split("|")[1] for k in keys], index=list(keys))
    fields = primary_fields(data.catalog).reindex(list(keys)).fillna("other")
    n = settings.n_samples
    rates: dict[str, np.ndarray] = {}
    trend: dict[str, np.ndarray] = {}
    frames = []
    if panel is not None:
        # Logit rates sit around zero, where sMAPE is unstable: select on scaled errors.
        engine = fitted(
            "rate",
            panel,
            len(years),
            lambda: ForecastEngine(
                len(years),
                n_jobs=settings.n_jobs,
                executor=settings.make_executor(),
                non_negative=False,
                score="mase",
            ).fit(panel, fitting(progress, "outcome rate", panel)),
        )
        reports.append(backtest_report("rate", engine))
        paths = engine.sample(n, seed=settings.seed + 1, joint=joint)
        recent = np.array([np.mean(y[-3:]) for _, y in panel])
        for index, series_id in enumerate(panel.ids):
            trend[series_id] = paths[:, index, :] - recent[index]
        predicted = engine.predict()
        frame = forecast_frame("rate", predicted, engine.selection_.label)
        for column in VALUE_COLUMNS:
            frame[column] = expit(frame[column].to_numpy())
        frame["kind"] = frame["series_id"].str.split("|").str[0] + "_rate"
        frames.append(frame)
    for name in RATE_NAMES:
        level_rate = _fill(current[name], levels)
        trials = current[f"{name}_n"].fillna(0).to_numpy()
        base = logit(level_rate.to_numpy())
        spread = 1 / np.sqrt(np.maximum(trials, 25) * expit(base) * (1 - expit(base)))
        effect = rng.normal(0, 1, (n, len(keys))) * spread[None, :]
        shift = np.zeros((n, len(keys), len(years)))
        for p, key in enumerate(keys):
            series_id = f"{name}|{fields[key]}|{levels[key]}"
            if series_id in trend and name not in frozen:
                shift[:, p, :] = trend[series_id]
        rates[name] = expit(base[None, :, None] + effect[:, :, None] + shift)
    return rates, pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def respond_to_tightness(
    supply: SupplyResult,
    openings: np.ndarray,
    log_scales: np.ndarray,
    recent_index: np.ndarray,
    beta: np.ndarray,
) -> SupplyResult:
    """Supply with in-field rates moved by each main field's forecast tightness.

    For programme p of main field f and level l, in sample s and year t:
    logit(in-field) += β_s × Δx, where Δx = log(openings × k_s ÷ graduates available) −
    the cell's recent tightness index (``recent_index``, (fields, levels), NaN where unknown)
    is the change of log tightness since the last observed years (the scale k cancels).
    ``openings`` is (samples, fields, levels, years), ``log_scales`` (samples, fields) and
    ``beta`` (samples,) the response drawn per sample. Δx is kept within ±1.5: beyond that
    the history shows nothing to extrapolate from.
    """
    level_of = np.array([split_key(key)[1] for key in supply.programmes])
    available = _aggregate(
        supply.graduates * supply.rates["placement"] * supply.rates["local"],
        supply.weights,
        level_of,
        supply.levels,
    )
    postings_equivalent = openings * np.exp(log_scales)[:, :, None, None]
    index = np.log(np.maximum(postings_equivalent, 1e-9) / np.maximum(available, 1e-9))
    delta = np.clip(index - recent_index[None, :, :, None], -1.5, 1.5)
    delta = np.where(np.isfinite(delta), delta, 0.0)
    main = supply.weights.argmax(axis=1)
    level_position = {lv: i for i, lv in enumerate(supply.levels)}
    rows = np.array([level_position[lv] for lv in level_of])
    per_programme = delta[:, main, rows, :]  # (samples, programmes, years)
    infield = expit(logit(supply.rates["infield"]) + beta[:, None, None] * per_programme)
    rates = {**supply.rates, "infield": infield}
    product = np.prod([rates[name] for name in RATE_NAMES], axis=0)
    by_field_level = _aggregate(supply.graduates * product, supply.weights, level_of, supply.levels)
    return dataclasses.replace(supply, rates=rates, by_field_level=by_field_level)


def concat_reports(reports: list[pd.DataFrame]) -> pd.DataFrame:
    """The engines' backtest reports as one table (empty, with its columns, if none ran)."""
    kept = [report for report in reports if not report.empty]
    if not kept:
        return pd.DataFrame(columns=list(BACKTEST_COLUMNS))
    return pd.concat(kept, ignore_index=True)


def forecast_frame(kind: str, forecast: Forecast, model: str) -> pd.DataFrame:
    """An engine forecast in the shape of the ``forecasts`` run output."""
    frame = forecast.to_frame()
    parts = frame["series_id"].str.split("|")
    frame.insert(0, "kind", kind)
    if kind == "enrollment":
        frame["programme_code"] = parts.str[0]
        frame["level"] = parts.str[1]
        frame["field_code"] = None
    elif kind in ("hiring", "tightness"):
        frame["programme_code"] = None
        frame["field_code"] = parts.str[0]
        frame["level"] = parts.str[1]
    else:
        frame["programme_code"] = None
        frame["field_code"] = parts.str[1]
        frame["level"] = parts.str[2]
    frame["model"] = model
    return frame


def crosswalk_matrix(
    crosswalk: pd.DataFrame, keys: tuple[str, ...], fields: tuple[str, ...]
) -> np.ndarray:
    """Programme × field crosswalk weights as a matrix (rows sum to 1)."""
    position = {k: i for i, k in enumerate(keys)}
    column = {f: j for j, f in enumerate(fields)}
    matrix = np.zeros((len(keys), len(fields)))
    for code, level, field, weight in crosswalk.loc[
        :, ["programme_code", "level", "field_code", "weight"]
    ].itertuples(index=False):
        matrix[position[programme_key(code, level)], column[field]] = weight
    return matrix


def _aggregate(
    per_programme: np.ndarray, weights: np.ndarray, level_of: np.ndarray, levels: tuple[str, ...]
) -> np.ndarray:
    """(samples, programmes, years) → (samples, fields, levels, years) through the crosswalk."""
    samples, _, years = per_programme.shape
    result = np.zeros((samples, weights.shape[1], len(levels), years))
    for index, level in enumerate(levels):
        mask = level_of == level
        result[:, :, index, :] = np.einsum("spy,pf->sfy", per_programme[:, mask], weights[mask])
    return result


def _fill(rates: pd.Series, levels: pd.Series | np.ndarray) -> pd.Series:
    """Rates with gaps (programmes without outcomes yet) filled by their level's median."""
    level_series = pd.Series(np.asarray(levels), index=rates.index)
    medians = rates.groupby(level_series).transform("median")
    return rates.fillna(medians).fillna(rates.median()).fillna(0.5)


def _level_order(level: str) -> int:
    return LEVELS.index(level) if level in LEVELS else len(LEVELS)
