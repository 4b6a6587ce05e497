"""Local statistical models from statsforecast: ETS, Theta, ARIMA and CES, maintained upstream.

statsforecast (Nixtla) implements R's ``forecast`` package models in C++: automatic ETS with
AICc selection over error/trend/season types, the Theta family (standard, optimised and dynamic
optimised Theta with their own multiplicative seasonal decomposition test), ``auto.arima`` with
KPSS and seasonal-strength differencing, and complex exponential smoothing. A yearly series
fits in a few milliseconds, which matters because the forecasting engine backtests every
candidate several times per series.

Each family here wraps one statsforecast model class: parameters are stored as given, the
library object is built per series in :meth:`StatsforecastModel._fit_one` (season length from
the panel: 1 for yearly, 4 quarterly, 12 monthly), ``fit(y)`` learns and ``predict(h,
level=...)`` returns the point forecast and the bounds of every requested level. The bounds are
the library's own: normal for ETS and ARIMA, simulated quantiles for Theta and CES (not
symmetric around the point forecast). The engine recalibrates them on backtest errors anyway.

statsforecast refuses series too short for a model (``NotImplementedError("tiny datasets")``,
``ValueError``, ``RuntimeError`` from ARIMA, and a plain ``Exception("no model able to be
fitted")`` when every candidate fails). Those failures of one series are caught and that series
gets the base class's naive fallback, listed in :attr:`models.base.Forecast.fallback`; a
degenerate series never stops a job. ``min_train_length`` of each family is the length below
which the library refuses every series (measured, see each class).

SES, Holt and damped Holt (:class:`SimpleSmoothing`, :class:`HoltLinear`, :class:`DampedTrend`)
keep the M4 benchmarks' recipe for quarterly and monthly series: the series is tested for
seasonality, adjusted by classical decomposition and re-seasonalised afterwards
(:mod:`features.seasonality`), so they mean the same method the M4 competition used.

The members ``holt_winters`` and ``arima`` were hand-written on statsmodels before; on the M1
yearly, quarterly and monthly series the statsforecast models here were as accurate within noise
(paired differences inside two standard errors: Holt-Winters MASE −0.145 ± 0.295 quarterly,
+0.032 ± 0.040 monthly; ARIMA +0.026 ± 0.210 yearly, −0.002 ± 0.156 quarterly, −0.002 ±
0.120 monthly) and 1.4 (monthly Holt-Winters) to 26 (yearly ARIMA) times faster
(``experiments/benchmarks/results/members.md``, run of 2026-12-07 06:36 UTC).
:class:`SimpleSmoothing`, :class:`HoltLinear` and :class:`DampedTrend` are the benchmark's
counterparts of the hand-written ``ses``, ``holt`` and ``damped``, which stay the
registered members (:mod:`models.ets` says why).
"""

from __future__ import annotations

import warnings
from abc import abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import numpy as np

from features.panel import Panel
from features.seasonality import SeasonalIndices, deseasonalize, reseasonalize, seasonal_indices
from models.base import (
    DEFAULT_LEVELS,
    NUMERIC_ERRORS,
    LocalForecaster,
    check_choice,
    check_whole_number,
    invalid_parameter,
    normal_quantile,
)

#: What statsforecast raises on a series it cannot fit (besides :data:`NUMERIC_ERRORS`).
LIBRARY_ERRORS: Final[tuple[type[Exception], ...]] = (
    *NUMERIC_ERRORS,
    NotImplementedError,
    RuntimeError,
)
_ETS_COMPONENTS: Final[tuple[frozenset[str], ...]] = (
    frozenset("AMZ"),
    frozenset("NAMZ"),
    frozenset("NAMZ"),
)
_THETA_MODELS: Final[frozenset[str]] = frozenset({"STM", "OTM", "DSTM", "DOTM"})
_DECOMPOSITIONS: Final[frozenset[str]] = frozenset({"multiplicative", "additive"})
_CES_MODELS: Final[frozenset[str]] = frozenset({"N", "S", "P", "F", "Z"})


class LibraryFitError(ValueError):
    """statsforecast could not fit one series (too short or degenerate): it gets the fallback."""


@contextmanager
def quiet_library() -> Iterator[None]:
    """Silence, inside the block only, the warnings statsforecast emits while its optimisers
    explore hard series (overflow, divisions by a zero variance, too few residuals): the
    fallback and the engine's backtests handle those series, and the warnings would flood job
    logs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        yield


@dataclass(frozen=True, eq=False)
class LibraryFit:
    """A fitted statsforecast model of one series, with the seasonal adjustment to undo."""

    model: Any
    indices: SeasonalIndices | None
    n: int


class StatsforecastModel(LocalForecaster):
    """A local family backed by one statsforecast model class.

    Subclasses store their parameters in ``__init__``, implement :meth:`_library_model` (the
    unfitted statsforecast object for a series of length ``n``) and, where they have
    parameters, :meth:`~models.base.Forecaster._validate_params`.
    """

    #: Whether the family adjusts Q/M series M4-style before fitting (a parameter where the
    #: family offers it, see :class:`_AdjustedETS`).
    deseasonalize: bool = False

    def _fit(self, panel: Panel, usable: np.ndarray) -> None:
        self.season_length_ = panel.season_length
        super()._fit(panel, usable)

    @abstractmethod
    def _library_model(self, n: int) -> Any:
        """The unfitted statsforecast model for a series of ``n`` values."""

    def _fit_one(self, y: np.ndarray) -> LibraryFit:
        indices = seasonal_indices(y, self.season_length_) if self.deseasonalize else None
        x = deseasonalize(y, indices)
        return LibraryFit(fit_library(self._library_model(len(x)), x), indices, len(y))

    def _forecast_one(
        self, state: LibraryFit, horizon: int
    ) -> tuple[np.ndarray, dict[int, tuple[np.ndarray, np.ndarray]]]:
        return self._forecast_levels(state, horizon, DEFAULT_LEVELS)

    def _forecast_levels(
        self, state: LibraryFit, horizon: int, levels: tuple[int, ...]
    ) -> tuple[np.ndarray, dict[int, tuple[np.ndarray, np.ndarray]]]:
        with quiet_library():
            result = self._library_forecast(state, horizon, levels)

        def column(key: str) -> np.ndarray:
            return reseasonalize(np.asarray(result[key], dtype=float), state.indices, state.n)

        mean = column("mean")
        return mean, _nested(mean, {lv: (column(f"lo-{lv}"), column(f"hi-{lv}")) for lv in levels})

    def _library_forecast(
        self, state: LibraryFit, horizon: int, levels: tuple[int, ...]
    ) -> dict[str, Any]:
        """The library's forecast as it returns it (``mean``, ``lo-80``, ``hi-80``, ...), on
        the scale the model was fitted on; a family whose library intervals do not serve
        overrides this."""
        return dict(state.model.predict(horizon, level=list(levels)))


def _nested(
    mean: np.ndarray, bounds: dict[int, tuple[np.ndarray, np.ndarray]]
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Bounds that hold the point forecast and grow with the level.

    The Theta and CES families read their intervals off simulated paths, whose quantiles need
    not hold the analytic point forecast (a narrow interval can sit beside it) nor be nested
    across levels; the model contract promises both.
    """
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    low, high = mean, mean
    for level in sorted(bounds):
        low = np.minimum(bounds[level][0], low)
        high = np.maximum(bounds[level][1], high)
        out[level] = (low, high)
    return out


def fit_library(model: Any, x: np.ndarray) -> Any:
    """``model.fit(x)``, with statsforecast's refusals turned into :class:`LibraryFitError`.

    statsforecast signals "every candidate model failed" with a plain ``Exception``; only that
    exact type is translated, so its subclasses (a ``TypeError`` from a programming error, a
    ``MemoryError``) still propagate.
    """
    try:
        with quiet_library():
            return model.fit(x)
    except LIBRARY_ERRORS as error:
        raise LibraryFitError(f"statsforecast could not fit the series: {error}") from error
    except Exception as error:
        if type(error) is not Exception:
            raise
        raise LibraryFitError(f"statsforecast could not fit the series: {error}") from error


def _check_ets_model(value: Any) -> None:
    if not (
        isinstance(value, str)
        and len(value) == 3
        and all(letter in allowed for letter, allowed in zip(value, _ETS_COMPONENTS, strict=True))
    ):
        raise invalid_parameter(
            "model",
            value,
            "three letters error/trend/season, error in A, M, Z and trend and season in N, A, "
            "M, Z (e.g. 'ZZZ' to select all, 'AAN' for Holt)",
        )


class AutoETSModel(StatsforecastModel):
    """Automatic ETS (Hyndman et al. 2008): the error/trend/season combination with the lowest
    AICc among those ``model`` allows ('ZZZ': all), damped trends included unless ``damped``
    says otherwise. statsforecast refuses series of 6 values or fewer."""

    name: ClassVar[str] = "auto_ets"
    min_train_length: ClassVar[int] = 7

    def __init__(self, model: str = "ZZZ", damped: bool | None = None) -> None:
        self.model = model
        self.damped = damped

    def _validate_params(self) -> None:
        _check_ets_model(self.model)
        check_choice("damped", self.damped, (True, False, None))

    def _library_model(self, n: int) -> Any:
        from statsforecast.models import AutoETS

        return AutoETS(season_length=self.season_length_, model=self.model, damped=self.damped)


class _AdjustedETS(StatsforecastModel):
    """One fixed non-seasonal ETS model on the M4-style seasonally adjusted series."""

    #: statsforecast's model string and damping of the family.
    ets_model: ClassVar[str] = "ANN"
    ets_damped: ClassVar[bool] = False

    def __init__(self, deseasonalize: bool = True) -> None:
        self.deseasonalize = deseasonalize

    def _validate_params(self) -> None:
        check_choice("deseasonalize", self.deseasonalize, (True, False))

    def _library_model(self, n: int) -> Any:
        from statsforecast.models import AutoETS

        return AutoETS(season_length=1, model=self.ets_model, damped=self.ets_damped)


class SimpleSmoothing(_AdjustedETS):
    """Simple exponential smoothing, ETS(A,N,N): a flat forecast at the smoothed level.
    statsforecast estimates α and the initial level by likelihood and needs 7 values."""

    name: ClassVar[str] = "ses"
    min_train_length: ClassVar[int] = 7


class HoltLinear(_AdjustedETS):
    """Holt's linear trend, ETS(A,A,N): smoothed level plus an undamped slope (9 values)."""

    name: ClassVar[str] = "holt"
    min_train_length: ClassVar[int] = 9
    ets_model: ClassVar[str] = "AAN"


class DampedTrend(_AdjustedETS):
    """Additive damped trend, ETS(A,Ad,N) (Gardner & McKenzie): the slope fades, so long
    horizons level off instead of extrapolating a trend indefinitely (10 values)."""

    name: ClassVar[str] = "damped"
    min_train_length: ClassVar[int] = 10
    ets_model: ClassVar[str] = "AAN"
    ets_damped: ClassVar[bool] = True


class SeasonalDamped(StatsforecastModel):
    """Holt-Winters with a damped trend: ETS(Z,Ad,Z) selected by AICc among additive and
    multiplicative errors and seasons (the season may be dropped when it does not pay), or
    ETS(A,Ad,N) when the series is too short for any seasonal model (statsforecast needs about
    three seasons with the seasonal states to estimate)."""

    name: ClassVar[str] = "holt_winters"
    min_train_length: ClassVar[int] = 10
    frequencies: ClassVar[frozenset[str]] = frozenset({"Q", "M"})

    def __init__(self) -> None:
        pass

    def _library_model(self, n: int) -> Any:
        from statsforecast.models import AutoETS

        return AutoETS(season_length=self.season_length_, model="ZAZ", damped=True)

    def _fit_one(self, y: np.ndarray) -> LibraryFit:
        try:
            return super()._fit_one(y)
        except LibraryFitError:
            from statsforecast.models import AutoETS

            model = AutoETS(season_length=1, model="AAN", damped=True)
            return LibraryFit(fit_library(model, np.asarray(y, dtype=float)), None, len(y))


class _ThetaFamily(StatsforecastModel):
    """The statsforecast Theta models share their seasonal handling: a 90% autocorrelation
    test at the seasonal lag and, when seasonal, a classical decomposition of the chosen type
    (4 values at least)."""

    min_train_length: ClassVar[int] = 4

    def __init__(self, decomposition_type: str = "multiplicative") -> None:
        self.decomposition_type = decomposition_type

    def _validate_params(self) -> None:
        check_choice("decomposition_type", self.decomposition_type, sorted(_DECOMPOSITIONS))


class StandardTheta(_ThetaFamily):
    """Standard Theta method (θ = 2): SES with half the linear-trend slope as drift, the M3
    winner (Assimakopoulos & Nikolopoulos 2000; Hyndman & Billah 2003)."""

    name: ClassVar[str] = "theta"

    def _library_model(self, n: int) -> Any:
        from statsforecast.models import Theta

        return Theta(season_length=self.season_length_, decomposition_type=self.decomposition_type)


class DynamicOptimizedTheta(_ThetaFamily):
    """Dynamic optimised Theta (Fiorucci et al. 2016): θ, α and the initial level estimated,
    with the trend line updated as data arrive; among the strongest M4 statistical methods."""

    name: ClassVar[str] = "dotm"

    def _library_model(self, n: int) -> Any:
        from statsforecast.models import DynamicOptimizedTheta as Library

        return Library(
            season_length=self.season_length_, decomposition_type=self.decomposition_type
        )


class AutoThetaModel(_ThetaFamily):
    """The Theta variant (standard, optimised, dynamic standard or dynamic optimised) with the
    best in-sample fit; ``model`` restricts it to one of STM, OTM, DSTM, DOTM."""

    name: ClassVar[str] = "auto_theta"

    def __init__(
        self, model: str | None = None, decomposition_type: str = "multiplicative"
    ) -> None:
        super().__init__(decomposition_type)
        self.model = model

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.model is not None:
            check_choice("model", self.model, sorted(_THETA_MODELS))

    def _library_model(self, n: int) -> Any:
        from statsforecast.models import AutoTheta

        return AutoTheta(
            season_length=self.season_length_,
            decomposition_type=self.decomposition_type,
            model=self.model,
        )


class AutoARIMAModel(StatsforecastModel):
    """``auto.arima`` (Hyndman & Khandakar 2008): d by KPSS tests, D by seasonal strength, then
    a stepwise AICc search over (p, q)(P, Q) with a constant or drift where allowed.
    statsforecast fits from one value, but below three the only choices are the mean and the
    random walk the fallback already gives. Registered as ``auto_arima`` and as ``arima``, the
    name stored runs carry."""

    name: ClassVar[str] = "auto_arima"
    min_train_length: ClassVar[int] = 3

    def __init__(
        self, max_p: int = 5, max_q: int = 5, seasonal: bool = True, stepwise: bool = True
    ) -> None:
        self.max_p = max_p
        self.max_q = max_q
        self.seasonal = seasonal
        self.stepwise = stepwise

    def _validate_params(self) -> None:
        check_whole_number("max_p", self.max_p, minimum=0)
        check_whole_number("max_q", self.max_q, minimum=0)
        check_choice("seasonal", self.seasonal, (True, False))
        check_choice("stepwise", self.stepwise, (True, False))

    def _library_model(self, n: int) -> Any:
        from statsforecast.models import AutoARIMA

        return AutoARIMA(
            season_length=self.season_length_,
            max_p=int(self.max_p),
            max_q=int(self.max_q),
            seasonal=self.seasonal,
            stepwise=self.stepwise,
        )


class AutoCESModel(StatsforecastModel):
    """Complex exponential smoothing (Svetunkov & Kourentzes): level and "potential" as one
    complex state, so trend-like behaviour without choosing a trend type; ``model`` N (none),
    S (simple), P (partial) or F (full) seasonality, Z selects by AICc. statsforecast fails on
    2-4 values.

    The point forecast is the library's. Its intervals are not: statsforecast reads them off
    5000 paths simulated in a Python loop (about 0.2 s per series and prediction, a thousand
    times the fit), and the paths perturb only the starting state, so their width hardly
    grows with the horizon. Here they are mean ± z·σ·√h, σ the library's one-step residual
    spread: a random walk's growth, wider far ahead. The engine calibrates its own intervals
    from backtest errors; a member's own are only its reported coverage and the fallback
    for series without backtest errors.
    """

    name: ClassVar[str] = "auto_ces"
    min_train_length: ClassVar[int] = 5

    def __init__(self, model: str = "Z") -> None:
        self.model = model

    def _validate_params(self) -> None:
        check_choice("model", self.model, sorted(_CES_MODELS))

    def _library_model(self, n: int) -> Any:
        from statsforecast.models import AutoCES

        return AutoCES(season_length=self.season_length_, model=self.model)

    def _library_forecast(
        self, state: LibraryFit, horizon: int, levels: tuple[int, ...]
    ) -> dict[str, Any]:
        mean = np.asarray(state.model.predict(horizon)["mean"], dtype=float)
        sigma2 = float(state.model.model_.get("sigma2", np.nan))
        spread = np.sqrt(sigma2) if np.isfinite(sigma2) and sigma2 > 0 else 0.0
        growth = spread * np.sqrt(np.arange(1, horizon + 1))
        out: dict[str, Any] = {"mean": mean}
        for level in levels:
            out[f"lo-{level}"] = mean - normal_quantile(level) * growth
            out[f"hi-{level}"] = mean + normal_quantile(level) * growth
        return out
