"""Prediction intervals calibrated on backtest errors (split-conformal, per horizon step).

Model-based intervals assume the model is right; on short annual series it never is, and their
80% intervals cover far less than 80% of what happens. Instead, the errors the chosen forecast
made in the backtest windows — scaled by each series' naive scale so that series of any size
pool together — give, for every step ahead, the empirical quantiles the interval needs. With
the finite-sample correction of split conformal prediction, an interval built this way covers
its nominal share of future values as long as the future errs like the recent past did.

Split conformal needs enough errors: a central ``level`` interval from ``n`` errors is only
bounded when ``n`` ≥ :func:`empirical_minimum` (9 errors per step at 80%, 39 at 95%). With
fewer — a handful of short series, or the far steps of a short backtest — the conformal
quantile lies beyond the largest error seen, and taking the largest error instead makes every
such level the same interval. Those steps use a documented fallback: a Student-t prediction
interval fitted to the errors there are (± t_n · √(mean error²), centred on the forecast),
which widens with the level and with how few errors there are. With fewer than two errors a
step has no calibrated interval and the engine uses the models' own. What each level rests on
is reported (:class:`IntervalBasis`), and intervals of several levels are always strictly
nested (:meth:`Calibration.nested_quantiles`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

from forecasting.metrics import MIN_SCALE

#: What a level's calibrated interval rests on: split-conformal quantiles of the backtest
#: errors at every step, a Student-t fit at some steps (too few errors there), or nothing
#: (no backtest errors: the models' own intervals are used).
Basis = Literal["backtest quantiles", "t fit", "model"]


def empirical_minimum(level: int) -> int:
    """Fewest errors for which the conformal quantile of a central ``level`` interval lies
    within the errors seen: the smallest n with ⌈(n+1)(1−α/2)⌉ ≤ n."""
    tail = (1 - level / 100) / 2
    return max(1, math.ceil((1 - tail) / tail - 1e-9))


@dataclass(frozen=True)
class IntervalBasis:
    """What a level's intervals rest on, and the fewest errors any step was calibrated on."""

    level: int
    basis: Basis
    fewest_errors: int

    def describe(self) -> str:
        if self.basis == "model":
            return f"{self.level}%: the models' own intervals (no backtest errors)"
        if self.basis == "t fit":
            return (
                f"{self.level}%: Student-t fit to as few as {self.fewest_errors} backtest "
                f"errors per step (an empirical {self.level}% interval needs "
                f"{empirical_minimum(self.level)})"
            )
        return f"{self.level}%: backtest error quantiles (≥ {self.fewest_errors} per step)"


@dataclass(frozen=True)
class Calibration:
    """Scaled backtest errors (actual − forecast) / scale, shape (rows, horizon), with the
    origin offset of each row (steps before the end of the series) when known.

    With offsets, step k is calibrated on the ``nearest`` origins that reach it (the smallest
    offsets ≥ k): those forecasts were made from the longest histories and the most recent
    regime, like the real forecast. Pooling every window instead (``nearest=None``) lets old
    origins, fitted on much shorter histories, widen long-step intervals well beyond what the
    future brings.
    """

    errors: np.ndarray
    offsets: np.ndarray | None = None
    nearest: int | None = 2
    #: Each row's scale (rows,), to read its errors back in the series' own units.
    scales: np.ndarray | None = None

    @property
    def horizon(self) -> int:
        return int(self.errors.shape[1])

    @property
    def empty(self) -> bool:
        return not np.isfinite(self.errors).any()

    def quantiles(self, level: int) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper scaled-error quantiles per step for a central ``level`` interval.

        Quantiles use the conformal level ⌈(n+1)(1−α/2)⌉/n; steps with fewer errors than
        that needs use the Student-t fallback (module docstring). Widths are made
        non-decreasing over the horizon (uncertainty cannot shrink further ahead; per-step
        estimates from a few hundred errors wobble).
        """
        lower = np.empty(self.horizon)
        upper = np.empty(self.horizon)
        for step in range(self.horizon):
            lower[step], upper[step] = _step_quantiles(self.step_errors(step), level)
        lower = _fill_missing(lower)
        upper = _fill_missing(upper)
        if not np.isfinite(lower[0]):  # no backtest errors at all
            return lower, upper
        return np.minimum.accumulate(np.minimum(lower, 0)), np.maximum.accumulate(
            np.maximum(upper, 0)
        )

    def nested_quantiles(self, levels: Sequence[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """:meth:`quantiles` for every level, strictly nested: each higher level's interval
        contains the lower one's and, where the lower one has width on a side, reaches
        further on that side.

        Quantiles of one set of errors are nested already; the fallback and the empirical
        quantiles of neighbouring levels need not be (a t fit at 95% can fall inside the
        largest errors that set the 80% bound). A side that would not reach further is
        widened from the lower level's bound by the ratio of the normal quantiles.
        """
        out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        previous: tuple[int, np.ndarray, np.ndarray] | None = None
        for level in sorted({int(level) for level in levels}):
            low, high = self.quantiles(level)
            if previous is not None:
                below, inner_low, inner_high = previous
                ratio = _normal_ratio(level, below)
                with np.errstate(invalid="ignore"):
                    low = np.where((low >= inner_low) & (inner_low < 0), inner_low * ratio, low)
                    high = np.where(
                        (high <= inner_high) & (inner_high > 0), inner_high * ratio, high
                    )
                    low, high = np.fmin(low, inner_low), np.fmax(high, inner_high)
            out[level] = (low, high)
            previous = (level, low, high)
        return out

    def basis(self, level: int) -> IntervalBasis:
        """What the ``level`` intervals rest on (:class:`IntervalBasis`)."""
        counts = [self.step_errors(step).size for step in range(self.horizon)]
        reached = [count for count in counts if count > 0]
        if not reached or max(reached) < 2:
            return IntervalBasis(level, "model", 0)
        fewest = min(reached)
        method: Basis = "t fit" if fewest < empirical_minimum(level) else "backtest quantiles"
        return IntervalBasis(level, method, fewest)

    def _rows_for(self, step: int) -> np.ndarray:
        """Rows whose origin is among the ``nearest`` offsets that reach ``step`` (0-based)."""
        if self.offsets is None or self.nearest is None:
            return np.arange(self.errors.shape[0])
        reaching = np.unique(self.offsets[self.offsets > step])
        chosen = reaching[: self.nearest]
        return np.flatnonzero(np.isin(self.offsets, chosen))

    def step_errors(self, step: int) -> np.ndarray:
        """The scaled errors step ``step`` (0-based) is calibrated on."""
        column = self.errors[self._rows_for(step), step]
        return column[np.isfinite(column)]

    def complete_paths(self) -> tuple[np.ndarray, np.ndarray]:
        """Every whole error path (every step known) and its origin offset (-1 for all when
        offsets are unknown): what sample paths are built from."""
        complete = np.isfinite(self.errors).all(axis=1)
        offsets = (
            np.full(self.errors.shape[0], -1, dtype=int) if self.offsets is None else self.offsets
        )
        return self.errors[complete], offsets[complete]

    def as_of(self, offset: int) -> Calibration:
        """The calibration that could have been made ``offset`` steps before the end: rows of
        older origins only, each cut to the steps whose actual values were known then, with
        offsets counted from then.

        Scoring intervals from this calibration on the rows of the origin ``offset`` is an
        honest out-of-sample check of the served procedure: no error it is scored on, and no
        error observed after its origin, went into the calibration.
        """
        if self.offsets is None:
            raise ValueError("a calibration without origin offsets cannot be cut at an origin")
        keep = self.offsets > offset
        known = self.offsets[keep] - offset
        steps = min(self.horizon, int(known.max())) if known.size else self.horizon
        errors = self.errors[keep, :steps].copy()
        errors[np.arange(steps)[None, :] >= known[:, None]] = np.nan
        scales = None if self.scales is None else self.scales[keep]
        return Calibration(errors, known, self.nearest, scales)

    def largest_misses(self, steps: int) -> np.ndarray:
        """Per step up to ``steps``, the largest absolute error of any backtest row, in the
        series' own units (not scaled), made non-decreasing over the horizon and grown like a
        random walk (√h) past the backtest horizon, as the intervals are; infinite where no
        row tells (or without row scales).

        On a panel whose errors are comparable across series in its own units — the log
        scale, where an error is a ratio — this is the worst miss any forecast made: a bound
        on how far a plausible future strays that does not depend on the scale a series'
        errors are expressed in.
        """
        if self.scales is None or self.empty:
            return np.full(steps, np.inf)
        misses = np.abs(self.errors * self.scales[:, None])
        reached = np.isfinite(misses).any(axis=0)
        largest = np.where(reached, np.nanmax(np.where(reached, misses, 0.0), axis=0), np.nan)
        bound = _extend(np.maximum.accumulate(_fill_missing(largest)), steps)
        return np.where(np.isfinite(bound), bound, np.inf)

    def intervals(
        self, mean: np.ndarray, scale: np.ndarray, levels: Sequence[int]
    ) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
        """Lower and upper bounds around ``mean`` (n, horizon) for series with ``scale`` (n,),
        strictly nested across ``levels``; NaN where the backtest left no errors to calibrate
        on."""
        lower: dict[int, np.ndarray] = {}
        upper: dict[int, np.ndarray] = {}
        steps = mean.shape[1]
        for level, (low, high) in self.nested_quantiles(levels).items():
            lower[level] = mean + scale[:, None] * _extend(low, steps)[None, :]
            upper[level] = mean + scale[:, None] * _extend(high, steps)[None, :]
        return lower, upper


def calibrate(
    actual: np.ndarray,
    forecast: np.ndarray,
    scale: np.ndarray,
    offsets: np.ndarray | None = None,
    nearest: int | None = 2,
) -> Calibration:
    """Calibration from backtest rows: actuals and forecasts (rows, horizon), scales (rows,)
    and, optionally, each row's origin offset.

    Rows whose history was all zeros (scale at the floor of
    :func:`~forecasting.metrics.naive_scale`: the series had not started yet) are left out:
    an error over a scale of nothing is unbounded, and one such row in the pool would give
    every other series' sample paths absurd tails.
    """
    errors = (actual - forecast) / scale[:, None]
    errors[scale <= MIN_SCALE] = np.nan
    return Calibration(errors, offsets, nearest, np.asarray(scale, dtype=float))


def _step_quantiles(errors: np.ndarray, level: int) -> tuple[float, float]:
    """Scaled-error bounds of a central ``level`` interval from one step's errors: the
    conformal quantiles with enough errors, the Student-t fallback with fewer, NaN with fewer
    than two.

    The fallback is the exact prediction interval for a new error when errors are normal
    around zero: e / √(mean e²) follows Student's t with n degrees of freedom. It is centred
    on the forecast (a bias read off a handful of errors is mostly noise; a real one widens
    the root mean square instead) and so symmetric, which keeps levels strictly nested on
    both sides."""
    n = errors.size
    if n >= empirical_minimum(level):
        share = math.ceil((n + 1) * (1 - (1 - level / 100) / 2)) / n
        high = float(np.quantile(errors, share, method="higher"))
        low = -float(np.quantile(-errors, share, method="higher"))
        return low, high
    if n < 2:
        return float("nan"), float("nan")
    spread = math.sqrt(float(np.mean(errors**2)))
    half = float(stats.t.ppf(0.5 + level / 200, df=n)) * spread
    return -half, half


def _normal_ratio(level: int, below: int) -> float:
    """How much further a normal ``level`` interval reaches than a ``below`` one."""
    return float(stats.norm.ppf(0.5 + level / 200) / stats.norm.ppf(0.5 + below / 200))


def _fill_missing(values: np.ndarray) -> np.ndarray:
    """Steps without errors (no series long enough) borrow the nearest earlier step; with no
    earlier step they stay NaN and the caller falls back to model-based intervals."""
    out = values.copy()
    for step in range(1, len(out)):
        if not np.isfinite(out[step]):
            out[step] = out[step - 1]
    return out


def _extend(values: np.ndarray, steps: int) -> np.ndarray:
    """Quantiles for a longer horizon than the backtest's grow like a random walk (√h)."""
    if steps <= len(values):
        return values[:steps]
    last = values[-1]
    known = len(values)
    extra = last * np.sqrt(np.arange(known + 1, steps + 1) / known)
    return np.concatenate([values, extra])
