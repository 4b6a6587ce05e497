"""Forecast combinations: the median or a weighted mean of several members.

Combining a few good models is the most reliable way to beat each of them (M3, M4 and most
forecasting studies since). The engine chooses members and weights from backtest errors; this
module only knows how to combine, so that a backtest can combine stored member forecasts and the
final forecast can combine freshly fitted ones with the same arithmetic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar, Literal

import numpy as np

from features.panel import Panel
from models.base import Forecast, Forecaster, ModelError

Method = Literal["median", "mean"]


def combine_arrays(
    arrays: Sequence[np.ndarray], method: Method, weights: Sequence[float] | None = None
) -> np.ndarray:
    """Element-wise median, or (weighted) mean, of arrays of the same shape."""
    stack = np.stack(arrays)
    if method == "median":
        return np.asarray(np.median(stack, axis=0))
    if weights is None:
        return np.asarray(stack.mean(axis=0))
    w = np.asarray(weights, dtype=float)
    if w.shape != (len(arrays),) or (w < 0).any() or w.sum() <= 0:
        raise ModelError("weights must be non-negative, one per member, not all zero")
    return np.asarray(np.tensordot(w / w.sum(), stack, axes=1))


def combine_forecasts(
    forecasts: Sequence[Forecast], method: Method, weights: Sequence[float] | None = None
) -> Forecast:
    """Combine member forecasts of the same series and horizon.

    Interval bounds are combined like the point forecasts (a quantile-averaging rule, which is
    well calibrated when members agree and is recalibrated by the engine when they do not).
    """
    first = forecasts[0]
    for other in forecasts[1:]:
        if other.ids != first.ids or other.mean.shape != first.mean.shape:
            raise ModelError("members must forecast the same series and horizon")
    levels = first.levels
    fallback = sorted({name for f in forecasts for name in f.fallback})
    return Forecast(
        first.ids,
        first.periods,
        combine_arrays([f.mean for f in forecasts], method, weights),
        {lv: combine_arrays([f.lower[lv] for f in forecasts], method, weights) for lv in levels},
        {lv: combine_arrays([f.upper[lv] for f in forecasts], method, weights) for lv in levels},
        tuple(fallback),
    )


class Combination(Forecaster):
    """Fits every member on the same panel and combines their forecasts.

    ``members`` are unfitted forecasters (or registry names), ``method`` ``"median"`` or
    ``"mean"``, ``weights`` (mean only) one per member.
    """

    name: ClassVar[str] = "combination"
    min_train_length: ClassVar[int] = 1

    def __init__(
        self,
        members: Sequence[Forecaster | str],
        method: Method = "median",
        weights: Sequence[float] | None = None,
    ) -> None:
        self.members = members
        self.method = method
        self.weights = weights

    def _fit(self, panel: Panel, usable: np.ndarray) -> None:
        from models.registry import create  # the registry lists this class: import late

        if not self.members:
            raise ModelError("a combination needs at least one member")
        if self.method not in ("median", "mean"):
            raise ModelError(f"unknown combination method {self.method!r}; use median or mean")
        if self.weights is not None and self.method != "mean":
            raise ModelError("weights apply to the mean combination only")
        built = [create(m) if isinstance(m, str) else _clone(m) for m in self.members]
        self.members_ = [member.fit(panel) for member in built]

    def _predict(
        self, horizon: int, levels: tuple[int, ...]
    ) -> tuple[np.ndarray, dict[int, np.ndarray], dict[int, np.ndarray]]:
        combined = combine_forecasts(
            [member.predict(horizon, levels) for member in self.members_], self.method, self.weights
        )
        return combined.mean, dict(combined.lower), dict(combined.upper)


def _clone(model: Forecaster) -> Forecaster:
    """A fresh, unfitted copy with the same parameters (members given as objects are templates)."""
    return type(model)(**model.get_params())


def member_weights(errors: Mapping[str, float], members: Sequence[str]) -> list[float]:
    """Inverse-error weights (unnormalised), a common and robust choice for a weighted mean."""
    return [1.0 / max(errors[name], 1e-12) for name in members]
