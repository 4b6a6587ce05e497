"""Metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from utilsforecast import losses

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


# -- agreement with utilsforecast.losses ---------------------------------------------------------

N_SERIES, TRAIN, HORIZON, SEASON = 7, 14, 5, 4


@pytest.fixture
def frames() -> tuple[pd.DataFrame, pd.DataFrame, dict[str, np.ndarray]]:
    """The same random data as utilsforecast's long frames (test rows and training rows) and
    as the engine's arrays (series × horizon), values on both sides of zero."""
    rng = np.random.default_rng(7)
    train = rng.normal(0, 1, (N_SERIES, TRAIN)).cumsum(axis=1)
    actual = train[:, -1:] + rng.normal(0, 1, (N_SERIES, HORIZON)).cumsum(axis=1)
    forecast = actual + rng.normal(0.3, 1, actual.shape)
    half = np.abs(rng.normal(1, 0.5, actual.shape))
    arrays = {
        "train": train,
        "actual": actual,
        "forecast": forecast,
        "lower": forecast - half,
        "upper": forecast + half,
    }
    ids = np.repeat([f"s{i}" for i in range(N_SERIES)], HORIZON)
    test = pd.DataFrame(
        {
            "unique_id": ids,
            "ds": np.tile(np.arange(TRAIN, TRAIN + HORIZON), N_SERIES),
            "y": actual.ravel(),
            "model": forecast.ravel(),
            "model-lo-80": arrays["lower"].ravel(),
            "model-hi-80": arrays["upper"].ravel(),
        }
    )
    history = pd.DataFrame(
        {
            "unique_id": np.repeat([f"s{i}" for i in range(N_SERIES)], TRAIN),
            "ds": np.tile(np.arange(TRAIN), N_SERIES),
            "y": train.ravel(),
        }
    )
    return test, history, arrays


def _theirs(frame: pd.DataFrame) -> np.ndarray:
    """utilsforecast's per-series values, in series order (ids sort like their index)."""
    return frame.sort_values("unique_id")["model"].to_numpy()


def test_point_metrics_agree_with_utilsforecast(
    frames: tuple[pd.DataFrame, pd.DataFrame, dict[str, np.ndarray]],
) -> None:
    test, history, a = frames
    scale = np.array([naive_scale(y, SEASON) for y in a["train"]])
    actual, forecast = a["actual"], a["forecast"]
    theirs_mase = losses.mase(test, ["model"], SEASON, history)
    np.testing.assert_allclose(mase(actual, forecast, scale), _theirs(theirs_mase), atol=1e-9)
    # sMAPE in percent (M4, 0-200) against utilsforecast's plain ratio (0-1).
    theirs_smape = _theirs(losses.smape(test, ["model"]))
    np.testing.assert_allclose(smape(actual, forecast), 200 * theirs_smape, atol=1e-9)
    theirs_rmse = _theirs(losses.rmse(test, ["model"]))
    np.testing.assert_allclose(rmsse(actual, forecast, scale), theirs_rmse / scale, atol=1e-9)
    theirs_bias = _theirs(losses.bias(test, ["model"]))
    np.testing.assert_allclose(scaled_bias(actual, forecast, scale), theirs_bias / scale, atol=1e-9)


def test_interval_metrics_agree_with_utilsforecast(
    frames: tuple[pd.DataFrame, pd.DataFrame, dict[str, np.ndarray]],
) -> None:
    test, history, a = frames
    scale = np.array([naive_scale(y, SEASON) for y in a["train"]])
    actual, lower, upper = a["actual"], a["lower"], a["upper"]
    theirs_coverage = _theirs(losses.coverage(test, ["model"], level=80))
    np.testing.assert_allclose(coverage(actual, lower, upper), theirs_coverage, atol=1e-9)
    theirs_winkler = _theirs(losses.winkler_score(test, ["model"], level=80))
    np.testing.assert_allclose(
        winkler(actual, lower, upper, 80, scale), theirs_winkler / scale, atol=1e-9
    )
    theirs_pinball = losses.scaled_quantile_loss(
        test, {"model": "model-hi-80"}, SEASON, history, q=0.9
    )
    np.testing.assert_allclose(
        pinball(actual, upper, 0.9, scale), _theirs(theirs_pinball), atol=1e-9
    )


def test_without_fallback_a_flat_or_short_series_has_no_scale() -> None:
    assert naive_scale(np.array([3.0, 5.0, 4.0]), 1, fallback=False) == pytest.approx(1.5)
    assert np.isnan(naive_scale(np.array([5.0, 5.0, 5.0]), 1, fallback=False))
    assert np.isnan(naive_scale(np.array([5.0]), 1, fallback=False))
    assert np.isnan(naive_scale(np.array([1.0, 2.0]), 4, fallback=False)), "no lag-1 fallback"
