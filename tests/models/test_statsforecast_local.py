"""The statsforecast-backed local families on cases whose right answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from features.panel import Panel
from models.base import ModelError
from models.registry import create
from models.statsforecast_local import (
    DampedTrend,
    HoltLinear,
    LibraryFitError,
    SimpleSmoothing,
    fit_library,
)

MONTHLY_PATTERN = np.array([0.7, 0.75, 0.9, 1.0, 1.1, 1.25, 1.35, 1.3, 1.1, 0.95, 0.85, 0.75])


def yearly(y: np.ndarray) -> Panel:
    return Panel.from_arrays({"a": y}, freq="Y")


def monthly_seasonal(n: int, seed: int = 0) -> np.ndarray:
    """A slowly rising level times a strong monthly pattern, plus 2% noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return (500 + 2.0 * t) * MONTHLY_PATTERN[t % 12] * (1 + rng.normal(0, 0.02, n))


@pytest.mark.parametrize("name", ["auto_ets", "dotm", "auto_theta", "auto_ces", "arima"])
def test_a_trending_annual_series_is_forecast_upward(name: str) -> None:
    rng = np.random.default_rng(1)
    y = 100 + 5.0 * np.arange(20) + rng.normal(0, 1.5, 20)
    forecast = create(name).fit(yearly(y)).predict(6)
    assert forecast.fallback == ()
    assert forecast.mean[0, 0] > y[-3:].mean()
    assert forecast.mean[0, -1] > forecast.mean[0, 0] + 5


@pytest.mark.parametrize("name", ["auto_ets", "dotm", "auto_theta", "holt_winters"])
def test_a_strongly_seasonal_monthly_series_keeps_its_season(name: str) -> None:
    y = monthly_seasonal(72)
    train, test = Panel.from_arrays({"a": y[:-12]}, freq="M"), y[-12:]
    mean = create(name).fit(train).predict(12).mean[0]
    # The peak month (July) stays above the trough month (January) by most of the swing...
    assert mean[6] - mean[0] > 0.5 * (test[6] - test[0])
    # ...and the forecast follows the pattern closely (a flat line would be off by ~17%).
    assert np.mean(np.abs(mean - test) / test) < 0.06


@pytest.mark.parametrize("name", ["auto_ets", "dotm", "auto_theta", "auto_ces"])
def test_a_three_point_series_gets_the_naive_fallback(name: str) -> None:
    """(auto_arima fits from three values; the contract tests check its shorter series.)"""
    rng = np.random.default_rng(2)
    panel = Panel.from_arrays(
        {"long": 50 + rng.normal(0, 1, 20).cumsum(), "tiny": np.array([4.0, 6.0, 5.0])}, freq="Y"
    )
    forecast = create(name).fit(panel).predict(4)
    assert "tiny" in forecast.fallback
    assert "long" not in forecast.fallback
    np.testing.assert_allclose(forecast.mean[1], 5.0)


def test_a_fit_the_library_refuses_becomes_a_library_fit_error() -> None:
    """statsforecast says "no model able to be fitted" with a plain Exception (here: seasonal
    ETS on 15 monthly values); it becomes a LibraryFitError, a ValueError, which the base class
    answers with the fallback for that series only."""
    from statsforecast.models import AutoETS

    model = AutoETS(season_length=12, model="AAA", damped=True)
    with pytest.raises(LibraryFitError, match="no model able to be fitted"):
        fit_library(model, monthly_seasonal(15))


def test_programming_errors_are_not_taken_for_a_refused_series() -> None:
    class Broken:
        def fit(self, x: np.ndarray) -> None:
            raise TypeError("fit() got an unexpected keyword argument")

    with pytest.raises(TypeError, match="unexpected keyword"):
        fit_library(Broken(), np.arange(10.0))


@pytest.mark.parametrize(
    "name", ["auto_ets", "holt_winters", "dotm", "auto_theta", "auto_arima", "auto_ces"]
)
def test_95_percent_intervals_contain_the_80_percent_ones(name: str) -> None:
    t = np.arange(48)
    rng = np.random.default_rng(3)
    y = 200 + t + 15 * np.sin(2 * np.pi * t / 4) + rng.normal(0, 3, 48).cumsum()
    forecast = create(name).fit(Panel.from_arrays({"a": y}, freq="Q")).predict(8)
    assert (forecast.lower[95] < forecast.lower[80]).all()
    assert (forecast.upper[80] < forecast.upper[95]).all()
    assert (forecast.lower[80] < forecast.mean).all()
    assert (forecast.mean < forecast.upper[80]).all()


def test_intervals_are_those_asked_for() -> None:
    y = 100 + np.random.default_rng(4).normal(1, 3, 25).cumsum()
    forecast = create("dotm").fit(yearly(y)).predict(5, levels=(50, 99))
    assert forecast.levels == (50, 99)
    assert (forecast.upper[99] - forecast.lower[99] > forecast.upper[50] - forecast.lower[50]).all()


@pytest.mark.parametrize(
    ("name", "params", "parameter"),
    [
        ("auto_ets", {"model": "XYZ"}, "model"),
        ("auto_ets", {"model": "AA"}, "model"),
        ("auto_ets", {"damped": "yes"}, "damped"),
        ("dotm", {"decomposition_type": "log"}, "decomposition_type"),
        ("auto_theta", {"model": "BEST"}, "model"),
        ("auto_arima", {"max_p": -1}, "max_p"),
        ("auto_arima", {"max_q": 2.5}, "max_q"),
        ("auto_arima", {"seasonal": "no"}, "seasonal"),
        ("auto_ces", {"model": "Q"}, "model"),
    ],
)
def test_bad_parameters_raise_a_model_error_naming_them(
    name: str, params: dict[str, object], parameter: str
) -> None:
    value = repr(next(iter(params.values())))
    with pytest.raises(ModelError, match=rf"{parameter} must be .*{value}") as raised:
        create(name, **params).fit(yearly(np.arange(12.0)))
    assert "got" in str(raised.value)


def test_the_adjustment_switch_must_be_a_flag() -> None:
    with pytest.raises(ModelError, match="deseasonalize must be one of True, False, got 1"):
        SimpleSmoothing(deseasonalize=1).fit(yearly(np.arange(12.0)))  # type: ignore[arg-type]


def test_library_holt_extrapolates_a_perfect_line() -> None:
    y = 12.0 + 3.5 * np.arange(20)
    forecast = HoltLinear().fit(yearly(y)).predict(6)
    np.testing.assert_allclose(forecast.mean[0], 12.0 + 3.5 * np.arange(20, 26), rtol=1e-3)


def test_the_damped_trend_flattens_below_holt() -> None:
    rng = np.random.default_rng(1)
    y = 100 + 4.0 * np.arange(25) + rng.normal(0, 1, 25)
    damped = DampedTrend().fit(yearly(y)).predict(30).mean[0]
    steps = np.diff(damped)
    assert (steps > 0).all()
    assert (np.diff(steps) < 0).all()
    assert damped[-1] < HoltLinear().fit(yearly(y)).predict(30).mean[0, -1]


def test_library_ses_deseasonalized_beats_plain_ses_on_a_seasonal_monthly_series() -> None:
    y = monthly_seasonal(84)
    train, test = Panel.from_arrays({"a": y[:-12]}, freq="M"), y[-12:]
    plain = SimpleSmoothing(deseasonalize=False).fit(train).predict(12).mean[0]
    adjusted = SimpleSmoothing().fit(train).predict(12).mean[0]
    assert np.mean(np.abs(test - adjusted)) < 0.5 * np.mean(np.abs(test - plain))


def test_holt_winters_too_short_for_a_season_is_a_damped_trend_not_the_fallback() -> None:
    panel = Panel.from_arrays({"a": monthly_seasonal(15)}, freq="M")
    forecast = create("holt_winters").fit(panel).predict(6)
    assert forecast.fallback == ()
    assert np.isfinite(forecast.mean).all()


def test_arima_on_a_seasonal_quarterly_series_beats_its_mean() -> None:
    rng = np.random.default_rng(5)
    y = 100 + 20 * np.tile([1.0, -0.5, 0.8, -1.3], 12) + rng.normal(0, 2, 48)
    train, test = Panel.from_arrays({"a": y[:-8]}, freq="Q"), y[-8:]
    mean = create("arima").fit(train).predict(8).mean[0]
    assert np.mean(np.abs(mean - test)) < 0.3 * np.mean(np.abs(y[:-8].mean() - test))


def test_ces_keeps_the_library_point_forecast_and_covers_a_random_walk_like_one() -> None:
    """The CES member's intervals are mean ± z·σ·√h (its docstring says why): the point
    forecast is statsforecast's own, and on random walks, whose spread grows like √h, the
    80% intervals cover about 80% of what follows at every step."""
    from statsforecast.models import AutoCES

    rng = np.random.default_rng(5)
    n_series, length, horizon = 300, 30, 6
    paths = 100 + rng.normal(0, 2.0, (n_series, length + horizon)).cumsum(axis=1)
    panel = Panel.from_arrays({f"s{i}": p[:length] for i, p in enumerate(paths)}, freq="Y")
    forecast = create("auto_ces").fit(panel).predict(horizon)
    library = AutoCES(season_length=1).fit(paths[0, :length]).predict(horizon)["mean"]
    np.testing.assert_allclose(forecast.mean[0], library)
    future = paths[:, length:]
    inside = (forecast.lower[80] <= future) & (future <= forecast.upper[80])
    assert np.all(np.abs(inside.mean(axis=0) - 0.80) < 0.08), inside.mean(axis=0)
    widths = forecast.upper[80] - forecast.lower[80]
    assert (np.diff(widths, axis=1) > 0).all()
