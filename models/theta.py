"""The Theta method of Assimakopoulos & Nikolopoulos (2000), winner of the M3 competition.

Hyndman & Billah (2003) showed that the standard Theta method (θ = 2, a 50/50 combination of
the linear trend line and SES on the "θ = 2 line") is simple exponential smoothing with a drift
of half the series' OLS slope. Following statsmodels' ``ThetaModel`` (its documented forecast
equation and its default two-step estimation), the forecast is

    ŷ_{n+h} = SES_{n+1} + (1 − 1/θ) · b₀ · (h − 1 + 1/α − (1 − α)ⁿ/α),

with b₀ the OLS slope of y on t = 0..n−1 and α the SES smoothing parameter. ``ThetaModel``
estimates α by state-space maximum likelihood with the initial level fixed at the first
observation; with the initial state known, the Gaussian likelihood is a monotone function of
the sum of squared one-step errors, so the least-squares α of the Holt-Winters code used here
is the same estimator, reached without a Kalman filter and numerical likelihood gradients
(~1.5 ms instead of ~7 ms per annual series). The forecasts agree up to the optimisers'
tolerance (tests/models/test_theta.py). ``ThetaModel``'s intervals would cost another
ARIMA(0,1,1)-with-drift MLE fit just to obtain σ².

Kept hand-written rather than statsforecast's ``Theta``: on the M1 yearly series the library's
standard Theta was worse beyond noise (MASE 4.226 against 4.168, paired difference +0.058 ± 0.041;
sMAPE 20.23 against 19.77, +0.47 ± 0.46; 80% coverage 0.37 against 0.47), and equal on quarterly
and monthly series (``experiments/benchmarks/results/members.md``, run of 2026-12-07 06:36 UTC,
``python experiments/benchmarks/members.py --data DIR``). Annual series are the ones this
product forecasts most.

Intervals: σ from the in-sample one-step errors of the Theta forecast itself, and the SES
(ARIMA(0,1,1), θ₁ = α − 1) variance σ²(1 + (h − 1)α²), ignoring the uncertainty of b₀.
statsmodels writes this variance as σ²(1 + (h − 1)(1 + (α − 1)²)); for an ARIMA(0,1,1) the
ψ-weights are 1 + θ₁ = α, so we use α². Seasonal series are adjusted exactly as the M4
benchmark did (see :mod:`models.ets`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from models.base import check_number
from models.ets import SeasonallyAdjusted, quiet_statsmodels, residual_sigma, series_scale


@dataclass(frozen=True)
class ThetaFit:
    """SES one-step forecast, OLS slope and α of one series (in its units)."""

    one_step: float
    slope: float
    alpha: float
    n: int
    sigma: float
    trend_weight: float

    def forecast(self, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        steps = np.arange(horizon, dtype=float)
        if self.alpha > 0:
            steps += 1 / self.alpha - (1 - self.alpha) ** self.n / self.alpha
        point = self.one_step + self.trend_weight * self.slope * steps
        sd = self.sigma * np.sqrt(1 + np.arange(horizon) * self.alpha**2)
        return point, sd


def ols_slope(y: np.ndarray) -> float:
    """Slope of the least-squares line through (t, y_t), t = 0..n−1."""
    t = np.arange(len(y), dtype=float)
    t -= t.mean()
    return float(t @ (y - np.mean(y)) / (t @ t))


def fit_theta(y: np.ndarray, theta: float = 2.0) -> ThetaFit:
    """Fit the Theta method to ``y`` (at least 2 values; not modified)."""
    scale = series_scale(y)
    x = np.asarray(y, dtype=float) / scale
    from statsmodels.tsa.holtwinters import ExponentialSmoothing  # heavy; import on first fit

    with quiet_statsmodels():
        model = ExponentialSmoothing(x, initialization_method="known", initial_level=x[0])
        result = model.fit()
    alpha = float(result.params["smoothing_level"])
    slope = ols_slope(x)
    weight = (theta - 1) / theta
    # In-sample one-step Theta forecasts: the h = 1 forecast from the first t observations.
    t = np.arange(len(x), dtype=float)
    drift = t if alpha <= 0 else (1 - (1 - alpha) ** t) / alpha
    errors = x - (np.asarray(result.fittedvalues, dtype=float) + weight * slope * drift)
    return ThetaFit(
        one_step=float(result.level[-1]) * scale,
        slope=slope * scale,
        alpha=alpha,
        n=len(x),
        sigma=residual_sigma(float(errors[1:] @ errors[1:]), len(x) - 1, 2) * scale,
        trend_weight=weight,
    )


class Theta(SeasonallyAdjusted):
    """Standard Theta method: SES with half the linear-trend slope as drift (θ = 2)."""

    name: ClassVar[str] = "theta"
    min_train_length: ClassVar[int] = 3

    def __init__(self, deseasonalize: bool = True, theta: float = 2.0) -> None:
        self.deseasonalize = deseasonalize
        self.theta = theta

    def _validate_params(self) -> None:
        super()._validate_params()
        check_number("theta", self.theta, minimum=1)

    def _fit_adjusted(self, x: np.ndarray) -> ThetaFit:
        return fit_theta(x, float(self.theta))
