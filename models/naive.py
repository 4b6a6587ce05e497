"""Naive and seasonal naive: the benchmarks every other model has to beat.

Naive carries the last value forward; seasonal naive repeats the last season. Intervals follow
the random-walk (or seasonal random-walk) model: the spread of one-step (one-season) changes,
growing with the square root of the number of steps (seasons) ahead.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from features.panel import Panel
from models.base import LocalForecaster


class Naive(LocalForecaster):
    """Last observed value for every future period."""

    name: ClassVar[str] = "naive"
    min_train_length: ClassVar[int] = 1

    def _fit_one(self, y: np.ndarray) -> Any:
        changes = np.diff(y)
        sigma = float(np.sqrt(np.mean(changes**2))) if changes.size else 0.1 * abs(float(y[-1]))
        return float(y[-1]), sigma

    def _forecast_one(self, state: Any, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        last, sigma = state
        steps = np.arange(1, horizon + 1)
        return np.full(horizon, last), sigma * np.sqrt(steps)


class SeasonalNaive(LocalForecaster):
    """The value of the same season one cycle earlier (naive for yearly series)."""

    name: ClassVar[str] = "seasonal_naive"
    min_train_length: ClassVar[int] = 1

    def _fit(self, panel: Panel, usable: np.ndarray) -> None:
        self.season_length_ = panel.season_length
        super()._fit(panel, usable)

    def _fit_one(self, y: np.ndarray) -> Any:
        m = self.season_length_ if len(y) >= self.season_length_ else 1
        changes = y[m:] - y[:-m]
        sigma = float(np.sqrt(np.mean(changes**2))) if changes.size else 0.1 * abs(float(y[-1]))
        return y[-m:].copy(), sigma

    def _forecast_one(self, state: Any, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        last_season, sigma = state
        m = len(last_season)
        steps = np.arange(horizon)
        cycles = steps // m + 1
        return last_season[steps % m], sigma * np.sqrt(cycles)
