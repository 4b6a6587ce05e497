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
from models.base import Forecast, Forecaster, ModelError, check_choice, invalid_parameter

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
    _check_weights(weights, len(arrays))
    w = np.asarray(weights, dtype=float)
    return np.asarray(np.tensordot(w / w.sum(), stack, axes=1))


def _check_weights(weights: Sequence[float], n_members: int) -> None:
    """Weights are what a weighted mean can use: one finite, non-negative number per member,
    not all zero."""
    try:
        w = np.asarray(weights, dtype=float)
    except (TypeError, ValueError):
        w = np.full(0, np.nan)
    if w.shape != (n_members,) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise invalid_parameter(
            "weights", weights, f"{n_members} non-negative numbers (one per member), not all zero"
        )


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

    def _validate_params(self) -> None:
        from models.registry import REGISTRY  # the registry lists this class: import late

        members = tuple(self.members) if isinstance(self.members, Sequence) else ()
        if not members or isinstance(self.members, str):
            raise invalid_parameter("members", self.members, "a non-empty sequence of models")
        for member in members:
            if isinstance(member, str):
                check_choice("members", member, REGISTRY)
            elif isinstance(member, Forecaster):
                member._validate_params()  # a bad member parameter fails before any fit
            else:
                raise invalid_parameter("members", member, "registered names or forecasters")
        check_choice("method", self.method, ("median", "mean"))
        if self.weights is not None:
            if self.method != "mean":
                raise invalid_parameter(
                    "weights", self.weights, "None for the median (weights apply to the mean)"
                )
            _check_weights(self.weights, len(members))

    def _fit(self, panel: Panel, usable: np.ndarray) -> None:
        from models.registry import create  # the registry lists this class: import late

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
