"""The model zoo as data: every family the engine can use, by name, with default parameters.

The engine, the CLI (``--models``) and the benchmarks create models only through
:func:`create`, so adding a family means adding one :class:`ModelSpec` here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from models.base import Forecaster, ModelError
from models.combination import Combination
from models.drift import Drift
from models.ets import SES, DampedHolt, Holt
from models.lightgbm_global import LightGBMGlobal
from models.naive import Naive, SeasonalNaive
from models.prophet_model import ProphetModel
from models.statsforecast_local import (
    AutoARIMAModel,
    AutoCESModel,
    AutoETSModel,
    AutoThetaModel,
    DynamicOptimizedTheta,
    SeasonalDamped,
)
from models.theta import Theta


@dataclass(frozen=True)
class ModelSpec:
    """A named configuration of a model family."""

    name: str
    family: type[Forecaster]
    params: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    def create(self, *, horizon: int | None = None, **overrides: Any) -> Forecaster:
        """A new model; with ``horizon``, a family that learns a fixed number of steps (its
        ``horizon_parameter``) learns that many, unless ``overrides`` set it explicitly."""
        params = {**self.params}
        if horizon is not None and self.family.horizon_parameter is not None:
            params[self.family.horizon_parameter] = horizon
        return self.family(**{**params, **overrides})


_SPECS: Final[tuple[ModelSpec, ...]] = (
    ModelSpec("naive", Naive, description="last value carried forward"),
    ModelSpec("seasonal_naive", SeasonalNaive, description="same season one cycle earlier"),
    ModelSpec("drift", Drift, description="random walk with drift"),
    ModelSpec("ses", SES, description="simple exponential smoothing (M4-style adjustment)"),
    ModelSpec("holt", Holt, description="Holt's linear trend (M4-style adjustment)"),
    ModelSpec("damped", DampedHolt, description="additive damped trend (M4-style adjustment)"),
    ModelSpec(
        "holt_winters",
        SeasonalDamped,
        description="damped trend with seasonality, statsforecast ETS(Z,Ad,Z), Q/M only",
    ),
    ModelSpec("theta", Theta, description="standard Theta method: SES with half the OLS drift"),
    ModelSpec(
        "arima",
        AutoARIMAModel,
        description="statsforecast AutoARIMA (auto.arima), the same model as auto_arima",
    ),
    ModelSpec(
        "auto_ets",
        AutoETSModel,
        description="statsforecast AutoETS: error/trend/season types chosen by AICc",
    ),
    ModelSpec(
        "dotm",
        DynamicOptimizedTheta,
        description="statsforecast dynamic optimised Theta (θ, α estimated)",
    ),
    ModelSpec(
        "auto_theta",
        AutoThetaModel,
        description="statsforecast AutoTheta: best of standard, optimised and dynamic Theta",
    ),
    ModelSpec(
        "auto_arima",
        AutoARIMAModel,
        description="statsforecast AutoARIMA (auto.arima: KPSS differencing, stepwise AICc)",
    ),
    ModelSpec(
        "auto_ces",
        AutoCESModel,
        description="statsforecast complex exponential smoothing, seasonality chosen by AICc",
    ),
    ModelSpec("prophet", ProphetModel, description="Prophet + Spring Festival regressor, Q/M only"),
    ModelSpec("lightgbm", LightGBMGlobal, description="global LightGBM, direct multi-step"),
    ModelSpec(
        "comb",
        Combination,
        {"members": ("ses", "holt", "damped"), "method": "mean"},
        description="M4 'Comb' benchmark: mean of SES, Holt and damped",
    ),
)

REGISTRY: Final[Mapping[str, ModelSpec]] = MappingProxyType({spec.name: spec for spec in _SPECS})


def create(name: str, *, horizon: int | None = None, **overrides: Any) -> Forecaster:
    """A new, unfitted model of the registered configuration ``name``; ``horizon`` is the
    horizon it will be asked for (see :attr:`Forecaster.horizon_parameter`)."""
    try:
        spec = REGISTRY[name]
    except KeyError:
        known = ", ".join(REGISTRY)
        raise ModelError(f"unknown model {name!r}; registered models: {known}") from None
    return spec.create(horizon=horizon, **overrides)


def available(freq: str | None = None) -> list[str]:
    """Registered names, optionally only those that forecast series of frequency ``freq``."""
    return [
        name for name, spec in REGISTRY.items() if freq is None or freq in spec.family.frequencies
    ]
