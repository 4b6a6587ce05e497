"""Automatic ARIMA: order selection in the spirit of Hyndman & Khandakar (2008), with statsmodels.

``auto.arima`` in R is the reference: choose the differencing first with unit-root tests, then
search (p, q)(P, Q) stepwise by AICc. Differencing is not chosen by AICc because the likelihoods
of differently differenced series are not comparable. Here:

- seasonal differencing D ∈ {0, 1} (Q/M only) when the seasonal strength of a classical
  additive decomposition, ``max(0, 1 − var(R) / var(S + R))``, exceeds 0.64 (the rule of R's
  ``nsdiffs``; classical decomposition stands in for STL because it is cheaper);
- d ∈ {0, 1, 2} by repeated KPSS level-stationarity tests at 5% (``statsmodels.tsa.stattools.
  kpss`` with R's lag truncation ⌊3√n/13⌋), on the seasonally differenced series;
- a constant (``trend="c"``) when d + D = 0 and a drift (``trend="t"``, a linear trend in
  levels, i.e. a constant in the differences) when d + D = 1, each only kept if AICc prefers
  it; no deterministic term when d + D = 2, as in ``auto.arima``;
- a stepwise search from (2,2)(1,1), (0,0)(0,0), (1,0)(1,0), (0,1)(0,1) over p, q ≤ ``max_p``,
  ``max_q`` and P, Q ≤ 1, moving to the first neighbour that lowers AICc, with at most
  ``max_fits`` model fits per series. Models with more parameters than the data support are
  skipped.

Every fit is a Gaussian state-space MLE (``statsmodels.tsa.arima.model.ARIMA``) on the series
divided by its mean absolute value (ARIMA is scale equivariant; the optimiser's tolerances are
not), with σ² concentrated out of the likelihood (a third faster on small models) and no
parameter covariances (``cov_type="none"``; only AICc and forecasts are needed). AICc is
computed as ``auto.arima`` does: K counts σ², n is the length after differencing. A constant
series has no variance to estimate and gets the fallback (the same flat forecast).

Intervals are those of ``get_forecast(h).conf_int(alpha)``, which are ``mean ± z·se_mean``;
the model returns ``se_mean`` and the base class forms the same normal intervals for every
requested level. Any numerical failure (a degenerate series, no candidate that fits) leaves the
series to the base-class fallback.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import ClassVar, Final

import numpy as np

from features.panel import Panel
from features.seasonality import centred_moving_average, classical_indices
from models.base import NUMERIC_ERRORS, LocalForecaster, check_choice, check_whole_number
from models.ets import quiet_statsmodels, series_scale

#: Seasonal strength above which the series is seasonally differenced (R's ``nsdiffs``).
SEASONAL_STRENGTH_THRESHOLD: Final[float] = 0.64
#: 5% critical value of the KPSS level-stationarity test (Kwiatkowski et al. 1992, table 1).
KPSS_CRITICAL_VALUE: Final[float] = 0.463


@dataclass(frozen=True)
class Candidate:
    """One point of the search space: ARMA orders and whether a constant/drift is included."""

    p: int
    q: int
    P: int
    Q: int
    constant: bool

    @property
    def n_params(self) -> int:
        """Estimated parameters including the innovation variance."""
        return self.p + self.q + self.P + self.Q + int(self.constant) + 1


@dataclass(frozen=True, eq=False)
class ArimaFit:
    """The selected model of one series: enough to rebuild it and forecast."""

    x: np.ndarray  # the series divided by ``scale``
    scale: float
    order: tuple[int, int, int]
    seasonal_order: tuple[int, int, int, int]
    trend: str
    params: np.ndarray
    aicc: float


def seasonal_strength(x: np.ndarray, season_length: int) -> float:
    """Strength of seasonality of a classical additive decomposition (0 = none, 1 = pure)."""
    m = season_length
    trend = centred_moving_average(x, m)
    seasonal = classical_indices(x, m, multiplicative=False)[np.arange(len(x)) % m]
    valid = np.isfinite(trend)
    remainder = x[valid] - trend[valid] - seasonal[valid]
    total = np.var(remainder + seasonal[valid])
    if total <= 0:
        return 0.0
    return float(max(0.0, 1.0 - np.var(remainder) / total))


def seasonal_differences(x: np.ndarray, season_length: int, max_order: int = 1) -> int:
    """D: 1 if the series is strongly seasonal and long enough (two full seasons), else 0."""
    m = season_length
    if max_order < 1 or m <= 1 or len(x) < 2 * m + 2:
        return 0
    return int(seasonal_strength(x, m) > SEASONAL_STRENGTH_THRESHOLD)


def differences(x: np.ndarray, max_order: int = 2) -> int:
    """d: difference while the KPSS test rejects level stationarity (at most ``max_order``)."""
    from statsmodels.tsa.stattools import kpss  # heavy; import on first use

    d = 0
    while d < max_order and len(x) >= 4 and np.ptp(x) > 1e-12 * max(np.abs(x).max(), 1.0):
        lags = min(int(3 * np.sqrt(len(x)) / 13), len(x) - 2)
        with quiet_statsmodels(), warnings.catch_warnings():
            # statsmodels 0.15 announces a result object for 0.16; both unpack this way.
            warnings.filterwarnings("ignore", "kpss currently returns", FutureWarning)
            statistic, _, *_ = kpss(x, regression="c", nlags=lags)
        if not statistic > KPSS_CRITICAL_VALUE:
            break
        x = np.diff(x)
        d += 1
    return d


class AutoARIMA(LocalForecaster):
    """ARIMA with unit-root tests for the differencing and a stepwise AICc search."""

    name: ClassVar[str] = "arima"
    min_train_length: ClassVar[int] = 6

    def __init__(
        self,
        max_p: int = 3,
        max_q: int = 3,
        seasonal: bool = True,
        max_d: int = 2,
        max_fits: int = 12,
    ) -> None:
        self.max_p = max_p
        self.max_q = max_q
        self.seasonal = seasonal
        self.max_d = max_d
        self.max_fits = max_fits

    def _validate_params(self) -> None:
        for key in ("max_p", "max_q", "max_d"):
            check_whole_number(key, getattr(self, key), minimum=0)
        check_whole_number("max_fits", self.max_fits)
        check_choice("seasonal", self.seasonal, (True, False))

    def _fit(self, panel: Panel, usable: np.ndarray) -> None:
        self.season_length_ = panel.season_length if self.seasonal else 1
        super()._fit(panel, usable)

    def _fit_one(self, y: np.ndarray) -> ArimaFit:
        scale = series_scale(y)
        x = np.asarray(y, dtype=float) / scale
        m = self.season_length_
        with quiet_statsmodels():
            D = seasonal_differences(x, m)  # noqa: N806
            stationary = x[m:] - x[:-m] if D else x
            d = differences(stationary, int(self.max_d))
            return replace(self._search(x, d, D, m), scale=scale)

    def _search(self, x: np.ndarray, d: int, D: int, m: int) -> ArimaFit:  # noqa: N803
        allow_constant = d + D <= 1
        n_eff = len(x) - d - D * m
        seasonal = D > 0 or (m > 1 and n_eff >= 3 * m)
        fitted: dict[Candidate, ArimaFit | None] = {}

        def usable(c: Candidate) -> bool:
            return (
                c not in fitted
                and 0 <= c.p <= self.max_p
                and 0 <= c.q <= self.max_q
                and 0 <= c.P <= int(seasonal)
                and 0 <= c.Q <= int(seasonal)
                and (allow_constant or not c.constant)
                and n_eff - (c.p + c.P * m + c.q + c.Q * m) - c.n_params - 1 > 0
            )

        def score(c: Candidate) -> float:
            fit = fitted.get(c)
            return np.inf if fit is None else fit.aicc

        starts = [
            Candidate(2, 2, 1, 1, allow_constant),
            Candidate(0, 0, 0, 0, allow_constant),
            Candidate(1, 0, 1, 0, allow_constant),
            Candidate(0, 1, 0, 1, allow_constant),
            Candidate(0, 0, 0, 0, False),
        ]
        for start in starts:
            c = _clip(start, self.max_p, self.max_q, seasonal)
            if usable(c) and len(fitted) < self.max_fits:
                fitted[c] = _fit_candidate(x, c, d, D, m)
        if not fitted:
            raise ValueError("the series is too short for any ARIMA model")
        best = min(fitted, key=score)
        improved = True
        while improved and len(fitted) < self.max_fits:
            improved = False
            for c in _neighbours(best):
                if not usable(c):
                    continue
                fitted[c] = _fit_candidate(x, c, d, D, m)
                if score(c) < score(best):
                    best, improved = c, True
                    break
                if len(fitted) >= self.max_fits:
                    break
        result = fitted[best]
        if result is None:
            raise ValueError("no ARIMA candidate could be fitted")
        return result

    def _forecast_one(self, state: ArimaFit, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        from statsmodels.tsa.arima.model import ARIMA  # heavy; import on first use

        with quiet_statsmodels():
            model = ARIMA(
                state.x,
                order=state.order,
                seasonal_order=state.seasonal_order,
                trend=state.trend,
                concentrate_scale=True,
            )
            forecast = model.filter(state.params).get_forecast(horizon)
        mean = np.asarray(forecast.predicted_mean, dtype=float) * state.scale
        return mean, np.asarray(forecast.se_mean, dtype=float) * state.scale


def _clip(c: Candidate, max_p: int, max_q: int, seasonal: bool) -> Candidate:
    cap = int(seasonal)
    return replace(c, p=min(c.p, max_p), q=min(c.q, max_q), P=min(c.P, cap), Q=min(c.Q, cap))


def _neighbours(c: Candidate) -> Iterator[Candidate]:
    """Models one step away, in the order of ``auto.arima``'s stepwise search."""
    for dp, dq in ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1), (1, -1), (-1, 1)):
        yield replace(c, p=c.p + dp, q=c.q + dq)
    for dP, dQ in ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1)):  # noqa: N806
        yield replace(c, P=c.P + dP, Q=c.Q + dQ)
    yield replace(c, constant=not c.constant)


def _fit_candidate(x: np.ndarray, c: Candidate, d: int, D: int, m: int) -> ArimaFit | None:  # noqa: N803
    """Fit one candidate; None when statsmodels fails or the fit is not finite."""
    trend = ("c" if d + D == 0 else "t") if c.constant else "n"
    order = (c.p, d, c.q)
    seasonal_order = (c.P, D, c.Q, m) if m > 1 and (c.P or c.Q or D) else (0, 0, 0, 0)
    from statsmodels.tsa.arima.model import ARIMA

    try:
        model = ARIMA(
            x, order=order, seasonal_order=seasonal_order, trend=trend, concentrate_scale=True
        )
        result = model.fit(cov_type="none")
    except NUMERIC_ERRORS:
        return None
    # AICc as in auto.arima: K counts σ² too, the sample is what remains after differencing.
    k, n = c.n_params, len(x) - d - D * m
    aicc = -2 * float(result.llf) + 2 * k + 2 * k * (k + 1) / (n - k - 1)
    params = np.asarray(result.params, dtype=float)
    if not (np.isfinite(aicc) and np.all(np.isfinite(params))):
        return None
    return ArimaFit(x, 1.0, order, seasonal_order, trend, params, aicc)
