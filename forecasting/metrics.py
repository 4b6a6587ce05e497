"""Forecast accuracy metrics, on arrays of shape (n, horizon).

Point metrics are scale-free so that series of different sizes can be pooled: MASE and RMSSE
divide by the in-sample error of the (seasonal) naive forecast, sMAPE is in the M4 form
``200·|F−A|/(|A|+|F|)``. Interval metrics: coverage, Winkler (interval) score and pinball loss.
Every function returns one value per row (series or backtest window), so callers can average
per series first and then over series, as the M-competitions do. Steps whose actual value is
unknown (NaN: a backtest origin closer to the end than a full horizon) are left out.
"""

from __future__ import annotations

from typing import Final

import numpy as np

#: The scale of an all-zero history: positive so that nothing divides by zero, and recognisable
#: so that errors scaled by it can be set aside (see :func:`forecasting.calibration.calibrate`).
MIN_SCALE: Final = 1e-8


def naive_scale(y: np.ndarray, season_length: int = 1, recent: int | None = None) -> float:
    """Mean absolute in-sample change at the seasonal lag (the MASE denominator).

    With ``recent``, only the last ``recent`` changes count: the local volatility, which is what
    the next errors scale with when a series grows. Falls back to lag 1 for series shorter
    than one season plus one, and to a small share of the level for constant or one-point
    series, so the scale is always positive and finite.
    """
    y = np.asarray(y, dtype=float)
    if recent is not None:
        y = y[-(recent + season_length) :]
    for lag in dict.fromkeys((season_length, 1)):
        if len(y) > lag:
            value = float(np.mean(np.abs(y[lag:] - y[:-lag])))
            if value > 0:
                return value
    level = float(np.mean(np.abs(y))) if y.size else 0.0
    return max(0.1 * level, MIN_SCALE)


def mase(actual: np.ndarray, forecast: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Mean absolute scaled error per row."""
    return np.nanmean(np.abs(actual - forecast), axis=-1) / scale


def rmsse(actual: np.ndarray, forecast: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Root mean squared scaled error per row (squared scale: the M5 variant uses squared
    changes; with the absolute scale it stays comparable to MASE)."""
    return np.sqrt(np.nanmean((actual - forecast) ** 2, axis=-1)) / scale


def smape(actual: np.ndarray, forecast: np.ndarray) -> np.ndarray:
    """Symmetric MAPE in percent (M4 form); a step where both are zero counts as no error."""
    denominator = np.abs(actual) + np.abs(forecast)
    ratio = np.divide(
        np.abs(forecast - actual),
        denominator,
        out=np.zeros_like(denominator, dtype=float),
        where=denominator > 0,
    )
    ratio[np.isnan(actual)] = np.nan
    return 200 * np.nanmean(ratio, axis=-1)


def scaled_bias(actual: np.ndarray, forecast: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Mean signed error (forecast − actual) per row, scaled like MASE: > 0 means too high."""
    return np.nanmean(forecast - actual, axis=-1) / scale


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Share of steps inside [lower, upper], per row."""
    inside = ((actual >= lower) & (actual <= upper)).astype(float)
    inside[np.isnan(actual)] = np.nan
    return np.nanmean(inside, axis=-1)


def winkler(
    actual: np.ndarray, lower: np.ndarray, upper: np.ndarray, level: int, scale: np.ndarray
) -> np.ndarray:
    """Scaled Winkler score per row: width plus 2/α times the distance outside the interval."""
    alpha = 1 - level / 100
    width = upper - lower
    below = np.clip(lower - actual, 0, None)
    above = np.clip(actual - upper, 0, None)
    score = width + (2 / alpha) * (below + above)
    score[np.isnan(actual)] = np.nan
    return np.nanmean(score, axis=-1) / scale


def pinball(actual: np.ndarray, quantile: np.ndarray, tau: float, scale: np.ndarray) -> np.ndarray:
    """Scaled pinball (quantile) loss of the ``tau`` quantile per row."""
    diff = actual - quantile
    loss = np.maximum(tau * diff, (tau - 1) * diff)
    return np.nanmean(loss, axis=-1) / scale
