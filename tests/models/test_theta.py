"""The Theta method against statsmodels' ThetaModel and by hand."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from statsmodels.tsa.forecasting.theta import ThetaModel
from statsmodels.tsa.holtwinters import ExponentialSmoothing

from features.panel import Panel
from models.base import ModelError
from models.theta import Theta, fit_theta, ols_slope


def reference(y: np.ndarray, period: int, horizon: int, **kwargs: bool) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = ThetaModel(y, period=period, **kwargs).fit()
        return np.asarray(result.forecast(horizon), dtype=float)


def random_walks(count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        50 + np.cumsum(rng.normal(rng.normal(0, 1), 2, int(rng.integers(10, 40))))
        for _ in range(count)
    ]


@pytest.mark.parametrize(("freq", "period"), [("Y", 1), ("Q", 4), ("M", 12)])
def test_point_forecasts_agree_with_theta_model(freq: str, period: int) -> None:
    """Same estimator (SES with the first value as initial level: ThetaModel's state-space
    MLE of α is our least-squares α; OLS slope), so the forecasts agree up to the optimisers'
    tolerances (~1e-5 of the level)."""
    series = random_walks(8, seed=period)
    panel = Panel.from_arrays({str(i): y for i, y in enumerate(series)}, freq=freq)
    forecast = Theta(deseasonalize=False).fit(panel).predict(8)
    for i, y in enumerate(series):
        expected = reference(y, period, 8, deseasonalize=False)
        np.testing.assert_allclose(forecast.mean[i], expected, atol=1e-4 * np.mean(np.abs(y)))


def test_where_alpha_differs_ours_fits_at_least_as_well() -> None:
    """Different optimisers (statsmodels: Kalman-filter likelihood of the raw series; ours:
    least squares on the series divided by its mean absolute value) can stop at different α
    on flat or multimodal objectives (e.g. M1 series YAD27: α 0.0001 vs 1.0, our SSE half of
    theirs). Ours must never be the worse least-squares fit."""
    for y in random_walks(40, seed=11):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = float(ThetaModel(y, period=1, deseasonalize=False).fit().params["alpha"])
        ours = fit_theta(y).alpha

        def sse(alpha: float, y: np.ndarray = y) -> float:
            model = ExponentialSmoothing(y, initialization_method="known", initial_level=y[0])
            return float(model.fit(smoothing_level=alpha, optimized=False).sse)

        assert sse(ours) <= sse(theirs) * (1 + 1e-4)  # up to the optimiser tolerance


def test_seasonal_series_agree_with_theta_model_deseasonalized() -> None:
    """A clearly seasonal series: both tests say seasonal, both adjust multiplicatively."""
    rng = np.random.default_rng(3)
    t = np.arange(40)
    y = (100 + t) * np.tile([1.2, 0.8, 1.1, 0.9], 10) + rng.normal(0, 1, 40)
    forecast = Theta().fit(Panel.from_arrays({"a": y}, freq="Q")).predict(8)
    np.testing.assert_allclose(forecast.mean[0], reference(y, 4, 8), rtol=1e-5)


def test_forecast_equation_by_hand() -> None:
    y = np.array([3.0, 5.0, 4.0, 6.0, 8.0, 7.0, 9.0, 11.0, 10.0, 12.0])
    fit = fit_theta(y)
    assert fit.slope == pytest.approx(np.polyfit(np.arange(10), y, 1)[0])
    assert ols_slope(y) == pytest.approx(fit.slope)
    a, h = fit.alpha, np.arange(1, 6)
    expected = fit.one_step + 0.5 * fit.slope * (h - 1 + 1 / a - (1 - a) ** 10 / a)
    np.testing.assert_allclose(fit.forecast(5)[0], expected)


def test_intervals_use_the_ses_variance_and_widen() -> None:
    y = 100 + np.random.default_rng(4).normal(1, 3, 25).cumsum()
    fit = fit_theta(y)
    _, sd = fit.forecast(6)
    np.testing.assert_allclose(sd, fit.sigma * np.sqrt(1 + np.arange(6) * fit.alpha**2))
    forecast = Theta().fit(Panel.from_arrays({"a": y}, freq="Y")).predict(6)
    assert (np.diff(forecast.upper[95][0] - forecast.lower[95][0]) > 0).all()


def test_theta_one_is_plain_ses_and_bad_theta_is_rejected() -> None:
    y = 20 + np.random.default_rng(5).normal(0, 1, 15).cumsum()
    panel = Panel.from_arrays({"a": y}, freq="Y")
    forecast = Theta(theta=1.0).fit(panel).predict(4).mean[0]
    np.testing.assert_allclose(forecast, forecast[0])
    with pytest.raises(ModelError, match="theta"):
        Theta(theta=0.5).fit(panel)
