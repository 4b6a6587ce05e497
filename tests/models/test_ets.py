"""Exponential smoothing families on cases that can be checked by hand."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.tsa.holtwinters import ExponentialSmoothing

from features.panel import Panel
from models.base import ModelError
from models.ets import SES, DampedHolt, Holt, _fit_remembered, fit_smoothing, variance_factors


def yearly(y: np.ndarray) -> Panel:
    return Panel.from_arrays({"a": y}, freq="Y")


def monthly_seasonal(n: int, seed: int = 0, slope: float = 2.0) -> np.ndarray:
    """Level with a trend times a strong monthly pattern, plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    pattern = np.array([0.7, 0.75, 0.9, 1.0, 1.1, 1.25, 1.35, 1.3, 1.1, 0.95, 0.85, 0.75])
    return (500 + slope * t) * pattern[t % 12] * (1 + rng.normal(0, 0.02, n))


@pytest.mark.parametrize("n", [8, 30])  # estimated and heuristic initial states
def test_ses_on_a_constant_series_forecasts_the_constant(n: int) -> None:
    forecast = SES().fit(yearly(np.full(n, 7.5))).predict(5)
    np.testing.assert_allclose(forecast.mean, 7.5, rtol=1e-9)
    np.testing.assert_allclose(forecast.upper[95] - forecast.lower[95], 0.0, atol=1e-6)
    assert forecast.fallback == ()


@pytest.mark.parametrize("n", [10, 30])
def test_holt_extrapolates_a_perfect_line(n: int) -> None:
    y = 12.0 + 3.5 * np.arange(n)
    forecast = Holt().fit(yearly(y)).predict(6)
    np.testing.assert_allclose(forecast.mean[0], 12.0 + 3.5 * np.arange(n, n + 6), rtol=1e-6)


def test_damped_trend_flattens() -> None:
    rng = np.random.default_rng(1)
    y = 100 + 4.0 * np.arange(25) + rng.normal(0, 1, 25)
    damped = DampedHolt().fit(yearly(y))
    state = damped.states_[0].fit
    assert 0.8 <= state.phi <= 0.98
    steps = np.diff(damped.predict(30).mean[0])
    assert (steps > 0).all()
    assert (np.diff(steps) < 0).all()
    holt = Holt().fit(yearly(y)).predict(30).mean[0]
    assert damped.predict(30).mean[0, -1] < holt[-1]
    # The forecast converges to level + trend·φ/(1−φ).
    limit = state.level + state.trend * state.phi / (1 - state.phi)
    assert damped.predict(2000).mean[0, -1] == pytest.approx(limit, rel=1e-9)


def test_point_forecasts_match_statsmodels() -> None:
    y = 50 + np.random.default_rng(2).normal(0.5, 2, 16).cumsum()
    for trend, damped in [(False, False), (True, False), (True, True)]:
        fit = fit_smoothing(y, trend=trend, damped=damped, initialization="estimated")
        scale = np.mean(np.abs(y))
        reference = ExponentialSmoothing(
            y / scale,
            trend="add" if trend else None,
            damped_trend=damped,
            initialization_method="estimated",
            bounds={"damping_trend": (0.8, 0.98)} if damped else None,
        ).fit(use_brute=False)
        np.testing.assert_allclose(fit.forecast(7)[0], reference.forecast(7) * scale, rtol=1e-9)


def test_a_repeated_fit_is_remembered_with_the_numbers_of_fitting_anew() -> None:
    """Backtests fit the same history many times in a run; the second fit must not cost a
    fit, nor differ from one, and must follow the values, not the array they came in."""
    y = 50 + np.random.default_rng(3).normal(0.5, 2, 9).cumsum()
    first = fit_smoothing(y, trend=True, damped=True)
    before = _fit_remembered.cache_info()
    again = fit_smoothing(list(y), trend=True, damped=True)  # equal values, another container
    assert _fit_remembered.cache_info().hits == before.hits + 1
    assert again == first
    changed = y.copy()
    changed[-1] += 5.0
    assert fit_smoothing(changed, trend=True, damped=True).level != first.level
    assert fit_smoothing(y, trend=True, damped=False) != first, "the options are in the key"
    _fit_remembered.cache_clear()
    assert fit_smoothing(y, trend=True, damped=True) == first


def test_deseasonalizing_beats_plain_ses_on_a_seasonal_monthly_series() -> None:
    y = monthly_seasonal(84)
    train, test = Panel.from_arrays({"a": y[:-12]}, freq="M"), y[-12:]
    plain = SES(deseasonalize=False).fit(train).predict(12).mean[0]
    adjusted = SES().fit(train).predict(12).mean[0]
    error = np.mean(np.abs(test - plain))
    assert np.mean(np.abs(test - adjusted)) < 0.5 * error


def test_yearly_series_are_never_deseasonalized() -> None:
    y = 50 + np.random.default_rng(3).normal(0, 2, 20).cumsum()
    with_flag = SES(deseasonalize=True).fit(yearly(y))
    assert with_flag.states_[0].indices is None
    np.testing.assert_allclose(
        with_flag.predict(4).mean, SES(deseasonalize=False).fit(yearly(y)).predict(4).mean
    )


def test_variance_factors_match_the_closed_forms_of_fpp3() -> None:
    """FPP3 table 8.8 (Hyndman et al. 2008), in ETS error-correction parameters."""
    h = np.arange(1, 11)
    a, b, phi = 0.6, 0.15, 0.9
    np.testing.assert_allclose(variance_factors(10, a), 1 + a**2 * (h - 1))
    aan = 1 + (h - 1) * (a**2 + a * b * h + b**2 * h * (2 * h - 1) / 6)
    np.testing.assert_allclose(variance_factors(10, a, b), aan)
    damped = (
        1
        + a**2 * (h - 1)
        + b * phi * h / (1 - phi) ** 2 * (2 * a * (1 - phi) + b * phi)
        - b
        * phi
        * (1 - phi**h)
        / ((1 - phi) ** 2 * (1 - phi**2))
        * (2 * a * (1 - phi**2) + b * phi * (1 + 2 * phi - phi**h))
    )
    np.testing.assert_allclose(variance_factors(10, a, b, phi), damped)


def test_intervals_widen_with_the_horizon() -> None:
    y = 100 + np.random.default_rng(4).normal(1, 3, 20).cumsum()
    for model in (SES(), Holt(), DampedHolt()):
        forecast = model.fit(yearly(y)).predict(8)
        width = forecast.upper[80][0] - forecast.lower[80][0]
        assert (np.diff(width) > 0).all(), type(model).__name__


def test_fits_are_scale_equivariant() -> None:
    y = 100 + np.random.default_rng(5).normal(1, 3, 14).cumsum()
    for model in (SES, Holt, DampedHolt):
        base = model().fit(yearly(y)).predict(5)
        tiny = model().fit(yearly(y * 1e-9)).predict(5)
        np.testing.assert_allclose(tiny.mean * 1e9, base.mean, rtol=1e-5)
        np.testing.assert_allclose(tiny.upper[95] * 1e9, base.upper[95], rtol=1e-5)


def test_invalid_initialization_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="initialization"):
        SES(initialization="magic").fit(yearly(np.arange(10.0)))


def test_explicit_heuristic_falls_back_to_estimated_states_on_short_series() -> None:
    """statsmodels' heuristic needs 10 values; shorter series must still fit."""
    y = 100 + np.arange(8.0) + np.tile([1.0, -1.0], 4)
    model = Holt(initialization="heuristic").fit(yearly(y))
    assert model.predict(4).fallback == ()
