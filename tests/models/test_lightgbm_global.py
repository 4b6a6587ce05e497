"""LightGBM global model: trend extrapolation, determinism, ragged panels, short series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.panel import Panel
from models.base import ModelError
from models.lightgbm_global import LightGBMGlobal, TargetTransform
from models.naive import Naive
from models.registry import create


def _trend_panel(n_series: int = 60, horizon: int = 6, seed: int = 0) -> tuple[Panel, np.ndarray]:
    """Noisy linear trends of different slopes, scales, lengths and start years; the training
    panel and the ``horizon`` values that follow each series."""
    rng = np.random.default_rng(seed)
    series: dict[str, np.ndarray] = {}
    starts: dict[str, str] = {}
    for i in range(n_series):
        n = int(rng.integers(12, 30)) + horizon
        level, slope = rng.uniform(50, 500), rng.uniform(-2, 8)
        scale = 10.0 ** rng.integers(0, 5)
        series[f"s{i:02d}"] = scale * (level + slope * np.arange(n) + rng.normal(0, 3, n))
        starts[f"s{i:02d}"] = str(int(rng.integers(1980, 2000)))
    full = Panel.from_arrays(series, freq="Y", starts=starts)
    train, _ = full.drop_last(horizon)
    future = np.stack([full.series(i)[-horizon:] for i in range(full.n_series)])
    return train, future


def _mase(panel: Panel, future: np.ndarray, forecast: np.ndarray) -> float:
    scales = np.array([np.mean(np.abs(np.diff(y))) for _, y in panel])
    return float(np.mean(np.mean(np.abs(future - forecast), axis=1) / scales))


def test_extrapolates_noisy_trends_better_than_naive() -> None:
    panel, future = _trend_panel()
    forecast = LightGBMGlobal().fit(panel).predict(6)
    assert forecast.fallback == ()
    naive = Naive().fit(panel).predict(6)
    model_mase, naive_mase = _mase(panel, future, forecast.mean), _mase(panel, future, naive.mean)
    assert model_mase < 0.5 * naive_mase
    # Rising series are forecast to keep rising.
    rising = future[:, -1] > future[:, 0]
    assert (forecast.mean[rising, -1] > forecast.mean[rising, 0]).mean() > 0.9


def test_is_deterministic_for_a_fixed_random_state() -> None:
    panel, _ = _trend_panel(n_series=30)
    first = LightGBMGlobal(random_state=3).fit(panel).predict(6)
    second = LightGBMGlobal(random_state=3).fit(panel).predict(6)
    np.testing.assert_array_equal(first.mean, second.mean)
    for level in (80, 95):
        np.testing.assert_array_equal(first.lower[level], second.lower[level])
        np.testing.assert_array_equal(first.upper[level], second.upper[level])


def test_ragged_panel_keeps_each_series_own_periods() -> None:
    panel, _ = _trend_panel(n_series=20)
    assert len(set(panel.lengths)) > 1
    assert len(set(panel.starts)) > 1
    frame = LightGBMGlobal().fit(panel).predict(4).to_frame()
    last = dict(zip(panel.ids, panel.last_periods(), strict=True))
    for series_id, group in frame.groupby("series_id"):
        expected = [str(last[str(series_id)] + k) for k in range(1, 5)]
        assert group["period"].tolist() == expected


def test_series_too_short_for_a_prediction_row_get_the_fallback() -> None:
    panel, _ = _trend_panel(n_series=20)
    series = {series_id: np.array(y) for series_id, y in panel}
    series["two_points"] = np.array([10.0, 12.0])
    series["three_points"] = np.array([10.0, 12.0, 13.0])  # 3 lags + 1 difference need 4
    series["four_points"] = np.array([10.0, 12.0, 13.0, 15.0])
    ragged = Panel.from_arrays(series, freq="Y")
    forecast = LightGBMGlobal().fit(ragged).predict(6)
    assert set(forecast.fallback) == {"two_points", "three_points"}
    assert np.isfinite(forecast.to_frame().iloc[:, 2:].to_numpy(dtype=float)).all()


def test_steps_the_panel_is_too_short_to_train_are_extended_not_left_to_the_fallback() -> None:
    rng = np.random.default_rng(0)
    series = {f"s{i}": 100 + np.arange(8.0) * (i + 1) + rng.normal(0, 1, 8) for i in range(10)}
    panel = Panel.from_arrays(series, freq="Y")
    model = LightGBMGlobal().fit(panel)
    # Step k needs 3 lags + 1 difference + k points: 8 points train steps 1-4 only.
    assert model.trained_horizon_ == 4
    four, six = model.predict(4), model.predict(6)
    assert four.fallback == ()
    assert six.fallback == ()
    np.testing.assert_allclose(six.mean[:, :4], four.mean)
    # The average change per step over the trained steps carries on.
    last = np.array([y[-1] for _, y in panel])
    drift = (four.mean[:, 3] - last) / 4
    np.testing.assert_allclose(six.mean[:, 4], four.mean[:, 3] + drift)
    np.testing.assert_allclose(six.mean[:, 5], four.mean[:, 3] + 2 * drift)


def test_horizons_beyond_max_horizon_are_extended_without_training() -> None:
    panel, _ = _trend_panel(n_series=30)
    model = LightGBMGlobal(max_horizon=3).fit(panel)
    short = model.predict(3)
    longer = model.predict(5)
    assert model.trained_horizon_ == 3
    assert longer.fallback == ()
    np.testing.assert_allclose(longer.mean[:, :3], short.mean)
    np.testing.assert_allclose(longer.upper[80][:, :3], short.upper[80])
    width = longer.upper[80] - longer.lower[80]
    np.testing.assert_allclose(width[:, 4], width[:, 2] * np.sqrt(5 / 3))
    # Asking again for the short horizon gives what it gave before the longer request.
    np.testing.assert_array_equal(model.predict(3).mean, short.mean)


def test_monthly_steps_beyond_the_trained_ones_keep_the_seasonal_shape() -> None:
    rng = np.random.default_rng(4)
    shape = rng.normal(0, 20, 12)
    series = {
        f"m{i}": 300 + 0.5 * np.arange(48) + np.tile(shape, 4) + rng.normal(0, 1, 48)
        for i in range(20)
    }
    panel = Panel.from_arrays(series, freq="M", starts={"m0": "2010-01"})
    forecast = LightGBMGlobal(max_horizon=6, n_estimators=50).fit(panel).predict(18)
    # Steps 7-18 are the same month a year earlier plus one yearly change per series.
    last_year = np.stack([y[-6:] for _, y in panel])
    change = forecast.mean[:, 6:12] - last_year
    np.testing.assert_allclose(change, change[:, :1].repeat(6, axis=1))
    np.testing.assert_allclose(forecast.mean[:, 12:] - forecast.mean[:, :6], change)
    assert np.corrcoef(forecast.mean[0, 6:18], np.roll(shape, -6))[0, 1] > 0.95


@pytest.mark.parametrize("transform", ["seasonal_difference", "difference", "ratio"])
def test_monthly_seasonal_panel_beats_seasonal_naive(transform: TargetTransform) -> None:
    rng = np.random.default_rng(1)
    horizon, n = 12, 60
    series = {}
    for i in range(30):
        t = np.arange(n + horizon)
        shape = rng.normal(0, 10, 12)
        y = 200 + rng.uniform(0, 1) * t + np.tile(shape, 6)[: n + horizon]
        series[f"m{i}"] = rng.uniform(1, 50) * (y + rng.normal(0, 2, n + horizon))
    full = Panel.from_arrays(series, freq="M", starts={"m0": "2010-04"})
    train, _ = full.drop_last(horizon)
    future = np.stack([full.series(i)[-horizon:] for i in range(full.n_series)])
    model = LightGBMGlobal(target_transform=transform, max_horizon=horizon, n_estimators=100)
    forecast = model.fit(train).predict(horizon)
    snaive = np.stack([y[-12:] for _, y in train])
    error = np.mean(np.abs(future - forecast.mean))
    assert error < np.mean(np.abs(future - snaive))


def test_intervals_cover_random_walks_about_as_promised() -> None:
    rng = np.random.default_rng(2)
    horizon, n = 4, 30
    series = {f"w{i}": 100 + np.cumsum(rng.normal(0.5, 1, n + horizon)) for i in range(300)}
    full = Panel.from_arrays(series, freq="Y")
    train, _ = full.drop_last(horizon)
    future = np.stack([full.series(i)[-horizon:] for i in range(full.n_series)])
    forecast = LightGBMGlobal().fit(train).predict(horizon)
    for level in (80, 95):
        inside = (future >= forecast.lower[level]) & (future <= forecast.upper[level])
        assert abs(inside.mean() - level / 100) < 0.08
        width = forecast.upper[level] - forecast.lower[level]
        assert (np.diff(width, axis=1) >= 0).all()


def test_constant_series_are_extrapolated_exactly() -> None:
    panel = Panel.from_arrays(
        {"flat": np.full(12, 5.0), "line": 3.0 + 2 * np.arange(12.0), "zeros": np.zeros(12)},
        freq="Y",
    )
    forecast = LightGBMGlobal().fit(panel).predict(3)
    np.testing.assert_allclose(forecast.mean[0], 5.0)
    np.testing.assert_allclose(forecast.mean[1], [27.0, 29.0, 31.0])
    np.testing.assert_allclose(forecast.mean[2], 0.0)


def test_the_registry_makes_it_for_the_horizon_it_will_be_asked() -> None:
    assert create("lightgbm", horizon=10).get_params()["max_horizon"] == 10
    assert create("lightgbm", horizon=10, max_horizon=4).get_params()["max_horizon"] == 4
    assert create("drift", horizon=10).get_params() == {}


def test_bad_parameters_are_model_errors() -> None:
    panel, _ = _trend_panel(n_series=5)
    with pytest.raises(ModelError, match="target_transform"):
        LightGBMGlobal(target_transform="log").fit(panel)  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="lags"):
        LightGBMGlobal(lags=0).fit(panel)
    with pytest.raises(ModelError, match="interval_folds"):
        LightGBMGlobal(interval_folds=1).fit(panel)


def test_fit_does_not_modify_the_panel() -> None:
    panel, _ = _trend_panel(n_series=10)
    values = panel.values.copy()
    LightGBMGlobal(target_transform="ratio").fit(panel).predict(8)
    np.testing.assert_array_equal(panel.values, values)
    assert isinstance(panel.starts[0], pd.Period)
