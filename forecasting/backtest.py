"""Rolling-origin backtests: how each model would have done on the recent past.

A backtest window cuts the last ``offset`` observations of every series, refits every model on
what remains and forecasts ``horizon`` steps; the cut values are the actuals. Several windows
(origins ``horizon``, ``horizon + step``, ...) give several honest out-of-sample errors per
series. Local models run as chunks of series, global models as one task per window, all through
an :class:`~forecasting.executors.Executor`, so the same code runs serially, on local cores or on
a cluster.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from features.panel import Panel
from forecasting.executors import Executor, Progress, SerialExecutor
from forecasting.metrics import naive_scale
from models.base import DEFAULT_LEVELS, Forecast
from models.registry import REGISTRY, create

#: Fewest observations a series must keep in a window to take part in it.
MIN_WINDOW_HISTORY = 3


@dataclass(frozen=True)
class ModelRef:
    """A picklable reference to a registered model with parameter overrides."""

    name: str
    params: tuple[tuple[str, Any], ...] = ()

    def create(self, horizon: int | None = None) -> Any:
        """The model, made for forecasting ``horizon`` steps when that is known."""
        return create(self.name, horizon=horizon, **dict(self.params))

    @property
    def is_global(self) -> bool:
        return REGISTRY[self.name].family.is_global


@dataclass(frozen=True)
class Windows:
    """Backtest origins, as offsets (steps before the end of each series).

    ``count`` full windows: the most recent ``horizon`` steps before the end, each earlier one
    ``step`` further back. With ``partial``, also the origins ``step``, ``2·step``, … steps
    before the end that are closer than a horizon: only their first steps have actuals, but they
    see almost all of the history, as the real forecast will (on short monthly series, a window
    a full 18 months back fits on noticeably less data and errs more than the real forecast).
    """

    horizon: int
    count: int = 2
    step: int = 1
    partial: bool = False

    def offsets(self) -> list[int]:
        near = list(range(self.step, self.horizon, self.step)) if self.partial else []
        return near + [self.horizon + window * self.step for window in range(self.count)]


@dataclass
class Predictions:
    """Forecasts of one model for every (window, series) observation of a backtest."""

    mean: np.ndarray
    lower: dict[int, np.ndarray]
    upper: dict[int, np.ndarray]
    seconds: float = 0.0
    fallbacks: int = 0


@dataclass
class BacktestResult:
    """Actuals and model forecasts, one row per (window, series) that took part.

    ``series`` holds positions in the panel, ``window`` the window number (0 = most recent),
    ``scale`` the MASE denominator of the series' history at that origin.
    """

    horizon: int
    levels: tuple[int, ...]
    series: np.ndarray
    window: np.ndarray
    actual: np.ndarray
    scale: np.ndarray
    offsets: tuple[int, ...] = ()
    models: dict[str, Predictions] = field(default_factory=dict)

    def histories(self, panel: Panel) -> list[np.ndarray]:
        """The history each row's forecast was made from (the series up to its origin)."""
        return [
            panel.series(int(p))[: len(panel.series(int(p))) - self.offsets[w]]
            for p, w in zip(self.series, self.window, strict=True)
        ]

    @property
    def n_rows(self) -> int:
        return len(self.series)


@dataclass(frozen=True)
class _Task:
    panel: Panel
    positions: np.ndarray
    models: tuple[ModelRef, ...]
    offsets: tuple[int, ...]
    horizon: int
    levels: tuple[int, ...]


def backtest(
    panel: Panel,
    models: Sequence[ModelRef],
    windows: Windows,
    *,
    levels: Sequence[int] = DEFAULT_LEVELS,
    executor: Executor | None = None,
    chunk_size: int = 50,
    progress: Progress | None = None,
) -> BacktestResult:
    """Run every model on every window and collect forecasts next to the actuals."""
    executor = executor or SerialExecutor()
    levels = tuple(levels)
    offsets = tuple(windows.offsets())
    tasks = _tasks(
        panel,
        models,
        offsets=offsets,
        horizon=windows.horizon,
        levels=levels,
        chunk_size=chunk_size,
    )
    outputs = executor.map(_run_task, tasks, progress)
    return _assemble(
        panel,
        outputs=outputs,
        names=[m.name for m in models],
        offsets=offsets,
        horizon=windows.horizon,
        levels=levels,
    )


def fit_predict(
    panel: Panel,
    models: Sequence[ModelRef],
    horizon: int,
    *,
    levels: Sequence[int] = DEFAULT_LEVELS,
    executor: Executor | None = None,
    chunk_size: int = 50,
    progress: Progress | None = None,
) -> dict[str, Forecast]:
    """Fit every model on the whole panel and forecast ``horizon`` steps (the final fit)."""
    executor = executor or SerialExecutor()
    tasks = _tasks(
        panel, models, offsets=(0,), horizon=horizon, levels=tuple(levels), chunk_size=chunk_size
    )
    parts: dict[str, list[tuple[np.ndarray, Forecast]]] = {m.name: [] for m in models}
    for output in executor.map(_run_task, tasks, progress):
        for _, name, positions, forecast, _ in output:
            parts[name].append((positions, forecast))
    return {name: _stitch(panel, pieces) for name, pieces in parts.items()}


def _stitch(panel: Panel, pieces: list[tuple[np.ndarray, Forecast]]) -> Forecast:
    """One forecast for the whole panel, in panel order, from per-chunk forecasts."""
    order = np.argsort(np.concatenate([positions for positions, _ in pieces]))
    forecasts = [forecast for _, forecast in pieces]
    ids = [series_id for f in forecasts for series_id in f.ids]
    periods = [index for f in forecasts for index in f.periods]
    levels = forecasts[0].levels
    stitched = Forecast(
        tuple(ids[i] for i in order),
        tuple(periods[i] for i in order),
        np.concatenate([f.mean for f in forecasts])[order],
        {lv: np.concatenate([f.lower[lv] for f in forecasts])[order] for lv in levels},
        {lv: np.concatenate([f.upper[lv] for f in forecasts])[order] for lv in levels},
        tuple(name for f in forecasts for name in f.fallback),
    )
    if stitched.ids != panel.ids:  # pragma: no cover - tasks cover every series exactly once
        raise RuntimeError("final forecasts do not cover the panel")
    return stitched


def _tasks(
    panel: Panel,
    models: Sequence[ModelRef],
    *,
    offsets: tuple[int, ...],
    horizon: int,
    levels: tuple[int, ...],
    chunk_size: int,
) -> list[_Task]:
    """Local models in chunks of series (all windows per chunk), global models per window."""
    local = tuple(m for m in models if not m.is_global)
    tasks: list[_Task] = []
    positions = np.arange(panel.n_series)
    if local:
        for start in range(0, panel.n_series, chunk_size):
            chunk = positions[start : start + chunk_size]
            tasks.append(_Task(panel.take(chunk), chunk, local, offsets, horizon, levels))
    for model in (m for m in models if m.is_global):
        for offset in offsets:
            tasks.append(_Task(panel, positions, (model,), (offset,), horizon, levels))
    return tasks


def cut_window(panel: Panel, offset: int, horizon: int) -> tuple[Panel, np.ndarray, np.ndarray]:
    """The history at an origin ``offset`` steps before the end, the positions of the series
    that keep enough history, and their next ``horizon`` actual values (NaN beyond the end when
    the origin is closer than a horizon)."""
    history, kept = panel.drop_last(offset, min_length=MIN_WINDOW_HISTORY)
    actual = np.full((kept.size, horizon), np.nan)
    for row, position in enumerate(kept):
        values = panel.series(int(position))
        known = values[len(values) - offset :][:horizon]
        actual[row, : known.size] = known
    return history, kept, actual


def _run_task(task: _Task) -> list[tuple[int, str, np.ndarray, Forecast, float]]:
    """Forecasts of every model of the task for every window: (offset, model, positions, …).

    BLAS is held to one thread: the tasks are thousands of tiny fits, which multi-threaded
    BLAS only slows down (up to tenfold when processes compete for the cores).
    """
    with threadpool_limits(limits=1):
        return _run_models(task)


def _run_models(task: _Task) -> list[tuple[int, str, np.ndarray, Forecast, float]]:
    results = []
    for offset in task.offsets:
        if offset == 0:  # the final fit: all the history of every series
            history, kept = task.panel, np.arange(task.panel.n_series)
        else:
            history, kept, _ = cut_window(task.panel, offset, task.horizon)
        if kept.size == 0:
            continue
        for ref in task.models:
            started = time.perf_counter()
            model = ref.create(task.horizon)
            forecast = model.fit(history).predict(task.horizon, task.levels)
            seconds = time.perf_counter() - started
            results.append((offset, ref.name, task.positions[kept], forecast, seconds))
    return results


def _assemble(
    panel: Panel,
    *,
    outputs: list[list[tuple[int, str, np.ndarray, Forecast, float]]],
    names: list[str],
    offsets: tuple[int, ...],
    horizon: int,
    levels: tuple[int, ...],
) -> BacktestResult:
    rows_series: list[np.ndarray] = []
    rows_window: list[np.ndarray] = []
    actuals: list[np.ndarray] = []
    scales: list[np.ndarray] = []
    row_of: dict[tuple[int, int], int] = {}
    for window, offset in enumerate(offsets):
        history, kept, actual = cut_window(panel, offset, horizon)
        for position in kept:
            row_of[(offset, int(position))] = len(row_of)
        rows_series.append(kept)
        rows_window.append(np.full(kept.size, window))
        actuals.append(actual)
        scales.append(
            np.array(
                [naive_scale(history.series(i), panel.season_length) for i in range(kept.size)]
            )
        )
    n_rows = len(row_of)
    result = BacktestResult(
        horizon,
        levels,
        np.concatenate(rows_series).astype(int),
        np.concatenate(rows_window).astype(int),
        np.concatenate(actuals) if n_rows else np.empty((0, horizon)),
        np.concatenate(scales) if n_rows else np.empty(0),
        offsets,
    )
    for name in names:
        result.models[name] = Predictions(
            np.full((n_rows, horizon), np.nan),
            {lv: np.full((n_rows, horizon), np.nan) for lv in levels},
            {lv: np.full((n_rows, horizon), np.nan) for lv in levels},
        )
    for output in outputs:
        for offset, name, positions, forecast, seconds in output:
            rows = np.array([row_of[(offset, int(p))] for p in positions], dtype=int)
            target = result.models[name]
            target.mean[rows] = forecast.mean
            for lv in levels:
                target.lower[lv][rows] = forecast.lower[lv]
                target.upper[lv][rows] = forecast.upper[lv]
            target.seconds += seconds
            target.fallbacks += len(forecast.fallback)
    return result
