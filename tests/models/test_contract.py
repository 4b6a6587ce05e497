"""The model contract (models/base.py), checked for every registered family.

Parametrized over ``models.registry.REGISTRY`` so families added later are covered without
touching this file; each family is tested on the frequencies it declares.
"""

from __future__ import annotations

import inspect
import pickle
import re
from typing import Any

import numpy as np
import pytest

from features.panel import SEASON_LENGTHS, Panel, format_period
from models.base import Forecast, Forecaster, ModelError, NotFittedError
from models.registry import REGISTRY, available, create

#: Families whose fits take seconds on the test panels.
SLOW = frozenset({"arima", "auto_arima", "prophet"})
#: Families with normal intervals centred on the point forecast.
SYMMETRIC = frozenset(
    {
        "naive",
        "seasonal_naive",
        "drift",
        "ses",
        "holt",
        "damped",
        "holt_winters",
        "theta",
        "arima",
        "auto_ets",
        "auto_arima",
    }
)
HORIZONS = {"Y": 4, "Q": 6, "M": 8}
COLUMNS = ["series_id", "period", "forecast", "lo_80", "hi_80", "lo_95", "hi_95"]


def _marks(name: str) -> list[pytest.MarkDecorator]:
    return [pytest.mark.slow] if name in SLOW else []


def by_name() -> list[Any]:
    return [pytest.param(name, marks=_marks(name), id=name) for name in REGISTRY]


def by_name_and_freq(*, packed: bool = False) -> list[Any]:
    """(name, freq) for every family and frequency it forecasts (one tuple value for a
    fixture's ``params`` when ``packed``)."""
    return [
        pytest.param(
            *([(name, freq)] if packed else [name, freq]), marks=_marks(name), id=f"{name}-{freq}"
        )
        for freq in SEASON_LENGTHS
        for name in available(freq)
    ]


def synthetic_panel(freq: str, seed: int = 0, short: int = 0) -> Panel:
    """Trending, seasonal (Q/M) and noisy series of different lengths and start periods,
    plus one series of length ``short`` when ``short`` > 0."""
    rng = np.random.default_rng(seed)
    m = SEASON_LENGTHS[freq]
    lengths = {"Y": (18, 12), "Q": (32, 24), "M": (60, 40)}[freq]
    series: dict[str, np.ndarray] = {}
    starts: dict[str, str] = {}
    for k, n in enumerate(lengths):
        t = np.arange(n)
        season = 1 + 0.2 * np.sin(2 * np.pi * t / m) if m > 1 else 1.0
        series[f"s{k}"] = (200 + 3 * t + rng.normal(0, 4, n).cumsum()) * season
        starts[f"s{k}"] = {"Y": "1990", "Q": "2001-Q3", "M": "2005-07"}[freq]
    series["noise"] = rng.normal(50, 5, lengths[1])
    if short:
        series["short"] = 100 + rng.normal(0, 1, short)
    return Panel.from_arrays(series, freq=freq, starts=starts)


def check_forecast(model: Forecaster, name: str, panel: Panel, forecast: Forecast) -> None:
    horizon = HORIZONS[panel.freq]
    frame = forecast.to_frame()
    assert list(frame.columns) == COLUMNS
    assert len(frame) == panel.n_series * horizon
    expected = [format_period(p) for index in panel.future_periods(horizon) for p in index]
    assert frame["period"].tolist() == expected
    assert frame["series_id"].tolist() == list(np.repeat(panel.ids, horizon))
    values = frame[COLUMNS[2:]].to_numpy(dtype=float)
    assert np.isfinite(values).all(), f"{name} produced NaN/inf"
    assert (frame["lo_95"] <= frame["lo_80"] + 1e-9).all()
    assert (frame["lo_80"] <= frame["hi_80"] + 1e-9).all()
    assert (frame["hi_80"] <= frame["hi_95"] + 1e-9).all()
    if name in SYMMETRIC:
        tolerance = 1e-9 * (1 + frame["forecast"].abs())
        assert (frame["lo_80"] <= frame["forecast"] + tolerance).all()
        assert (frame["forecast"] <= frame["hi_80"] + tolerance).all()
    assert set(forecast.fallback) <= set(panel.ids)


@pytest.fixture(scope="module", params=by_name_and_freq(packed=True))
def fitted(request: pytest.FixtureRequest) -> tuple[str, Panel, Forecaster, Forecast, tuple]:
    """A model fitted on a synthetic panel of its frequency, its forecast, and copies of the
    panel's arrays taken before fitting (to detect mutation)."""
    name, freq = request.param
    model = create(name)
    panel = synthetic_panel(freq, short=max(model.min_train_length - 1, 0))
    before = (panel.values.copy(), panel.indptr.copy(), panel.ids, panel.starts)
    returned = model.fit(panel)
    assert returned is model
    return name, panel, model, model.predict(HORIZONS[freq]), before


def test_forecast_frame_shape_periods_and_values(fitted: tuple) -> None:
    name, panel, model, forecast, _ = fitted
    check_forecast(model, name, panel, forecast)


def test_fit_and_predict_do_not_mutate_the_panel(fitted: tuple) -> None:
    _, panel, model, _, (values, indptr, ids, starts) = fitted
    model.predict(3)  # a second prediction must not disturb anything either
    np.testing.assert_array_equal(panel.values, values)
    np.testing.assert_array_equal(panel.indptr, indptr)
    assert panel.ids == ids
    assert panel.starts == starts


def cases(keep: Any) -> list[Any]:
    """The (name, freq) cases for which ``keep(family, freq)`` holds: a check that does not
    apply to a family is not generated at all, rather than generated and skipped."""
    return [
        case for case in by_name_and_freq() if keep(REGISTRY[case.values[0]].family, case.values[1])
    ]


@pytest.mark.parametrize(("name", "freq"), cases(lambda family, _: family.min_train_length > 1))
def test_short_series_get_the_fallback(name: str, freq: str) -> None:
    model = create(name)
    panel = synthetic_panel(freq, short=model.min_train_length - 1)
    forecast = model.fit(panel).predict(HORIZONS[freq])
    assert "short" in forecast.fallback
    row = panel.ids.index("short")
    np.testing.assert_allclose(forecast.mean[row], panel.series(row)[-1])


@pytest.mark.parametrize(
    ("name", "freq"), cases(lambda family, freq: family.name in SYMMETRIC and freq == "Y")
)
def test_intervals_widen_or_stay_with_the_horizon(name: str, freq: str) -> None:
    """Yearly only: re-seasonalised intervals legitimately breathe with the season."""
    forecast = create(name).fit(synthetic_panel(freq)).predict(HORIZONS[freq])
    width = forecast.upper[95] - forecast.lower[95]
    assert (np.diff(width, axis=1) >= -1e-9 * (1 + width[:, 1:])).all()


@pytest.mark.parametrize("name", by_name())
def test_predict_before_fit_raises_not_fitted(name: str) -> None:
    with pytest.raises(NotFittedError, match=r"not fitted.*fit\(panel\)"):
        create(name).predict(3)


@pytest.mark.parametrize("name", by_name())
def test_get_params_returns_the_constructor_parameters(name: str) -> None:
    spec = REGISTRY[name]
    model = create(name)
    signature = inspect.signature(spec.family)
    defaults = {k: p.default for k, p in signature.parameters.items()}
    assert model.get_params() == {**defaults, **spec.params}
    clone = type(model)(**model.get_params())
    assert clone.get_params() == model.get_params()


@pytest.mark.parametrize(
    ("name", "freq"),
    [
        pytest.param(name, freq, marks=_marks(name), id=f"{name}-{freq}")
        for name, spec in REGISTRY.items()
        for freq in SEASON_LENGTHS
        if freq not in spec.family.frequencies
    ],
)
def test_unsupported_frequencies_raise_model_error(name: str, freq: str) -> None:
    with pytest.raises(ModelError, match=freq):
        create(name).fit(synthetic_panel(freq))


@pytest.mark.parametrize(("name", "freq"), by_name_and_freq())
def test_a_panel_of_single_points_works(name: str, freq: str) -> None:
    panel = Panel.from_arrays({"a": np.array([5.0]), "b": np.array([-2.0])}, freq=freq)
    forecast = create(name).fit(panel).predict(HORIZONS[freq])
    assert np.isfinite(forecast.to_frame().iloc[:, 2:].to_numpy(dtype=float)).all()
    np.testing.assert_allclose(forecast.mean[:, 0], [5.0, -2.0])


@pytest.mark.parametrize(("name", "freq"), by_name_and_freq())
def test_constant_and_huge_series_give_finite_forecasts(name: str, freq: str) -> None:
    n = {"Y": 15, "Q": 28, "M": 48}[freq]
    rng = np.random.default_rng(7)
    panel = Panel.from_arrays(
        {
            "constant": np.full(n, 42.0),
            "huge": 1e12 * (1 + 0.01 * rng.normal(size=n).cumsum()),
            "tiny": 1e-9 * (1 + 0.01 * rng.normal(size=n).cumsum()),
            "zeros": np.zeros(n),
        },
        freq=freq,
    )
    forecast = create(name).fit(panel).predict(HORIZONS[freq])
    check_forecast(create(name), name, panel, forecast)
    np.testing.assert_allclose(forecast.mean[0], 42.0, rtol=1e-6)
    np.testing.assert_allclose(forecast.mean[3], 0.0, atol=1e-9)
    huge, tiny = panel.series(1), panel.series(2)
    assert np.all(np.abs(forecast.mean[1] - huge[-1]) < 0.5 * np.abs(huge).max())
    assert np.all(np.abs(forecast.mean[2] - tiny[-1]) < 0.5 * np.abs(tiny).max())


@pytest.mark.parametrize(("name", "freq"), by_name_and_freq())
def test_refitting_replaces_the_state(name: str, freq: str) -> None:
    first, second = synthetic_panel(freq, seed=1), synthetic_panel(freq, seed=2)
    second = second.take([1, 0])  # other values, other order
    model = create(name).fit(first).fit(second)
    forecast = model.predict(HORIZONS[freq])
    fresh = create(name).fit(second).predict(HORIZONS[freq])
    assert forecast.ids == second.ids
    np.testing.assert_allclose(forecast.mean, fresh.mean, rtol=1e-6)
    assert forecast.fallback == fresh.fallback


# -- predict changes no learned state ---------------------------------------------------------


def fingerprint(value: Any) -> Any:
    """A comparable picture of a learned attribute: arrays by value, containers recursively,
    other objects by their pickle bytes (their whole state), or by their attributes when they
    cannot be pickled."""
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return ("objects", value.shape, [fingerprint(v) for v in value.ravel()])
        return ("array", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, list | tuple):
        return (type(value).__name__, [fingerprint(v) for v in value])
    if isinstance(value, dict):
        return ("dict", [(repr(k), fingerprint(v)) for k, v in value.items()])
    if value is None or isinstance(value, bool | int | str | float | np.generic):
        return repr(value)  # repr: NaN equals NaN
    try:
        return (type(value).__name__, pickle.dumps(value))
    except (pickle.PicklingError, TypeError, AttributeError):
        return (type(value).__name__, fingerprint(vars(value)))


def learned_state(model: Forecaster) -> dict[str, Any]:
    return {key: fingerprint(value) for key, value in vars(model).items() if key.endswith("_")}


@pytest.mark.parametrize(("name", "freq"), by_name_and_freq())
def test_predict_changes_no_learned_state(name: str, freq: str) -> None:
    """Predicting again, further ahead or at other levels must not retrain or cache anything:
    the engine and the API ask one fitted model several questions and rely on the answers not
    depending on the order they were asked in."""
    horizon = HORIZONS[freq]
    model = create(name).fit(synthetic_panel(freq))
    fitted = learned_state(model)
    first = model.predict(horizon)
    model.predict(3 * horizon)
    model.predict(horizon, levels=(50, 99))
    assert learned_state(model) == fitted
    again = model.predict(horizon)
    np.testing.assert_array_equal(again.mean, first.mean)
    np.testing.assert_array_equal(again.upper[95], first.upper[95])


# -- any levels, nested intervals -------------------------------------------------------------


@pytest.mark.parametrize(("name", "freq"), by_name_and_freq())
def test_any_levels_give_nested_intervals_around_the_forecast(name: str, freq: str) -> None:
    horizon = HORIZONS[freq]
    model = create(name).fit(synthetic_panel(freq))
    default = model.predict(horizon)
    asked = {
        levels: model.predict(horizon, levels=levels) for levels in [(50,), (10, 99), (95, 80)]
    }
    tolerance = 1e-9 * (1 + np.abs(default.mean))
    for levels, forecast in asked.items():
        assert forecast.levels == tuple(sorted(levels))
        np.testing.assert_array_equal(forecast.mean, default.mean)
        inner_lower, inner_upper = default.mean, default.mean
        for level in sorted(levels):  # narrowest first: each interval holds the one before
            lower, upper = forecast.lower[level], forecast.upper[level]
            assert np.isfinite(lower).all()
            assert np.isfinite(upper).all()
            assert (lower <= inner_lower + tolerance).all(), f"lo_{level} above the level inside"
            assert (inner_upper <= upper + tolerance).all(), f"hi_{level} below the level inside"
            inner_lower, inner_upper = lower, upper
    # A level's interval depends neither on the order of the levels nor on the others asked.
    for level in (80, 95):
        np.testing.assert_array_equal(asked[(95, 80)].lower[level], default.lower[level])
        np.testing.assert_array_equal(asked[(95, 80)].upper[level], default.upper[level])
    lone = model.predict(horizon, levels=(99,))
    np.testing.assert_array_equal(lone.upper[99], asked[(10, 99)].upper[99])


# -- bad parameters -----------------------------------------------------------------------------

#: One bad parameter per registered family, or None for a family without parameters. Every
#: registered name needs an entry (checked below), so a new family comes with its check.
BAD_PARAMETERS: dict[str, tuple[str, Any] | None] = {
    "naive": None,
    "seasonal_naive": None,
    "drift": None,
    "ses": ("initialization", "quick"),
    "holt": ("deseasonalize", "yes"),
    "damped": ("initialization", None),
    "holt_winters": None,
    "theta": ("theta", 0.5),
    "arima": ("max_p", -1),
    "auto_ets": ("model", "ABC"),
    "dotm": ("decomposition_type", "mixed"),
    "auto_theta": ("model", "XTM"),
    "auto_arima": ("stepwise", "yes"),
    "auto_ces": ("model", "Q"),
    "prophet": ("changepoint_prior_scale", 0.0),
    "lightgbm": ("lags", 0),
    "comb": ("method", "mode"),
}


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_family_has_a_bad_parameter_check(name: str) -> None:
    assert name in BAD_PARAMETERS, f"add one bad parameter of {name!r} to BAD_PARAMETERS"
    if BAD_PARAMETERS[name] is None:
        assert create(name).get_params() == {}, f"{name} has parameters: add a bad one"


@pytest.mark.parametrize("name", [name for name, bad in BAD_PARAMETERS.items() if bad])
def test_a_bad_parameter_is_one_model_error_naming_it_before_any_work(name: str) -> None:
    parameter, value = BAD_PARAMETERS[name] or ("", None)
    model = create(name, **{parameter: value})
    message = rf"^{parameter} must be .+, got {re.escape(repr(value))}$"
    with pytest.raises(ModelError, match=message):
        model.fit(synthetic_panel(sorted(model.frequencies)[0]))
    # Checked before the data are even looked at: a wrong argument does not mask it.
    with pytest.raises(ModelError, match=message):
        model.fit("not a panel")  # type: ignore[arg-type]
    assert not any(key.endswith("_") for key in vars(model)), "fit began before the check"


# -- determinism --------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "freq"), by_name_and_freq())
def test_same_parameters_and_panel_give_identical_forecasts(name: str, freq: str) -> None:
    seed = {"random_state": 7} if "random_state" in create(name).get_params() else {}
    panel, horizon = synthetic_panel(freq), HORIZONS[freq]
    model = create(name, **seed)
    first = model.fit(panel).predict(horizon)
    refitted = model.fit(panel).predict(horizon)
    fresh = create(name, **seed).fit(panel).predict(horizon)
    for other in (refitted, fresh):
        np.testing.assert_array_equal(other.mean, first.mean)
        for level in first.levels:
            np.testing.assert_array_equal(other.lower[level], first.lower[level])
            np.testing.assert_array_equal(other.upper[level], first.upper[level])
        assert other.fallback == first.fallback
