"""Forecast accuracy metrics, on arrays of shape (n, horizon): the one place they are defined.

Point metrics are scale-free so that series of different sizes can be pooled: MASE and RMSSE
divide by the in-sample error of the (seasonal) naive forecast, sMAPE is in the M4 form
``200·|F−A|/(|A|+|F|)``. Interval metrics: coverage, Winkler (interval) score and pinball loss.
Every function returns one value per row (series or backtest window), so callers can average
per series first and then over series, as the M-competitions do. Steps whose actual value is
unknown (NaN: a backtest origin closer to the end than a full horizon) are left out.

The definitions are those of ``utilsforecast.losses`` (what the Nixtla libraries score with),
computed on arrays because selection and calibration call them for every candidate
combination on every backtest: a data-frame group-by per call would cost milliseconds where
these cost microseconds. Where a convention differs it is stated, and
``tests/forecasting/test_metrics.py`` checks every one against utilsforecast on the same data:

- :func:`smape` is in percent, 0-200 (M4); utilsforecast's ``smape`` is the plain ratio, 0-1:
  ours is 200 × theirs.
- :func:`mase` with ``scale = naive_scale(train, season_length)`` is utilsforecast's ``mase``
  with ``seasonality = season_length`` and that training data (for a series longer than one
  season whose seasonal changes are not all zero; otherwise :func:`naive_scale` falls back).
- :func:`rmsse` is utilsforecast's ``rmse`` divided by the same absolute scale as MASE, not
  its ``rmsse`` (which divides by the root mean *squared* naive change).
- :func:`scaled_bias`, :func:`winkler` and :func:`pinball` are utilsforecast's ``bias``,
  ``winkler_score`` and ``quantile_loss`` divided by that scale (``pinball`` is then its
  ``scaled_quantile_loss``); :func:`coverage` is its ``coverage`` (both bounds inclusive).
"""

from __future__ import annotations

from typing import Final

import numpy as np

#: The scale of an all-zero history: positive so that nothing divides by zero, and recognisable
#: so that errors scaled by it can be set aside (see :func:`forecasting.calibration.calibrate`).
MIN_SCALE: Final = 1e-8


def naive_scale(
    y: np.ndarray, season_length: int = 1, recent: int | None = None, *, fallback: bool = True
) -> float:
    """Mean absolute in-sample change at the seasonal lag (the MASE denominator).

    With ``recent``, only the last ``recent`` changes count: the local volatility, which is what
    the next errors scale with when a series grows. Falls back to lag 1 for series shorter
    than one season plus one, and to a small share of the level for constant or one-point
    series, so the scale is always positive and finite — what the engine needs to pool errors.
    With ``fallback=False`` there is no fallback: a series without a positive mean change at
    the seasonal lag has no scale (NaN), which is what scoring realised forecasts needs, since
    an error divided by an invented scale would not be a MASE.
    """
    y = np.asarray(y, dtype=float)
    if recent is not None:
        y = y[-(recent + season_length) :]
    for lag in dict.fromkeys((season_length, 1) if fallback else (season_length,)):
        if len(y) > lag:
            value = float(np.mean(np.abs(y[lag:] - y[:-lag])))
            if value > 0:
                return value
    if not fallback:
        return float("nan")
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
