"""Automatic ARIMA: differencing tests, search, intervals and robustness."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.tsa.arima.model import ARIMA

import models.arima as arima_module
from features.panel import Panel
from models.arima import ArimaFit, AutoARIMA, differences, seasonal_differences
from models.base import ModelError

pytestmark = pytest.mark.slow


def random_walk_with_drift(n: int = 60, seed: int = 0) -> np.ndarray:
    return 100 + np.cumsum(np.random.default_rng(seed).normal(0.8, 1.0, n))


def white_noise(n: int = 60, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(10.0, 1.0, n)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kpss_differences_a_random_walk_once_and_leaves_noise_alone(seed: int) -> None:
    assert differences(random_walk_with_drift(seed=seed)) == 1
    assert differences(white_noise(seed=seed)) == 0
    assert differences(np.full(30, 4.0)) == 0


def test_fitted_orders_recover_d() -> None:
    panel = Panel.from_arrays({"walk": random_walk_with_drift(), "noise": white_noise()}, freq="Y")
    model = AutoARIMA().fit(panel)
    walk, noise = model.states_
    assert isinstance(walk, ArimaFit)
    assert isinstance(noise, ArimaFit)
    assert walk.order[1] == 1
    assert walk.trend == "t"
    assert noise.order[1] == 0
    assert noise.trend == "c"
    forecast = model.predict(5)
    assert (np.diff(forecast.mean[0]) > 0).all()
    np.testing.assert_allclose(forecast.mean[1], 10.0, atol=0.6)


def test_seasonal_differencing_only_for_strong_seasonality() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(72)
    seasonal = 50 + 10 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1, 72)
    assert seasonal_differences(seasonal, 12) == 1
    assert seasonal_differences(white_noise(72), 12) == 0
    assert seasonal_differences(seasonal, 1) == 0
    assert seasonal_differences(seasonal[:20], 12) == 0  # shorter than two seasons


def test_seasonal_series_gets_a_seasonal_model_that_beats_the_mean() -> None:
    rng = np.random.default_rng(4)
    t = np.arange(60)
    y = 50 + 10 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1, 60)
    model = AutoARIMA().fit(Panel.from_arrays({"a": y[:48]}, freq="M"))
    assert model.states_[0].seasonal_order[1] == 1
    forecast = model.predict(12).mean[0]
    assert np.mean(np.abs(forecast - y[48:])) < 0.3 * np.mean(np.abs(y[48:] - y[:48].mean()))


def test_intervals_are_statsmodels_conf_int() -> None:
    y = random_walk_with_drift(40, seed=5)
    model = AutoARIMA().fit(Panel.from_arrays({"a": y}, freq="Y"))
    forecast = model.predict(6, levels=(80, 95))
    state = model.states_[0]
    result = ARIMA(
        state.x,
        order=state.order,
        seasonal_order=state.seasonal_order,
        trend=state.trend,
        concentrate_scale=True,
    ).filter(state.params)
    for level in (80, 95):
        bounds = result.get_forecast(6).conf_int(alpha=1 - level / 100) * state.scale
        np.testing.assert_allclose(forecast.lower[level][0], bounds[:, 0], rtol=1e-8)
        np.testing.assert_allclose(forecast.upper[level][0], bounds[:, 1], rtol=1e-8)
    width = forecast.upper[95][0] - forecast.lower[95][0]
    assert (np.diff(width) > 0).all()


def test_search_respects_the_fit_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    original = arima_module._fit_candidate

    def counting(*args: object) -> ArimaFit | None:
        calls.append(args[1])
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(arima_module, "_fit_candidate", counting)
    AutoARIMA(max_fits=3).fit(Panel.from_arrays({"a": random_walk_with_drift(50)}, freq="Y"))
    assert 1 <= len(calls) <= 3
    assert len(set(calls)) == len(calls)  # no candidate is fitted twice


def test_degenerate_series_never_crash() -> None:
    rng = np.random.default_rng(6)
    panel = Panel.from_arrays(
        {
            "constant": np.full(20, 3.0),
            "spikes": np.r_[np.zeros(15), 1e9, np.zeros(4)],
            "alternating": np.tile([1.0, -1.0], 10) * 1e6,
            "explosive": 1.5 ** np.arange(25),
            "minimal": rng.normal(0, 1, AutoARIMA.min_train_length),
        },
        freq="Q",
    )
    forecast = AutoARIMA().fit(panel).predict(8)
    values = forecast.to_frame().iloc[:, 2:].to_numpy(dtype=float)
    assert np.isfinite(values).all()
    assert "constant" in forecast.fallback  # no variance to estimate: the naive fallback
    np.testing.assert_allclose(forecast.mean[0], 3.0)


def test_invalid_parameters_are_model_errors() -> None:
    panel = Panel.from_arrays({"a": white_noise(20)}, freq="Y")
    with pytest.raises(ModelError, match="max_p"):
        AutoARIMA(max_p=-1).fit(panel)
    with pytest.raises(ModelError, match="max_fits"):
        AutoARIMA(max_fits=0).fit(panel)
