"""Metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from forecasting.metrics import (
    coverage,
    mase,
    naive_scale,
    pinball,
    rmsse,
    scaled_bias,
    smape,
    winkler,
)

ACTUAL = np.array([[10.0, 20.0, 30.0]])
FORECAST = np.array([[12.0, 18.0, 30.0]])


def test_naive_scale_uses_the_seasonal_lag_and_falls_back() -> None:
    y = np.array([1.0, 2.0, 4.0, 7.0])
    assert naive_scale(y, 1) == pytest.approx((1 + 2 + 3) / 3)
    assert naive_scale(y, 2) == pytest.approx((3 + 5) / 2)
    assert naive_scale(y, 12) == pytest.approx(2.0), "too short for the season: lag 1"
    assert naive_scale(np.array([5.0, 5.0, 5.0]), 1) == pytest.approx(0.5)
    assert naive_scale(np.array([0.0]), 1) > 0


def test_mase_rmsse_and_bias() -> None:
    scale = np.array([2.0])
    assert mase(ACTUAL, FORECAST, scale)[0] == pytest.approx((2 + 2 + 0) / 3 / 2)
    assert rmsse(ACTUAL, FORECAST, scale)[0] == pytest.approx(np.sqrt(8 / 3) / 2)
    assert scaled_bias(ACTUAL, FORECAST, scale)[0] == pytest.approx(0.0)


def test_smape_m4_form_and_zeros() -> None:
    expected = 200 * np.mean([2 / 22, 2 / 38, 0.0])
    assert smape(ACTUAL, FORECAST)[0] == pytest.approx(expected)
    assert smape(np.zeros((1, 2)), np.zeros((1, 2)))[0] == 0.0
    assert smape(np.array([[0.0]]), np.array([[5.0]]))[0] == pytest.approx(200.0)


def test_interval_scores() -> None:
    lower = np.array([[9.0, 21.0, 25.0]])
    upper = np.array([[11.0, 25.0, 35.0]])
    assert coverage(ACTUAL, lower, upper)[0] == pytest.approx(2 / 3)
    # widths 2, 4, 10; one miss of 1 below at 80%: penalty 2/0.2 * 1 = 10
    assert winkler(ACTUAL, lower, upper, 80, np.array([1.0]))[0] == pytest.approx((2 + 14 + 10) / 3)
    loss = pinball(ACTUAL, FORECAST, 0.9, np.array([1.0]))[0]
    assert loss == pytest.approx((0.1 * 2 + 0.9 * 2 + 0) / 3)
