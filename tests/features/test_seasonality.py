"""Seasonality test and classical decomposition, checked against statsmodels and by hand."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.tsa.seasonal import seasonal_decompose
from statsmodels.tsa.stattools import acf as sm_acf

from features.seasonality import (
    SeasonalIndices,
    acf,
    centred_moving_average,
    classical_indices,
    deseasonalize,
    is_seasonal,
    reseasonalize,
    seasonal_indices,
    seasonal_scale,
)

PATTERN = np.array([1.3, 1.1, 0.9, 0.7, 0.8, 1.2])


def seasonal_series(n: int = 72, m: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    season = 1 + 0.3 * np.sin(2 * np.pi * t / m)
    return (100 + 0.5 * t) * season * (1 + rng.normal(0, 0.02, n))


def test_acf_matches_statsmodels() -> None:
    y = np.random.default_rng(1).normal(size=50).cumsum()
    np.testing.assert_allclose(acf(y, 12), sm_acf(y, nlags=12, fft=False), atol=1e-12)


def test_acf_of_a_constant_series_is_zero_beyond_lag_zero() -> None:
    np.testing.assert_array_equal(acf(np.full(10, 3.0), 4), [1, 0, 0, 0, 0])


def test_seasonal_series_is_detected_and_noise_is_not() -> None:
    assert is_seasonal(seasonal_series(), 12)
    assert not is_seasonal(np.random.default_rng(2).normal(size=72), 12)


def test_test_needs_three_seasons_and_a_season_length_above_one() -> None:
    # A December peak: with a smooth sine, 36 points are too few for the test at 90%.
    noise = np.random.default_rng(5).normal(0, 1, 36)
    y = 100 + 50 * (np.arange(36) % 12 == 11) + noise
    assert not is_seasonal(y[:35], 12)
    assert is_seasonal(y, 12)
    assert not is_seasonal(seasonal_series(), 1)
    assert not is_seasonal(np.full(48, 2.0), 12)


def test_threshold_is_the_m4_formula() -> None:
    """|r_m| against 1.645·sqrt((1 + 2 Σ_{k<m} r_k²)/n), computed independently."""
    rng = np.random.default_rng(3)
    for _ in range(50):
        y = rng.normal(size=24) + 0.8 * np.tile([1.0, -1.0, 0.5, -0.5], 6) * rng.uniform()
        r = sm_acf(y, nlags=4, fft=False)
        limit = 1.645 * np.sqrt((1 + 2 * np.sum(r[1:4] ** 2)) / len(y))
        assert is_seasonal(y, 4) == (abs(r[4]) > limit)


@pytest.mark.parametrize("model", ["multiplicative", "additive"])
@pytest.mark.parametrize("m", [4, 12, 5])
def test_classical_indices_match_seasonal_decompose(model: str, m: int) -> None:
    y = seasonal_series(n=7 * m + 3, m=m, seed=m)
    expected = seasonal_decompose(y, model=model, period=m).seasonal[:m]
    got = classical_indices(y, m, multiplicative=model == "multiplicative")
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


def test_centred_moving_average_of_a_line_is_the_line() -> None:
    y = 3.0 + 2.0 * np.arange(20)
    for m in (4, 5, 12):
        trend = centred_moving_average(y, m)
        valid = np.isfinite(trend)
        assert valid.sum() == len(y) - 2 * (m // 2)
        np.testing.assert_allclose(trend[valid], y[valid])


def test_indices_are_multiplicative_for_positive_data_additive_otherwise() -> None:
    y = seasonal_series()
    multiplicative = seasonal_indices(y, 12)
    assert multiplicative is not None
    assert multiplicative.multiplicative
    assert multiplicative.values.mean() == pytest.approx(1.0)
    shifted = y - y.mean()  # crosses zero: ratios to the trend would be meaningless
    additive = seasonal_indices(shifted, 12)
    assert additive is not None
    assert not additive.multiplicative
    assert additive.values.mean() == pytest.approx(0.0, abs=1e-9)


def test_no_indices_without_seasonality_or_enough_data() -> None:
    assert seasonal_indices(np.random.default_rng(4).normal(10, 1, 60), 12) is None
    assert seasonal_indices(seasonal_series()[:30], 12) is None
    assert seasonal_indices(seasonal_series(), 1) is None
    assert seasonal_indices(seasonal_series(), 12, test=False) is not None


def test_deseasonalize_removes_an_exact_pattern_and_reseasonalize_restores_it() -> None:
    m = len(PATTERN)
    y = 50.0 * np.tile(PATTERN / PATTERN.mean(), 8)
    copy = y.copy()
    indices = seasonal_indices(y, m)
    assert indices is not None
    adjusted = deseasonalize(y, indices)
    np.testing.assert_allclose(adjusted, 50.0)
    np.testing.assert_array_equal(y, copy)  # the input is not modified
    np.testing.assert_allclose(reseasonalize(adjusted, indices, 0), y)
    # A forecast continues the cycle where the data stopped.
    future = reseasonalize(np.full(m, 50.0), indices, start=len(y) + 2)
    np.testing.assert_allclose(future, np.roll(y[:m], -2))


def test_additive_round_trip_and_scale() -> None:
    indices = SeasonalIndices(np.array([-1.0, 1.0]), multiplicative=False)
    y = np.array([1.0, 5.0, 3.0])
    np.testing.assert_allclose(deseasonalize(y, indices), [2.0, 4.0, 4.0])
    np.testing.assert_allclose(reseasonalize(deseasonalize(y, indices), indices, 0), y)
    np.testing.assert_array_equal(seasonal_scale(indices, 0, 3), 1.0)
    ratios = SeasonalIndices(np.array([0.5, 1.5]), multiplicative=True)
    np.testing.assert_allclose(seasonal_scale(ratios, 1, 3), [1.5, 0.5, 1.5])
    assert deseasonalize(y, None) is not y
    np.testing.assert_array_equal(reseasonalize(y, None, 0), y)
