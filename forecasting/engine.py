"""The forecasting engine: backtest the zoo, select and combine, calibrate intervals, forecast.

``ForecastEngine(horizon).fit(panel).predict()`` is what ``talentcast forecast`` and the training
pipeline run. Fitting does four things, each recorded in :attr:`ForecastEngine.report_`:

1. rolling-origin backtest of every candidate model (several windows, refit per window);
2. selection of the best single model or median/mean combination for the panel, scored on the
   pooled backtest rows relative to the (seasonal) naive forecast;
3. calibration of interval quantiles per horizon step from the chosen forecast's backtest errors
   (split-conformal), so that 80% intervals cover about 80% out of sample;
4. the final fit of the chosen members on all data.

The coverage the report (and the quality gate) states is measured out of sample: selection and
calibration are repeated as of the newest backtest origin — on older origins only, cut to what
was known then — and their intervals are scored on that origin's rows (see
:meth:`ForecastEngine._holdout_coverage`). The served forecast still uses every window.

Sample paths (:meth:`ForecastEngine.sample`) are joint across series: each sample is one
backtest cross-section (:mod:`forecasting.joint`), so totals over series have honest widths.

Forecasts of counts (series never negative in their history) are kept non-negative.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Self

import numpy as np
import pandas as pd

from features.panel import Panel
from forecasting.backtest import (
    MIN_WINDOW_HISTORY,
    BacktestResult,
    ModelRef,
    Windows,
    backtest,
    fit_predict,
)
from forecasting.calibration import Calibration, IntervalBasis, calibrate
from forecasting.executors import Executor, Progress, executor_for, shared_pool
from forecasting.joint import JointDraws, OriginErrors
from forecasting.metrics import MIN_SCALE, coverage, mase, naive_scale, smape
from forecasting.selection import SCORES, Score, Selection, relative_score, select
from models.base import (
    DEFAULT_LEVELS,
    Forecast,
    ModelError,
    NotFittedError,
    check_choice,
    check_levels,
    check_whole_number,
    normal_quantile,
)
from models.combination import combine_forecasts
from models.registry import REGISTRY

#: Candidate models per frequency, chosen by backtests on the M1 *training* halves: ARIMA and
#: Prophet rarely improved the backtest score enough to pay for costing 3-15 times more; on
#: yearly series statsforecast's dynamic optimised Theta (``dotm``) in place of the standard
#: Theta improved the held-out end of the training halves (MASE 2.484 vs 2.510, sMAPE 15.17 vs
#: 15.51) at the same coverage (see experiments/benchmarks/results/engine_choices.md); AutoETS
#: and AutoTheta changed nothing there. Complex exponential smoothing (``auto_ces``) improved
#: it (MASE 2.421, sMAPE 14.70) but is not a default: on short, noisy histories (six values of
#: a handful of counts) it can overshoot the whole history at the first step, and the
#: samples of tiny series then inherit that miss (tests/forecasting/test_counts.py). Every
#: one must be registered.
DEFAULT_CANDIDATES: Final[dict[str, tuple[str, ...]]] = {
    "Y": ("naive", "drift", "ses", "holt", "damped", "dotm", "lightgbm"),
    "Q": ("seasonal_naive", "naive", "ses", "holt", "damped", "theta", "holt_winters", "lightgbm"),
    "M": ("seasonal_naive", "naive", "ses", "holt", "damped", "theta", "holt_winters", "lightgbm"),
}
#: The forecast every score is relative to.
BASELINES: Final[dict[str, str]] = {"Y": "naive", "Q": "seasonal_naive", "M": "seasonal_naive"}

#: Share of the error variance taken as common to all series when there are no backtest errors
#: to measure it on: between independence (totals far too sure under a shared shock) and one
#: shock for all (totals as wide as the sum of the series' widths).
FALLBACK_COMMON_SHARE: Final = 0.5

#: Quantiles that map sampled errors onto the calibrated ones (:func:`_match_marginals`), and
#: how many sampled values at most they are read from.
MARGINAL_GRID: Final = 1000
MARGINAL_THINNED: Final = 200_000

NonNegative = bool | Literal["auto"]


@dataclass
class EngineReport:
    """What the engine did and how well each option did in the backtest.

    ``coverage`` is the out-of-sample coverage of the calibrated intervals per level, scored
    on the ``coverage_rows`` rows (series) of the newest backtest origin, ``coverage_offset``
    steps before the end (NaN, 0 and ``None`` when no older origin was left to calibrate on).
    """

    windows: Windows
    candidates: tuple[str, ...]
    selection: Selection
    models: pd.DataFrame
    combinations: pd.DataFrame
    coverage: dict[int, float]
    coverage_rows: int = 0
    coverage_offset: int | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    #: What each level's served intervals rest on (thin backtests fall back to a t fit).
    intervals: tuple[IntervalBasis, ...] = ()

    def interval_notes(self) -> list[str]:
        """One sentence per level whose intervals are not plain backtest error quantiles."""
        return [basis.describe() for basis in self.intervals if basis.basis != "backtest quantiles"]


@dataclass(frozen=True)
class ChosenRows:
    """The chosen forecast's backtest rows: actuals and forecasts (rows, horizon; NaN where the
    origin is closer to the end than the step), interval scales, origin offsets and panel
    positions (rows,)."""

    actual: np.ndarray
    forecast: np.ndarray
    scale: np.ndarray
    offsets: np.ndarray
    series: np.ndarray

    def calibration(self, nearest: int | None) -> Calibration:
        return calibrate(self.actual, self.forecast, self.scale, self.offsets, nearest)


@dataclass(frozen=True)
class HoldoutCoverage:
    """Coverage per level of intervals calibrated as of origin ``offset`` and scored on its
    ``rows`` rows, and the selection made as of then."""

    coverage: dict[int, float]
    rows: int = 0
    offset: int | None = None
    selection: Selection | None = None


class ForecastEngine:
    """Forecasts every series of a panel ``horizon`` steps ahead with calibrated intervals.

    Parameters are stored as given (scikit-learn style); ``fit`` validates them. ``models``
    are registry names (default: :data:`DEFAULT_CANDIDATES` for the panel's frequency);
    ``windows``/``step`` set the backtest (default: 2 windows, ``step = max(1, horizon // 2)``);
    ``max_members`` bounds combinations; ``n_jobs`` > 1 (or -1 for all cores) runs tasks in
    worker processes unless an ``executor`` is given. Intervals: ``near_windows`` also backtests
    the chosen members from origins closer to the end than a horizon, ``nearest_origins``
    calibrates each step on that many closest origins reaching it (``None``: all windows), and
    ``scale_window`` measures series volatility over the last that many changes only.
    ``score`` is what candidates are selected on (:mod:`forecasting.selection`): ``"owa"``
    (relative sMAPE and MASE) or ``"mase"`` (relative MASE only, for panels of values around
    zero such as logit rates and log ratios, on which sMAPE is unstable).
    ``bounded_misses`` is for panels whose errors are comparable across series in the panel's
    own units (the log scale, where an error is a ratio): no interval or sample path then
    strays further from the forecast, at any step, than the largest miss of any backtest
    forecast at that step (:meth:`~forecasting.calibration.Calibration.largest_misses`).

    Why that bound: errors are pooled as multiples of each series' naive scale, and a scaled
    error is transplanted onto series of any scale. A steady series (a scale of 0.02 on the
    log scale) that then breaks trend misses by 20-30 of its scales; put on a series of a
    handful of counts, whose log scale is 0.7 from noise alone, the same multiple becomes a
    log error of 15-20 — a factor of millions that no forecast in the backtest ever missed by.
    """

    def __init__(
        self,
        horizon: int,
        *,
        models: Sequence[str] | None = None,
        levels: Sequence[int] = DEFAULT_LEVELS,
        windows: int = 2,
        step: int | None = None,
        max_members: int = 4,
        non_negative: NonNegative = "auto",
        scale_window: int | None = None,
        near_windows: bool = True,
        nearest_origins: int | None = 2,
        bounded_misses: bool = False,
        score: Score = "owa",
        n_jobs: int = 1,
        executor: Executor | None = None,
    ) -> None:
        self.horizon = horizon
        self.models = models
        self.levels = levels
        self.windows = windows
        self.step = step
        self.max_members = max_members
        self.non_negative = non_negative
        self.scale_window = scale_window
        self.near_windows = near_windows
        self.nearest_origins = nearest_origins
        self.bounded_misses = bounded_misses
        self.score = score
        self.n_jobs = n_jobs
        self.executor = executor

    def fit(self, panel: Panel, progress: Progress | None = None) -> Self:
        """Backtest, select, calibrate and fit the chosen members (module docstring).

        Without an ``executor``, the worker processes ``n_jobs`` asks for are started once for
        the whole fit: it maps four times (backtest, near backtest, holdout, final fit), and a
        spawned process pays the model libraries' import, about a second, every time a pool
        starts — on a few hundred annual series more than the fits themselves.
        """
        self._validate()
        if self.executor is not None:
            return self._fit(panel, progress, self.executor)
        with shared_pool(self.n_jobs):
            return self._fit(panel, progress, executor_for(self.n_jobs))

    def _fit(self, panel: Panel, progress: Progress | None, executor: Executor) -> Self:
        started = time.perf_counter()
        candidates = self._candidates(panel.freq)
        baseline = BASELINES[panel.freq]
        refs = [ModelRef(name) for name in dict.fromkeys((baseline, *candidates))]
        windows = self._windows(panel)
        levels = tuple(self.levels)

        result = backtest(panel, refs, windows, levels=levels, executor=executor, progress=progress)
        backtested = time.perf_counter()
        if result.n_rows:
            selection, table = select(
                result, list(candidates), baseline, max_members=self.max_members, score=self.score
            )
        else:  # every series too short for a single window: nothing to learn from
            selection, table = Selection((baseline,), "mean", float("nan")), pd.DataFrame()
        parts = [result]
        near = self._near_backtest(panel, result, selection.members, windows, executor)
        if near is not None:
            parts.append(near)
        scales = [self._row_scales(panel, part) for part in parts]
        self.calibration_: Calibration = _chosen_rows(parts, scales, selection).calibration(
            self.nearest_origins
        )
        holdout = self._holdout_coverage(
            panel,
            parts=parts,
            scales=scales,
            candidates=candidates,
            baseline=baseline,
            windows=windows,
            executor=executor,
        )
        member_refs = [ModelRef(name) for name in selection.members]
        self.member_forecasts_ = fit_predict(
            panel, member_refs, int(self.horizon), levels=levels, executor=executor
        )
        finished = time.perf_counter()

        self.panel_ = panel
        self.selection_ = selection
        self.backtest_ = result
        paths, origins = self.calibration_.complete_paths()
        self.origin_errors_: OriginErrors | None = (
            OriginErrors.from_errors(paths, origins) if paths.shape[0] else None
        )
        self.report_ = EngineReport(
            windows=windows,
            candidates=tuple(candidates),
            selection=selection,
            models=model_table(result, baseline, self.score),
            combinations=table,
            coverage=holdout.coverage,
            coverage_rows=holdout.rows,
            coverage_offset=holdout.offset,
            seconds={
                "backtest": backtested - started,
                "selection and final fit": finished - backtested,
                "total": finished - started,
            },
            intervals=tuple(self.calibration_.basis(int(level)) for level in sorted(levels)),
        )
        return self

    def predict(self, levels: Sequence[int] | None = None) -> Forecast:
        """The combined forecast with calibrated intervals at ``levels`` (default: the
        engine's levels)."""
        if not hasattr(self, "member_forecasts_"):
            raise NotFittedError("ForecastEngine is not fitted yet; call fit(panel) first")
        levels = tuple(self.levels if levels is None else levels)
        members = [self.member_forecasts_[name] for name in self.selection_.members]
        point = combine_forecasts(members, self.selection_.method, self.selection_.weights)
        scales = self._series_scales()
        lower, upper = self.calibration_.intervals(point.mean, scales, levels)
        for level in levels:  # no backtest errors to calibrate on: the models' own intervals
            missing = ~np.isfinite(lower[level]) | ~np.isfinite(upper[level])
            if missing.any():
                model_lower, model_upper = _model_bounds(point, level)
                lower[level][missing] = model_lower[missing]
                upper[level][missing] = model_upper[missing]
        _within(point.mean, lower, upper, self._miss_bound(self.calibration_, point.mean.shape[1]))
        mean = _bounded(point.mean, lower, upper, _count_series(self.panel_, self.non_negative))
        _nest(lower, upper)
        forecast = Forecast(point.ids, point.periods, mean, lower, upper, point.fallback)
        _assert_finite(forecast)
        return forecast

    # -- helpers ----------------------------------------------------------------------------

    def _validate(self) -> None:
        check_whole_number("horizon", self.horizon)
        check_whole_number("windows", self.windows)
        check_whole_number("step", self.step, optional=True)
        check_whole_number("max_members", self.max_members)
        check_levels(self.levels)
        check_choice("score", self.score, SCORES)

    def _candidates(self, freq: str) -> tuple[str, ...]:
        names = tuple(self.models) if self.models else DEFAULT_CANDIDATES[freq]
        unknown = [name for name in names if name not in REGISTRY]
        if unknown:
            raise ModelError(
                f"unknown model(s) {', '.join(unknown)}; registered: {', '.join(REGISTRY)}"
            )
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ModelError(
                f"model(s) {', '.join(repeated)} named more than once in models; "
                "name each model once"
            )
        usable = tuple(n for n in names if freq in REGISTRY[n].family.frequencies)
        if not usable:
            raise ModelError(f"none of the models {', '.join(names)} forecasts {freq} series")
        return usable

    def _windows(self, panel: Panel) -> Windows:
        """Backtest windows, with a backtest horizon shortened when the history is too short.

        Ten years ahead on ten years of history leaves no full window; backtesting the longest
        horizon that half of the series can afford still chooses the models on honest errors,
        and the calibration extends the interval widths beyond it (like a random walk).
        """
        horizon = int(self.horizon)
        typical = int(np.median(panel.lengths))
        for candidate in range(horizon, 0, -1):
            step = self.step or max(1, candidate // 2)
            if typical - candidate - (int(self.windows) - 1) * step >= MIN_WINDOW_HISTORY:
                return Windows(candidate, int(self.windows), step)
        return Windows(horizon, int(self.windows), self.step or max(1, horizon // 2))

    def sample(
        self, n_samples: int, seed: int | None = None, joint: JointDraws | None = None
    ) -> np.ndarray:
        """Joint sample paths of the forecast, shape (n_samples, n_series, horizon).

        Each path adds to the point forecast a whole backtest error path (scaled to the
        series), so errors keep the dependence across steps that the backtest showed: a path
        that starts high stays high. A sample is one backtest cross-section
        (:class:`~forecasting.joint.OriginErrors`): one origin for every series — that origin's
        common error path, kernel-smoothed, plus a residual path drawn per series from the same
        origin — so series that erred together in the backtest err together in the samples and
        totals over series get honest widths. ``joint`` (one per run, shared by every engine)
        makes engines draw the same origins; without it the engine draws its own. Every
        complete backtest path takes part (the more origins, the better the common part is
        measured); each step's values are then mapped onto the errors that step's intervals
        are calibrated on, keeping their ranks, so each series' spread is the one
        :meth:`predict` states. Past the backtest horizon paths grow like a random walk. With
        ``bounded_misses`` no path strays further than the largest backtest miss at its step.

        Without backtest errors paths are normal with the models' own interval widths, fully
        dependent across steps, with :data:`FALLBACK_COMMON_SHARE` of the variance shared by
        all series of the engine (nothing to measure the dependence on; engines keep their own
        common draw, so no dependence between engines is assumed either).
        """
        if not hasattr(self, "member_forecasts_"):
            raise NotFittedError("ForecastEngine is not fitted yet; call fit(panel) first")
        check_whole_number("n_samples", n_samples)
        if joint is not None and joint.n_samples != n_samples:
            raise ModelError(
                f"joint draws hold {joint.n_samples} samples, but {n_samples} were asked for"
            )
        rng = np.random.default_rng(seed)
        forecast = self.predict(levels=(80,))
        mean = forecast.mean
        n_series, horizon = mean.shape
        factors = self.origin_errors_
        if factors is None:
            spread = (forecast.upper[80] - forecast.lower[80]) / (2 * normal_quantile(80))
            shared = rng.standard_normal((n_samples, 1, 1))
            own = rng.standard_normal((n_samples, n_series, 1))
            z = np.sqrt(FALLBACK_COMMON_SHARE) * shared + np.sqrt(1 - FALLBACK_COMMON_SHARE) * own
            paths = mean[None] + z * spread[None]
        else:
            joint = joint if joint is not None else JointDraws(rng.random(n_samples))
            origin = joint.origin_index(factors.n_origins)
            chosen = _match_marginals(factors.draw(origin, n_series, rng), self.calibration_)
            known = factors.steps
            if horizon <= known:
                path_errors = chosen[..., :horizon]
            else:
                growth = np.sqrt(np.arange(known + 1, horizon + 1) / known)
                tail = chosen[..., -1:] * growth[None, None, :]
                path_errors = np.concatenate([chosen, tail], axis=-1)
            paths = mean[None] + self._series_scales()[None, :, None] * path_errors
        bound = self._miss_bound(self.calibration_, horizon)[None, None, :]
        paths = np.clip(paths, mean[None] - bound, mean[None] + bound)
        floor = _count_series(self.panel_, self.non_negative)
        if floor.any():
            paths[:, floor] = np.clip(paths[:, floor], 0, None)
        return paths

    def _miss_bound(self, calibration: Calibration, steps: int) -> np.ndarray:
        """How far (series units, per step) intervals and samples may stray from the
        forecast: the largest miss in ``calibration`` with ``bounded_misses``, else no bound."""
        if not self.bounded_misses:
            return np.full(steps, np.inf)
        return calibration.largest_misses(steps)

    def _near_backtest(
        self,
        panel: Panel,
        result: BacktestResult,
        members: Sequence[str],
        windows: Windows,
        executor: Executor,
    ) -> BacktestResult | None:
        """The chosen members backtested from origins closer to the end than a horizon (their
        first steps only), or ``None`` without ``near_windows``.

        Those forecasts see almost all the history, as the real one will, so the early steps
        are calibrated on the most representative errors — and the newest of them is where
        the out-of-sample coverage is scored.
        """
        if not (self.near_windows and windows.step < windows.horizon and result.n_rows):
            return None
        near = backtest(
            panel,
            [ModelRef(name) for name in members],
            Windows(windows.horizon, count=0, step=windows.step, partial=True),
            levels=tuple(self.levels),
            executor=executor,
        )
        return near if near.n_rows else None

    def _holdout_coverage(
        self,
        panel: Panel,
        *,
        parts: list[BacktestResult],
        scales: list[np.ndarray],
        candidates: Sequence[str],
        baseline: str,
        windows: Windows,
        executor: Executor,
    ) -> HoldoutCoverage:
        """Coverage of the served interval procedure, out of sample.

        The newest backtest origin (a near-end window when there are any: the most recent
        data) is held out. As of that origin, the forecast is selected and the intervals are
        calibrated exactly as for the served forecast (same candidates, same nearest-origins
        rule), but only on older origins, each cut to the steps whose actuals were known
        then; the resulting intervals are scored on the held-out origin's rows. Nothing
        scored, and nothing observed after the held-out origin, went into the selection or
        the calibration. Coverage on the rows the calibration was fitted on says nothing: it
        is close to nominal by construction, even after a volatility break.
        """
        levels = tuple(self.levels)
        missing = HoldoutCoverage({level: float("nan") for level in levels})
        result = parts[0]
        if not result.n_rows:
            return missing
        offsets = [np.asarray(part.offsets, dtype=int)[part.window] for part in parts]
        newest = int(min(int(o.min()) for o in offsets))
        full = offsets[0]
        older = np.flatnonzero(full > newest)
        if older.size == 0:
            return missing
        known = np.arange(result.horizon)[None, :] < (full - newest)[:, None]
        then = dataclasses.replace(result, actual=np.where(known, result.actual, np.nan))
        selection, _ = select(
            then,
            list(candidates),
            baseline,
            rows=older,
            max_members=self.max_members,
            score=self.score,
        )
        if len(parts) > 1:  # near-end windows were backtested for the served members only
            near = self._add_members(panel, parts[1], selection.members, windows, executor)
            parts = [result, near]
        rows = _chosen_rows(parts, scales, selection)
        calibration = rows.calibration(self.nearest_origins).as_of(newest)
        scored = (
            (rows.offsets == newest)
            & (rows.scale > MIN_SCALE)
            & np.isfinite(rows.actual).any(axis=1)
        )
        if calibration.empty or not scored.any():
            return dataclasses.replace(missing, offset=newest, selection=selection)
        forecast = rows.forecast[scored]
        lower, upper = calibration.intervals(forecast, rows.scale[scored], levels)
        _within(forecast, lower, upper, self._miss_bound(calibration, forecast.shape[1]))
        floor = _count_series(panel, self.non_negative)[rows.series[scored]]
        _bounded(forecast, lower, upper, floor)
        actual = rows.actual[scored]
        shares = {
            level: float(np.mean(coverage(actual, lower[level], upper[level]))) for level in levels
        }
        return HoldoutCoverage(shares, int(scored.sum()), newest, selection)

    @staticmethod
    def _add_members(
        panel: Panel,
        near: BacktestResult,
        members: Sequence[str],
        windows: Windows,
        executor: Executor,
    ) -> BacktestResult:
        """The near-end backtest ``near`` with forecasts of every model in ``members``
        (backtesting those it lacks on the same windows, which give the same rows)."""
        lacking = [name for name in members if name not in near.models]
        if not lacking:
            return near
        extra = backtest(
            panel,
            [ModelRef(name) for name in lacking],
            Windows(windows.horizon, count=0, step=windows.step, partial=True),
            levels=near.levels,
            executor=executor,
        )
        if not np.array_equal(extra.series, near.series):  # pragma: no cover - same cut
            raise RuntimeError("near-end windows of the held-out check do not line up")
        return dataclasses.replace(near, models={**near.models, **extra.models})

    def _row_scales(self, panel: Panel, part: BacktestResult) -> np.ndarray:
        """The interval scale of each backtest row, from the history at its origin."""
        return np.array(
            [self._interval_scale(y, panel.season_length) for y in part.histories(panel)]
        )

    def _series_scales(self) -> np.ndarray:
        """The interval scale of each series of the fitted panel, from its whole history."""
        return np.array(
            [self._interval_scale(y, self.panel_.season_length) for _, y in self.panel_]
        )

    def _interval_scale(self, y: np.ndarray, season_length: int) -> float:
        """The scale interval widths are expressed in (recent volatility with
        ``scale_window``)."""
        return naive_scale(y, season_length, recent=self.scale_window)


#: Columns of :func:`backtest_report` (what a run records about each engine's backtest).
BACKTEST_COLUMNS: Final = (
    "kind",
    "model",
    "chosen",
    "mase",
    "smape",
    "relative",
    "coverage_80",
    "coverage_95",
    "coverage_rows",
    "intervals",
    "score",
    "series",
    "rows",
)


def backtest_report(kind: str, engine: ForecastEngine) -> pd.DataFrame:
    """How every candidate and the engine's own choice did in a fitted engine's backtest.

    One row per model (its model-based interval coverage on all backtest rows) and one row
    ``model == "selected"`` for the forecast the engine chose, with the out-of-sample coverage
    of its calibrated intervals: calibrated on older origins, scored on the ``coverage_rows``
    rows of the newest one (:meth:`ForecastEngine._holdout_coverage`) — what the quality gate
    judges. ``relative`` is the engine's selection score against the naive baseline on the
    same windows (``score``: ``owa``, the mean of relative MASE and sMAPE, or ``mase``), which
    makes runs on different data comparable (see :mod:`forecasting.promotion`).
    ``intervals`` says, for the selected row, what each level's served intervals rest on
    (backtest quantiles, or the t-fit fallback when the backtest is thin).
    """
    if not hasattr(engine, "report_"):
        raise NotFittedError("ForecastEngine is not fitted yet; call fit(panel) first")
    report = engine.report_
    result = engine.backtest_
    if report.models.empty or not result.n_rows:
        return pd.DataFrame(columns=list(BACKTEST_COLUMNS))
    table = report.models.rename(
        columns={"MASE": "mase", "sMAPE": "smape", "coverage_80": "coverage_80"}
    )
    table["kind"] = kind
    table["chosen"] = table["model"].isin(report.selection.members)
    combined = report.selection.combine([result.models[m].mean for m in report.selection.members])
    selected = {
        "kind": kind,
        "model": "selected",
        "chosen": True,
        "mase": float(np.mean(mase(result.actual, combined, result.scale))),
        "smape": float(np.mean(smape(result.actual, combined))),
        "relative": report.selection.score,
        "coverage_80": report.coverage.get(80, np.nan),
        "coverage_95": report.coverage.get(95, np.nan),
        "coverage_rows": report.coverage_rows,
        "intervals": "; ".join(basis.describe() for basis in report.intervals),
    }
    table["coverage_rows"] = result.n_rows
    table["score"] = engine.score
    table = pd.concat([pd.DataFrame([selected]), table], ignore_index=True)
    table["series"] = engine.panel_.n_series
    table["rows"] = result.n_rows
    for column in BACKTEST_COLUMNS:
        if column not in table.columns:
            table[column] = np.nan
    return table.loc[:, list(BACKTEST_COLUMNS)]


def model_table(result: BacktestResult, baseline: str, score: Score = "owa") -> pd.DataFrame:
    """Backtest accuracy of every model: MASE, sMAPE, the ``relative`` score the engine selects
    on (:func:`~forecasting.selection.relative_score`), model-interval coverage."""
    rows: list[dict[str, Any]] = []
    if not result.n_rows:
        return pd.DataFrame(rows)
    every = np.arange(result.n_rows)
    for name, predictions in result.models.items():
        row: dict[str, Any] = {
            "model": name,
            "MASE": float(np.mean(mase(result.actual, predictions.mean, result.scale))),
            "sMAPE": float(np.mean(smape(result.actual, predictions.mean))),
            "relative": relative_score(result, predictions.mean, every, baseline, score),
            "seconds": predictions.seconds,
            "fallbacks": predictions.fallbacks,
        }
        for level in result.levels:
            row[f"coverage_{level}"] = float(
                np.mean(coverage(result.actual, predictions.lower[level], predictions.upper[level]))
            )
        rows.append(row)
    return pd.DataFrame(rows).sort_values("relative").reset_index(drop=True)


def _chosen_rows(
    parts: Sequence[BacktestResult], scales: Sequence[np.ndarray], selection: Selection
) -> ChosenRows:
    """The rows of every backtest in ``parts`` (with their interval ``scales``) for the forecast
    ``selection`` prescribes."""
    return ChosenRows(
        actual=np.concatenate([part.actual for part in parts]),
        forecast=np.concatenate(
            [selection.combine([part.models[m].mean for m in selection.members]) for part in parts]
        ),
        scale=np.concatenate(list(scales)),
        offsets=np.concatenate([np.asarray(p.offsets, dtype=int)[p.window] for p in parts]),
        series=np.concatenate([part.series for part in parts]),
    )


def _match_marginals(errors: np.ndarray, calibration: Calibration) -> np.ndarray:
    """Sampled scaled errors (samples, series, steps) with each step's values, pooled over
    samples and series, mapped monotonically onto the errors that step's intervals are
    calibrated on.

    The cross-section draws give the dependence (across series, steps and engines) from every
    complete backtest path; the intervals calibrate each step on its nearest origins, near-end
    windows included. Mapping ranks to the calibrated quantiles makes every series' sampled
    spread the one :meth:`ForecastEngine.predict` states (near identity when the two agree)
    while keeping the ranks, and so the dependence, of the draws. ``errors`` is changed in
    place (the draws are fresh and large) and returned.
    """
    grid = np.linspace(0, 1, MARGINAL_GRID + 1)
    mapped = errors
    for step in range(min(errors.shape[-1], calibration.horizon)):
        target = calibration.step_errors(step)
        values = errors[..., step]
        if target.size < 2 or np.ptp(values) == 0:
            continue
        flat = values.ravel()
        thinned = flat[:: max(1, flat.size // MARGINAL_THINNED)]
        drawn = np.quantile(thinned, grid)
        mapped[..., step] = np.interp(values, drawn, np.quantile(target, grid))
    return mapped


def _count_series(panel: Panel, non_negative: NonNegative) -> np.ndarray:
    """Series whose forecasts are kept at or above zero."""
    if non_negative == "auto":
        return np.array([bool(np.min(y) >= 0) for _, y in panel])
    return np.full(panel.n_series, bool(non_negative))


def _bounded(
    mean: np.ndarray,
    lower: dict[int, np.ndarray],
    upper: dict[int, np.ndarray],
    floor: np.ndarray,
) -> np.ndarray:
    """Clip the rows ``floor`` marks (count series) at zero and keep every interval around the
    mean; bounds are changed in place, the clipped mean is returned."""
    mean = mean.copy()
    if floor.any():
        mean[floor] = np.clip(mean[floor], 0, None)
        for bounds in (lower, upper):
            for values in bounds.values():
                values[floor] = np.clip(values[floor], 0, None)
    for level, values in lower.items():
        lower[level] = np.minimum(values, mean)
    for level, values in upper.items():
        upper[level] = np.maximum(values, mean)
    return mean


def _nest(lower: dict[int, np.ndarray], upper: dict[int, np.ndarray]) -> None:
    """Make each level's interval contain every lower level's, in place: calibrated and
    model-based bounds, clipped at zero or at the miss bound, could otherwise cross."""
    levels = sorted(lower)
    for below, level in itertools.pairwise(levels):
        lower[level] = np.minimum(lower[level], lower[below])
        upper[level] = np.maximum(upper[level], upper[below])


def _within(
    mean: np.ndarray, lower: dict[int, np.ndarray], upper: dict[int, np.ndarray], bound: np.ndarray
) -> None:
    """Narrow the intervals in place to ``mean`` ± ``bound`` (per step)."""
    for level, values in lower.items():
        lower[level] = np.maximum(values, mean - bound)
    for level, values in upper.items():
        upper[level] = np.minimum(values, mean + bound)


def _model_bounds(forecast: Forecast, level: int) -> tuple[np.ndarray, np.ndarray]:
    """The members' own interval at ``level``; other levels are rescaled from the nearest one
    the members produced, as for a normal distribution."""
    if level in forecast.lower:
        return forecast.lower[level], forecast.upper[level]
    nearest = min(forecast.levels, key=lambda known: abs(known - level))
    ratio = normal_quantile(level) / normal_quantile(nearest)
    lower = forecast.mean - ratio * (forecast.mean - forecast.lower[nearest])
    upper = forecast.mean + ratio * (forecast.upper[nearest] - forecast.mean)
    return lower, upper


def _assert_finite(forecast: Forecast) -> None:
    arrays = [forecast.mean, *forecast.lower.values(), *forecast.upper.values()]
    if not all(np.isfinite(a).all() for a in arrays):  # pragma: no cover - models fall back
        raise ModelError("the engine produced non-finite forecasts; please report this")
