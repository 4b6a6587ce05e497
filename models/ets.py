"""Exponential smoothing: SES, Holt and damped Holt, fitted with statsmodels.

SES, Holt and Damped are the M4 competition's statistical benchmarks and strong on short annual
series. Like the M4 versions they model level and trend only; quarterly and monthly series are
tested for seasonality and, when seasonal, adjusted by classical decomposition before fitting
and re-seasonalised afterwards (:mod:`features.seasonality`). Holt-Winters, which models the
season itself, is statsforecast's (:mod:`models.statsforecast_local`).

Kept hand-written rather than statsforecast's ETS(A,N,N), ETS(A,A,N) and ETS(A,Ad,N) on the same
adjusted series: on the M1 test halves the two are equal within noise (MASE yearly 4.930/3.513/
3.701 here against 4.937/3.562/3.850; quarterly 1.856/1.712/1.788 against 1.856/1.679/1.708;
monthly 1.126/1.211/1.119 against 1.131/1.177/1.127; ``experiments/benchmarks/results/
members.md``, run of 2026-12-07 06:36 UTC, ``python experiments/benchmarks/members.py --data
DIR``), and statsforecast is ten times faster, but it refuses series shorter than 7 (SES), 9
(Holt) and 10 (damped) values, where these fit from 3, 4 and 5. The engine backtests on windows
shorter than the series: with the library's members a 16-year annual series lost Holt to naive
fallbacks in its backtest windows and the engine's forecast fell 14% short of the series' 10%
growth six years out (tests/forecasting/test_counts.py), and the demo run's intervals failed
their coverage gate (tests/forecasting/test_pipeline.py). Annual talent series are 10-25
values long.

Speed matters (the engine fits every candidate several times per series for backtests), so
series of at least :data:`HEURISTIC_MIN_LENGTH` values get the heuristic initial states of
Hyndman et al. (2008) instead of estimated ones (fewer free parameters; on long series the
initial states barely matter), there is no brute-force start grid, and forecasts come from the
final states rather than ``results.forecast``, whose pandas bookkeeping costs as much as a fit.
Series are divided by their mean absolute value before fitting: the models are scale
equivariant, but the optimiser's absolute tolerances stall on values in millionths.

Intervals are normal with σ² from the in-sample residuals (SSE over the degrees of freedom) and
the variance of the additive ETS models (Hyndman et al. 2008, FPP3 table 8.8):
``σ_h² = σ² (1 + Σ_{j<h} c_j²)`` with ``c_j = α + β (φ + … + φ^j)``, which gives the closed
forms for (A,N,N), (A,A,N) and (A,Ad,N).
"""

from __future__ import annotations

import warnings
from abc import abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar, Final

import numpy as np

from features.panel import Panel
from features.seasonality import (
    SeasonalIndices,
    deseasonalize,
    reseasonalize,
    seasonal_indices,
    seasonal_scale,
)
from models.base import LocalForecaster, check_choice

#: Series at least this long use heuristic initial states (statsmodels needs 10 or more;
#: twice that leaves the initial states little weight in the fit).
HEURISTIC_MIN_LENGTH: Final[int] = 20
#: Damping parameter range of R's ``ets`` and FPP3: below 0.8 the trend dies within a few
#: periods, above 0.98 damped Holt is indistinguishable from Holt.
DAMPING_BOUNDS: Final[tuple[float, float]] = (0.8, 0.98)
_INITIALIZATIONS: Final[tuple[str, ...]] = ("auto", "estimated", "heuristic")


@contextmanager
def quiet_statsmodels() -> Iterator[None]:
    """Silence, inside the block only, the warnings statsmodels emits on hard series
    (non-convergence, non-stationary start values, overflow while the optimiser explores):
    they say nothing the fallback and backtests do not handle, and would flood job logs."""
    from statsmodels.tools import sm_exceptions

    with warnings.catch_warnings():
        for category in (
            sm_exceptions.ConvergenceWarning,
            sm_exceptions.EstimationWarning,
            sm_exceptions.InterpolationWarning,
            sm_exceptions.ValueWarning,
            RuntimeWarning,
            UserWarning,
        ):
            warnings.simplefilter("ignore", category)
        yield


def variance_factors(
    horizon: int,
    alpha: float,
    beta: float = 0.0,
    phi: float = 1.0,
) -> np.ndarray:
    """``σ_h² / σ²`` for h = 1..horizon of the additive ETS model with these parameters.

    ``beta`` is in error-correction form (ETS β = α·β* of Holt's equations).
    """
    damped_sum = np.cumsum(phi ** np.arange(1, horizon)) if horizon > 1 else np.zeros(0)
    c = alpha + beta * damped_sum
    return 1.0 + np.concatenate([[0.0], np.cumsum(c**2)])


def residual_sigma(sse: float, n: int, n_params: int) -> float:
    """Residual standard deviation, SSE over the degrees of freedom (at least one)."""
    return float(np.sqrt(max(sse, 0.0) / max(n - n_params, 1)))


def series_scale(y: np.ndarray) -> float:
    """Mean absolute value (1 for an all-zero series), the unit series are fitted in."""
    scale = float(np.mean(np.abs(y)))
    return scale if scale > 0 and np.isfinite(scale) else 1.0


def choose_initialization(initialization: str, n: int) -> str:
    """The statsmodels ``initialization_method`` for a series of length ``n``: the heuristic
    needs 10 values, shorter series always get estimated states."""
    check_choice("initialization", initialization, _INITIALIZATIONS)
    possible = n >= 10
    if initialization == "auto":
        return "heuristic" if possible and n >= HEURISTIC_MIN_LENGTH else "estimated"
    return "heuristic" if possible and initialization == "heuristic" else "estimated"


@dataclass(frozen=True)
class Smoothed:
    """Final states and parameters of a non-seasonal fit, in the units of the series."""

    level: float
    trend: float
    phi: float
    alpha: float
    beta: float
    sigma: float

    def forecast(self, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        """Point forecast and standard deviation per step."""
        steps = np.cumsum(self.phi ** np.arange(1, horizon + 1))
        factors = variance_factors(horizon, self.alpha, self.beta, self.phi)
        return self.level + self.trend * steps, self.sigma * np.sqrt(factors)


#: Fits remembered per process: each costs its values (8 bytes each) and about 300 bytes,
#: so a full cache of monthly series holds some tens of MiB (a demo retrain makes some
#: 10,000 distinct fits over all its processes).
FIT_CACHE_SIZE: Final[int] = 16_384


def fit_smoothing(
    y: np.ndarray,
    *,
    trend: bool,
    damped: bool,
    initialization: str = "auto",
) -> Smoothed:
    """Fit SES (``trend=False``), Holt or damped Holt to ``y`` (not modified).

    A fit is a deterministic function of the values and the options, and a run asks for the
    same one again and again: the backtest windows of a cut year replayed by the balance
    backtest are mostly those of the next cut year and of today's run, the near-end windows
    repeat the main ones' histories. Each process remembers its last :data:`FIT_CACHE_SIZE`
    fits, which gives the numbers of fitting anew (the key is every value's bits).
    """
    values = np.ascontiguousarray(y, dtype=float)
    check_choice("initialization", initialization, _INITIALIZATIONS)
    return _fit_remembered(values.tobytes(), trend, damped, initialization)


@lru_cache(maxsize=FIT_CACHE_SIZE)
def _fit_remembered(values: bytes, trend: bool, damped: bool, initialization: str) -> Smoothed:
    return _fit_smoothing(np.frombuffer(values, dtype=float), trend, damped, initialization)


def _fit_smoothing(y: np.ndarray, trend: bool, damped: bool, initialization: str) -> Smoothed:
    scale = series_scale(y)
    x = y / scale
    method = choose_initialization(initialization, len(x))
    from statsmodels.tsa.holtwinters import ExponentialSmoothing  # heavy; import on first fit

    with quiet_statsmodels():
        model = ExponentialSmoothing(
            x,
            trend="add" if trend else None,
            damped_trend=damped,
            initialization_method=method,
            bounds={"damping_trend": DAMPING_BOUNDS} if damped else None,
        )
        result = model.fit(use_brute=False)
    params = result.params
    alpha = float(params["smoothing_level"])
    n_params = 1 + int(trend) + int(damped)
    if method == "estimated":
        n_params += 1 + int(trend)
    return Smoothed(
        level=float(result.level[-1]) * scale,
        trend=float(result.trend[-1]) * scale if trend else 0.0,
        phi=float(params["damping_trend"]) if damped else 1.0,
        alpha=alpha,
        beta=alpha * float(params["smoothing_trend"]) if trend else 0.0,
        sigma=residual_sigma(float(result.sse), len(x), n_params) * scale,
    )


@dataclass(frozen=True)
class Adjusted:
    """A fit on the seasonally adjusted series, with what is needed to undo the adjustment."""

    fit: Any
    indices: SeasonalIndices | None
    n: int


class SeasonallyAdjusted(LocalForecaster):
    """Base of the M4-style methods: test for seasonality, adjust, fit, re-seasonalise.

    Subclasses implement :meth:`_fit_adjusted` (returning an object with a
    ``forecast(horizon) -> (point, sd)`` method) on the adjusted series.
    """

    deseasonalize: bool

    def _fit(self, panel: Panel, usable: np.ndarray) -> None:
        self.season_length_ = panel.season_length
        super()._fit(panel, usable)

    def _validate_params(self) -> None:
        check_choice("deseasonalize", self.deseasonalize, (True, False))

    def _fit_one(self, y: np.ndarray) -> Adjusted:
        indices = seasonal_indices(y, self.season_length_) if self.deseasonalize else None
        return Adjusted(self._fit_adjusted(deseasonalize(y, indices)), indices, len(y))

    def _forecast_one(self, state: Adjusted, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        point, sd = state.fit.forecast(horizon)
        scale = seasonal_scale(state.indices, state.n, horizon)
        return reseasonalize(point, state.indices, state.n), sd * scale

    @abstractmethod
    def _fit_adjusted(self, x: np.ndarray) -> Any:
        """Fit the seasonally adjusted series ``x``."""


class _Smoothing(SeasonallyAdjusted):
    """SES, Holt and Damped: M4-style adjustment around :func:`fit_smoothing`."""

    def __init__(self, deseasonalize: bool = True, initialization: str = "auto") -> None:
        self.deseasonalize = deseasonalize
        self.initialization = initialization

    def _validate_params(self) -> None:
        super()._validate_params()
        check_choice("initialization", self.initialization, _INITIALIZATIONS)


class SES(_Smoothing):
    """Simple exponential smoothing: a flat forecast at the smoothed level."""

    name: ClassVar[str] = "ses"
    min_train_length: ClassVar[int] = 3

    def _fit_adjusted(self, x: np.ndarray) -> Smoothed:
        return fit_smoothing(x, trend=False, damped=False, initialization=self.initialization)


class Holt(_Smoothing):
    """Holt's linear trend: smoothed level plus a smoothed, undamped slope."""

    name: ClassVar[str] = "holt"
    min_train_length: ClassVar[int] = 4

    def _fit_adjusted(self, x: np.ndarray) -> Smoothed:
        return fit_smoothing(x, trend=True, damped=False, initialization=self.initialization)


class DampedHolt(_Smoothing):
    """Additive damped trend (Gardner & McKenzie): the slope fades, so long-horizon forecasts
    level off instead of extrapolating a trend indefinitely."""

    name: ClassVar[str] = "damped"
    min_train_length: ClassVar[int] = 5

    def _fit_adjusted(self, x: np.ndarray) -> Smoothed:
        return fit_smoothing(x, trend=True, damped=True, initialization=self.initialization)
