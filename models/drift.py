"""Random walk with drift: the last value plus the average historical change per period.

For short annual series this is often the hardest model to beat; its intervals account for the
uncertainty of the estimated drift as well as the random walk.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from models.base import LocalForecaster


class Drift(LocalForecaster):
    """Last value + h × mean change (the line through the first and last observation)."""

    name: ClassVar[str] = "drift"
    min_train_length: ClassVar[int] = 2

    def _fit_one(self, y: np.ndarray) -> Any:
        changes = np.diff(y)
        slope = float(changes.mean())
        residuals = changes - slope
        dof = max(len(changes) - 1, 1)
        sigma = float(np.sqrt(np.sum(residuals**2) / dof)) if len(changes) > 1 else abs(slope)
        return float(y[-1]), slope, sigma, len(changes)

    def _forecast_one(self, state: Any, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        last, slope, sigma, n_changes = state
        steps = np.arange(1, horizon + 1)
        # Hyndman & Athanasopoulos, FPP3 5.5: var = σ² h (1 + h / T).
        return last + slope * steps, sigma * np.sqrt(steps * (1 + steps / n_changes))
