"""The forecasting engine: backtest the zoo, select and combine, calibrate intervals, forecast.

``ForecastEngine(horizon).fit(panel).predict()`` is what ``talentcast forecast`` and the training
pipeline run. Fitting does four things, each recorded in :attr:`ForecastEngine.report_`:

1. rolling-origin backtest of every candidate model (several windows, refit per window);
2. selection of the best single model or median/mean combination for the panel, scored on the
   pooled backtest rows relative to the (seasonal) naive forecast;
3. calibration of interval quantiles per horizon step from the chosen forecast's backtest errors
   (split-conformal), so that 80% intervals cover about 80% out of sample;
4. the final fit of the chosen members on all data.

Forecasts of counts (series never negative in their history) are kept non-negative.
"""

from __future__ import annotations

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
from forecasting.calibration import Calibration, calibrate
from forecasting.executors import Executor, Progress, executor_for
from forecasting.metrics import coverage, mase, naive_scale, smape
from forecasting.selection import Selection, select
from models.base import DEFAULT_LEVELS, Forecast, ModelError, NotFittedError, normal_quantile
from models.combination import combine_forecasts
from models.registry import REGISTRY

#: Candidate models per frequency, chosen by backtests on the M1 *training* halves: ARIMA and
#: Prophet rarely improved the backtest score enough to pay for costing 3-15 times more (see
#: experiments/benchmarks/results/engine_choices.md); every one must be registered.
DEFAULT_CANDIDATES: Final[dict[str, tuple[str, ...]]] = {
    "Y": ("naive", "drift", "ses", "holt", "damped", "theta", "lightgbm"),
    "Q": ("seasonal_naive", "naive", "ses", "holt", "damped", "theta", "holt_winters", "lightgbm"),
    "M": ("seasonal_naive", "naive", "ses", "holt", "damped", "theta", "holt_winters", "lightgbm"),
}
#: The forecast every score is relative to.
BASELINES: Final[dict[str, str]] = {"Y": "naive", "Q": "seasonal_naive", "M": "seasonal_naive"}

NonNegative = bool | Literal["auto"]


@dataclass
class EngineReport:
    """What the engine did and how well each option did in the backtest."""

    windows: Windows
    candidates: tuple[str, ...]
    selection: Selection
    models: pd.DataFrame
    combinations: pd.DataFrame
    coverage: dict[int, float]
    seconds: dict[str, float] = field(default_factory=dict)


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
        self.n_jobs = n_jobs
        self.executor = executor

    def fit(self, panel: Panel, progress: Progress | None = None) -> Self:
        started = time.perf_counter()
        self._validate()
        candidates = self._candidates(panel.freq)
        baseline = BASELINES[panel.freq]
        refs = [ModelRef(name) for name in dict.fromkeys((baseline, *candidates))]
        windows = self._windows(panel)
        executor = self.executor or executor_for(self.n_jobs)
        levels = tuple(self.levels)

        result = backtest(panel, refs, windows, levels=levels, executor=executor, progress=progress)
        backtested = time.perf_counter()
        if result.n_rows:
            selection, table = select(
                result, list(candidates), baseline, max_members=self.max_members
            )
        else:  # every series too short for a single window: nothing to learn from
            selection, table = Selection((baseline,), "mean", float("nan")), pd.DataFrame()
        combined = selection.combine([result.models[m].mean for m in selection.members])
        self.calibration_: Calibration = self._calibrate(
            panel, result=result, selection=selection, windows=windows, executor=executor
        )
        member_refs = [ModelRef(name) for name in selection.members]
        self.member_forecasts_ = fit_predict(
            panel, member_refs, int(self.horizon), levels=levels, executor=executor
        )
        finished = time.perf_counter()

        self.panel_ = panel
        self.selection_ = selection
        self.backtest_ = result
        self.report_ = EngineReport(
            windows=windows,
            candidates=tuple(candidates),
            selection=selection,
            models=model_table(result, baseline),
            combinations=table,
            coverage=self._backtest_coverage(result, combined, levels),
            seconds={
                "backtest": backtested - started,
                "selection and final fit": finished - backtested,
                "total": finished - started,
            },
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
        scales = np.array(
            [self._interval_scale(y, self.panel_.season_length) for _, y in self.panel_]
        )
        lower, upper = self.calibration_.intervals(point.mean, scales, levels)
        for level in levels:  # no backtest errors to calibrate on: the models' own intervals
            missing = ~np.isfinite(lower[level]) | ~np.isfinite(upper[level])
            if missing.any():
                model_lower, model_upper = _model_bounds(point, level)
                lower[level][missing] = model_lower[missing]
                upper[level][missing] = model_upper[missing]
        mean = point.mean.copy()
        floor = self._floors()
        if floor.any():
            mean[floor] = np.clip(mean[floor], 0, None)
            for level in levels:
                lower[level][floor] = np.clip(lower[level][floor], 0, None)
                upper[level][floor] = np.clip(upper[level][floor], 0, None)
        for level in levels:
            lower[level] = np.minimum(lower[level], mean)
            upper[level] = np.maximum(upper[level], mean)
        forecast = Forecast(point.ids, point.periods, mean, lower, upper, point.fallback)
        _assert_finite(forecast)
        return forecast

    # -- helpers ----------------------------------------------------------------------------

    def _validate(self) -> None:
        if not isinstance(self.horizon, int | np.integer) or self.horizon < 1:
            raise ModelError(f"horizon must be a positive whole number, got {self.horizon!r}")
        if self.windows < 1:
            raise ModelError(f"windows must be at least 1, got {self.windows}")
        if self.step is not None and self.step < 1:
            raise ModelError(f"step must be at least 1, got {self.step}")
        if self.max_members < 1:
            raise ModelError(f"max_members must be at least 1, got {self.max_members}")
        for level in self.levels:
            if not 0 < level < 100:
                raise ModelError(f"interval levels are percentages in (0, 100), got {level}")

    def _candidates(self, freq: str) -> tuple[str, ...]:
        names = tuple(self.models) if self.models else DEFAULT_CANDIDATES[freq]
        unknown = [name for name in names if name not in REGISTRY]
        if unknown:
            raise ModelError(
                f"unknown model(s) {', '.join(unknown)}; registered: {', '.join(REGISTRY)}"
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

    def sample(self, n_samples: int, seed: int | None = None) -> np.ndarray:
        """Joint sample paths of the forecast, shape (n_samples, n_series, horizon).

        Each path adds to the point forecast one whole backtest error path (scaled to the
        series), so errors keep the dependence across steps that the backtest showed: a path
        that starts high stays high. Paths are drawn independently for each series from the
        pooled complete backtest paths (the same pool the intervals are calibrated on); past the
        backtest horizon they grow like a random walk. Without backtest errors, paths are
        normal with the models' own interval widths and fully dependent across steps.
        """
        if not hasattr(self, "member_forecasts_"):
            raise NotFittedError("ForecastEngine is not fitted yet; call fit(panel) first")
        if n_samples < 1:
            raise ModelError(f"n_samples must be positive, got {n_samples}")
        rng = np.random.default_rng(seed)
        forecast = self.predict(levels=(80,))
        mean = forecast.mean
        n_series, horizon = mean.shape
        scales = np.array(
            [self._interval_scale(y, self.panel_.season_length) for _, y in self.panel_]
        )
        errors = self.calibration_.errors
        complete = errors[np.isfinite(errors).all(axis=1)] if errors.size else errors
        if complete.shape[0] == 0:
            spread = (forecast.upper[80] - forecast.lower[80]) / (2 * normal_quantile(80))
            z = rng.standard_normal((n_samples, n_series, 1))
            paths = mean[None] + z * spread[None]
        else:
            rows = rng.integers(0, complete.shape[0], size=(n_samples, n_series))
            known = complete.shape[1]
            steps = np.arange(1, horizon + 1)
            growth = np.sqrt(np.maximum(steps, known) / known)[known:]
            chosen = complete[rows]  # (n_samples, n_series, known)
            if horizon <= known:
                path_errors = chosen[..., :horizon]
            else:
                tail = chosen[..., -1:] * growth[None, None, :]
                path_errors = np.concatenate([chosen, tail], axis=-1)
            paths = mean[None] + scales[None, :, None] * path_errors
        floor = self._floors()
        if floor.any():
            paths[:, floor] = np.clip(paths[:, floor], 0, None)
        return paths

    def _calibrate(
        self,
        panel: Panel,
        *,
        result: BacktestResult,
        selection: Selection,
        windows: Windows,
        executor: Executor,
    ) -> Calibration:
        """Interval quantiles from the chosen forecast's backtest errors.

        With ``near_windows`` the chosen members are also backtested from origins closer to the
        end than a horizon (their first steps only): those forecasts see almost all the history,
        as the real one will, so the early steps are calibrated on the most representative
        errors.
        """
        members = [ModelRef(name) for name in selection.members]
        parts = [(result, selection.combine([result.models[m].mean for m in selection.members]))]
        if self.near_windows and windows.step < windows.horizon and result.n_rows:
            near = backtest(
                panel,
                members,
                Windows(windows.horizon, count=0, step=windows.step, partial=True),
                levels=tuple(self.levels),
                executor=executor,
            )
            if near.n_rows:
                parts.append((near, selection.combine([near.models[m.name].mean for m in members])))
        errors, offsets = [], []
        for part, forecast in parts:
            scales = np.array(
                [self._interval_scale(y, panel.season_length) for y in part.histories(panel)]
            )
            errors.append(calibrate(part.actual, forecast, scales).errors)
            offsets.append(np.array(part.offsets, dtype=int)[part.window])
        if self.nearest_origins is None:  # pool every window
            return Calibration(np.concatenate(errors))
        return Calibration(np.concatenate(errors), np.concatenate(offsets), self.nearest_origins)

    def _interval_scale(self, y: np.ndarray, season_length: int) -> float:
        """The scale interval widths are expressed in (recent volatility with
        ``scale_window``)."""
        return naive_scale(y, season_length, recent=self.scale_window)

    def _floors(self) -> np.ndarray:
        """Series whose forecasts are kept at or above zero."""
        if self.non_negative == "auto":
            return np.array([bool(np.min(y) >= 0) for _, y in self.panel_])
        return np.full(self.panel_.n_series, bool(self.non_negative))

    @staticmethod
    def _backtest_coverage(
        result: BacktestResult, combined: np.ndarray, levels: tuple[int, ...]
    ) -> dict[int, float]:
        """In-sample check of the calibration on the backtest rows themselves."""
        if not result.n_rows:
            return {}
        calibration = calibrate(result.actual, combined, result.scale)
        lower, upper = calibration.intervals(combined, result.scale, levels)
        return {
            level: float(np.mean(coverage(result.actual, lower[level], upper[level])))
            for level in levels
        }


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
    "series",
    "rows",
)


def backtest_report(kind: str, engine: ForecastEngine) -> pd.DataFrame:
    """How every candidate and the engine's own choice did in a fitted engine's backtest.

    One row per model (its model-based interval coverage) and one row ``model == "selected"``
    for the forecast the engine chose, with the coverage of its calibrated intervals on the
    backtest rows; ``relative`` is the M4-style score against the naive baseline on the same
    windows, which makes runs on different data comparable (see
    :mod:`forecasting.promotion`).
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
    }
    table = pd.concat([pd.DataFrame([selected]), table], ignore_index=True)
    table["series"] = engine.panel_.n_series
    table["rows"] = result.n_rows
    for column in BACKTEST_COLUMNS:
        if column not in table.columns:
            table[column] = np.nan
    return table.loc[:, list(BACKTEST_COLUMNS)]


def model_table(result: BacktestResult, baseline: str) -> pd.DataFrame:
    """Backtest accuracy of every model: MASE, sMAPE, relative score, model-interval coverage."""
    rows: list[dict[str, Any]] = []
    if not result.n_rows:
        return pd.DataFrame(rows)
    base = result.models[baseline]
    base_mase = float(np.mean(mase(result.actual, base.mean, result.scale)))
    base_smape = float(np.mean(smape(result.actual, base.mean)))
    for name, predictions in result.models.items():
        model_mase = float(np.mean(mase(result.actual, predictions.mean, result.scale)))
        model_smape = float(np.mean(smape(result.actual, predictions.mean)))
        row: dict[str, Any] = {
            "model": name,
            "MASE": model_mase,
            "sMAPE": model_smape,
            "relative": 0.5 * (model_mase / base_mase + model_smape / base_smape)
            if base_mase > 0 and base_smape > 0
            else np.nan,
            "seconds": predictions.seconds,
            "fallbacks": predictions.fallbacks,
        }
        for level in result.levels:
            row[f"coverage_{level}"] = float(
                np.mean(coverage(result.actual, predictions.lower[level], predictions.upper[level]))
            )
        rows.append(row)
    return pd.DataFrame(rows).sort_values("relative").reset_index(drop=True)


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
