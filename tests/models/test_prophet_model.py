"""Prophet: the Spring Festival regressor, seasonal shape, intervals."""

from __future__ import annotations

import copy
from datetime import date

import numpy as np
import pandas as pd
import pytest

from features.panel import Panel
from models.base import ModelError
from models.prophet_model import ProphetModel, spring_festival_dates, spring_festival_share


def test_spring_festival_dates_come_from_the_holiday_calendar() -> None:
    dates = spring_festival_dates([2024, 2025, 2026])
    assert dates == {2024: date(2024, 2, 10), 2025: date(2025, 1, 29), 2026: date(2026, 2, 17)}


def test_festival_week_is_split_between_january_and_february_by_the_real_date() -> None:
    periods = pd.period_range("2024-01", "2025-03", freq="M")
    share = dict(zip(periods.strftime("%Y-%m"), spring_festival_share(periods), strict=True))
    # 2024: Eve 9 February, the whole week in February.
    assert share["2024-01"] == 0.0
    assert share["2024-02"] == 1.0
    # 2025: Eve 28 January, four days in January and three in February.
    assert share["2025-01"] == pytest.approx(4 / 7)
    assert share["2025-02"] == pytest.approx(3 / 7)
    assert all(value == 0.0 for key, value in share.items() if key[5:] not in {"01", "02"})


def test_festival_share_is_non_zero_only_in_january_and_february_and_sums_to_one() -> None:
    periods = pd.period_range("1990-01", "2040-12", freq="M")
    share = spring_festival_share(periods)
    assert (share[~np.isin(periods.month, [1, 2])] == 0).all()
    yearly = pd.Series(share).groupby(periods.year).sum()
    np.testing.assert_allclose(yearly, 1.0)
    quarters = pd.period_range("2020Q1", "2021Q4", freq="Q-DEC")
    np.testing.assert_array_equal(spring_festival_share(quarters), [1, 0, 0, 0, 1, 0, 0, 0])


def test_a_year_outside_the_calendar_is_an_error_not_a_zero() -> None:
    with pytest.raises(ModelError, match="1900"):
        spring_festival_share(pd.period_range("1900-01", periods=3, freq="M"))


def _seasonal(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    shape = 20 * np.sin(2 * np.pi * t / 12) + 8 * np.cos(4 * np.pi * t / 12)
    return 200 + 0.3 * t + shape + rng.normal(0, 2, n)


def test_prophet_recovers_the_seasonal_shape_of_a_clean_monthly_series() -> None:
    full = _seasonal(72 + 24)
    panel = Panel.from_arrays({"a": full[:72]}, freq="M", starts={"a": "2015-01"})
    forecast = ProphetModel().fit(panel).predict(24)
    assert forecast.fallback == ()
    truth = full[72:]
    assert np.corrcoef(forecast.mean[0], truth)[0, 1] > 0.9
    assert np.mean(np.abs(forecast.mean[0] - truth)) < 5
    inside = (truth >= forecast.lower[95][0]) & (truth <= forecast.upper[95][0])
    assert inside.mean() >= 0.8


def test_the_festival_regressor_learns_a_moving_dip() -> None:
    """Hiring falls by 40 in proportion to the festival week in the month; the model with the
    regressor puts the dip in the right month of years it has not seen."""
    periods = pd.period_range("2012-01", "2025-12", freq="M")
    rng = np.random.default_rng(3)
    y = 300 + 0.2 * np.arange(len(periods)) - 40 * spring_festival_share(periods)
    y = y + rng.normal(0, 1.5, len(periods))
    train = 144  # 2012-2023; 2024 has the whole week in February, 2025 mostly in January
    panel = Panel.from_arrays({"hiring": y[:train]}, freq="M", starts={"hiring": "2012-01"})
    with_festival = ProphetModel().fit(panel)
    without = ProphetModel(spring_festival=False).fit(panel)
    assert with_festival.fits_[0] is not None
    assert with_festival.fits_[0].festival
    assert without.fits_[0] is not None
    assert not without.fits_[0].festival
    truth = y[train:]
    error_with = np.abs(with_festival.predict(24).mean[0] - truth)
    error_without = np.abs(without.predict(24).mean[0] - truth)
    jan_feb = np.isin(periods[train:].month, [1, 2])
    assert error_with[jan_feb].mean() < 5
    assert error_with[jan_feb].mean() < 0.5 * error_without[jan_feb].mean()


def test_quarterly_series_skip_the_regressor_it_would_duplicate() -> None:
    rng = np.random.default_rng(1)
    y = 100 + np.tile([10.0, -5.0, 0.0, -5.0], 8) + rng.normal(0, 1, 32)
    panel = Panel.from_arrays({"q": y}, freq="Q", starts={"q": "2015-Q1"})
    model = ProphetModel().fit(panel)
    assert model.fits_[0] is not None
    assert not model.fits_[0].festival
    assert model.fourier_order_ == 2


def test_closed_form_intervals_match_prophets_sampled_ones() -> None:
    rng = np.random.default_rng(5)
    n = 96
    slope = np.cumsum(rng.normal(0, 0.3, n))
    y = 100 + np.cumsum(slope) + 5 * np.sin(2 * np.pi * np.arange(n) / 12) + rng.normal(0, 2, n)
    panel = Panel.from_arrays({"a": y}, freq="M", starts={"a": "2010-01"})
    model = ProphetModel(changepoint_prior_scale=0.5).fit(panel)
    forecast = model.predict(24)
    fit = model.fits_[0]
    assert fit is not None
    periods = panel.future_periods(24)[0]
    future = pd.DataFrame({"ds": periods.start_time})
    if fit.festival:
        future["spring_festival"] = spring_festival_share(periods)
    reference = copy.deepcopy(fit.model)  # Prophet's own Monte Carlo intervals, for reference
    reference.uncertainty_samples = 4000
    reference.interval_width = 0.8
    sampled = reference.predict(future)
    ratio = (forecast.upper[80][0] - forecast.lower[80][0]) / (
        sampled["yhat_upper"] - sampled["yhat_lower"]
    ).to_numpy()
    # Same variance; a normal is a little wider at 80% than Prophet's heavy-tailed draws.
    assert np.all((ratio > 0.85) & (ratio < 1.35))


def test_short_monthly_series_get_the_fallback_without_fitting() -> None:
    panel = Panel.from_arrays({"short": _seasonal(20)}, freq="M")
    model = ProphetModel().fit(panel)
    assert model.fits_ == [None]
    assert model.predict(3).fallback == ("short",)


def test_bad_parameters_are_model_errors() -> None:
    panel = Panel.from_arrays({"a": _seasonal(30)}, freq="M")
    with pytest.raises(ModelError, match="seasonality_mode"):
        ProphetModel(seasonality_mode="both").fit(panel)  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="fourier_order"):
        ProphetModel(fourier_order=0).fit(panel)
    with pytest.raises(ModelError, match="Y"):
        ProphetModel().fit(Panel.from_arrays({"a": _seasonal(30)}, freq="Y"))
