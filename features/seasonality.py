"""Seasonality detection and classical seasonal adjustment, as in the M4 benchmark methods.

The M4 competition's statistical benchmarks (SES, Holt, Damped, Theta) do not model seasonality
themselves: they test each series for it, divide a seasonal series by the seasonal indices of a
classical multiplicative decomposition, forecast the adjusted series and multiply the indices
back onto the forecast. That simple recipe is hard to beat on short business series, and it lets
every non-seasonal method forecast quarterly and monthly series.

Choices:

- The test is the M4 one: with ``m > 1`` and at least ``3m`` observations, the series is
  seasonal when ``|r_m| > 1.645 · sqrt((1 + 2 Σ_{k<m} r_k²) / n)``, a 90% test of the
  autocorrelation at the seasonal lag against Bartlett's standard error.
- Multiplicative adjustment needs strictly positive data (zero or negative values make ratios
  to the trend meaningless). Talent series can hold zeros (no hires in a month), so for those we
  fall back to the *additive* classical decomposition instead of skipping adjustment: the
  seasonal pattern is still removed, only as differences rather than ratios.
- The decomposition is computed here with NumPy (a centred moving average, as R's
  ``decompose`` and statsmodels' ``seasonal_decompose`` do): it runs once per series and fit,
  and the pandas machinery of ``seasonal_decompose`` would cost more than the models it feeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

#: One-sided 95% normal quantile, i.e. the two-sided 90% test of the M4 benchmarks.
_CRITICAL_VALUE: Final[float] = 1.645


@dataclass(frozen=True, eq=False)
class SeasonalIndices:
    """Seasonal indices of a series, one per position in the cycle.

    ``values[k]`` applies to observation ``t`` (0-based, counted from the first observation of
    the series the indices were estimated on) when ``t % m == k``. Multiplicative indices
    average 1, additive ones 0.
    """

    values: np.ndarray
    multiplicative: bool

    @property
    def season_length(self) -> int:
        return len(self.values)

    def at(self, start: int, count: int) -> np.ndarray:
        """The indices of positions ``start, start + 1, ..., start + count - 1``."""
        return self.values[(start + np.arange(count)) % self.season_length]


def acf(y: np.ndarray, nlags: int) -> np.ndarray:
    """Sample autocorrelations r_0..r_nlags (denominator n, as R's ``acf`` and statsmodels).

    A constant series has no defined autocorrelation; it gets zeros beyond lag 0, which makes
    every test below say "not seasonal".
    """
    x = np.asarray(y, dtype=float) - np.mean(y)
    denominator = float(x @ x)
    result = np.zeros(nlags + 1)
    result[0] = 1.0
    if denominator <= 0.0 or not np.isfinite(denominator):
        return result
    for lag in range(1, min(nlags, len(x) - 1) + 1):
        result[lag] = float(x[:-lag] @ x[lag:]) / denominator
    return result


def is_seasonal(y: np.ndarray, season_length: int) -> bool:
    """The M4 seasonality test (90% level); False for m = 1 or fewer than 3m observations."""
    m = int(season_length)
    n = len(y)
    if m <= 1 or n < 3 * m:
        return False
    r = acf(y, m)
    limit = _CRITICAL_VALUE * np.sqrt((1.0 + 2.0 * np.sum(r[1:m] ** 2)) / n)
    return bool(abs(r[m]) > limit)


def centred_moving_average(y: np.ndarray, season_length: int) -> np.ndarray:
    """The trend of classical decomposition: a centred m-MA (2×m-MA for even m), NaN at the
    ends where the window does not fit."""
    m = int(season_length)
    x = np.asarray(y, dtype=float)
    weights = np.full(m, 1.0 / m) if m % 2 else np.r_[0.5, np.ones(m - 1), 0.5] / m
    trend = np.full(len(x), np.nan)
    half = len(weights) // 2
    if len(x) >= len(weights):
        trend[half : len(x) - half] = np.convolve(x, weights, mode="valid")
    return trend


def classical_indices(y: np.ndarray, season_length: int, *, multiplicative: bool) -> np.ndarray:
    """Seasonal indices of a classical decomposition (needs at least 2m observations).

    Detrend by the centred moving average, average the detrended values of each position in
    the cycle, then normalise (mean 1 for ratios, mean 0 for differences).
    """
    m = int(season_length)
    x = np.asarray(y, dtype=float)
    if len(x) < 2 * m:
        raise ValueError(f"classical decomposition needs at least {2 * m} observations")
    trend = centred_moving_average(x, m)
    detrended = x / trend if multiplicative else x - trend
    positions = np.arange(len(x)) % m
    valid = np.isfinite(detrended)
    sums = np.bincount(positions[valid], weights=detrended[valid], minlength=m)
    counts = np.bincount(positions[valid], minlength=m)
    figure = sums / counts
    return figure / figure.mean() if multiplicative else figure - figure.mean()


def seasonal_indices(
    y: np.ndarray, season_length: int, *, test: bool = True
) -> SeasonalIndices | None:
    """Indices to adjust ``y`` with, or None when there is nothing to adjust.

    None when ``m = 1``, when the series is too short for the test (3m values) or, with
    ``test=True``, when the M4 test finds no seasonality. Multiplicative when every value is
    positive, additive otherwise (see the module docstring).
    """
    m = int(season_length)
    x = np.asarray(y, dtype=float)
    if m <= 1 or len(x) < 3 * m:
        return None
    if test and not is_seasonal(x, m):
        return None
    multiplicative = bool(np.all(x > 0))
    values = classical_indices(x, m, multiplicative=multiplicative)
    if not np.all(np.isfinite(values)) or (multiplicative and np.any(values <= 0)):
        return None
    return SeasonalIndices(values, multiplicative)


def deseasonalize(y: np.ndarray, indices: SeasonalIndices | None) -> np.ndarray:
    """``y`` with the seasonal pattern removed (a new array; ``y`` is not modified)."""
    x = np.array(y, dtype=float)
    if indices is None:
        return x
    factors = indices.at(0, len(x))
    return x / factors if indices.multiplicative else x - factors


def reseasonalize(values: np.ndarray, indices: SeasonalIndices | None, start: int) -> np.ndarray:
    """Put the seasonal pattern back on ``values`` whose first element is at position ``start``
    (``len(y)`` for a forecast of ``y``); returns a new array."""
    x = np.array(values, dtype=float)
    if indices is None:
        return x
    factors = indices.at(start, len(x))
    return x * factors if indices.multiplicative else x + factors


def seasonal_scale(indices: SeasonalIndices | None, start: int, count: int) -> np.ndarray:
    """Factor that maps a spread (standard deviation) of the adjusted series back to the
    original scale: the multiplicative index, or 1 for additive or no adjustment."""
    if indices is None or not indices.multiplicative:
        return np.ones(count)
    return indices.at(start, count)
