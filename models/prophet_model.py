"""Prophet for monthly and quarterly hiring series, with a Spring Festival regressor.

Prophet (a piecewise-linear trend plus Fourier seasonality, fitted by Stan) suits the job-board
series: a few years of monthly or quarterly postings with a yearly pattern and occasional trend
breaks. Two adaptations make it fit the product:

- **Spring Festival.** Hiring in China drops around the Spring Festival, whose date moves between
  late January and mid-February. Prophet's holiday effects are daily and do nothing on monthly
  data, so the model gets a regressor instead: the share of the festival's holiday week that
  falls in each period, computed for past and future periods from the China calendar of the
  ``holidays`` package (no hand-written lunar calendar). Quarterly data always have the whole
  week in Q1, where the regressor would only duplicate the yearly seasonality, so it is used only
  when it varies between years (in practice: monthly series).
- **Intervals.** Prophet's own intervals are Monte Carlo draws taken from NumPy's *global*
  random state (there is no seed argument), so they would differ between two runs on the same
  data, cost a sampling pass per series and give one level per fit. The model is fitted with
  ``uncertainty_samples=0`` instead and the two variance components Prophet simulates are
  computed in closed form from what Prophet's public ``predict`` returns on the history:
  observation noise (the root mean square of the in-sample residuals, which is what Prophet's
  fitted noise scale estimates) and future trend changes (a change at each step with the
  historical rate of potential changepoints, of Laplace size with the mean absolute slope
  change of the fitted ``trend`` at them, averaged with its neighbour and cumulated twice, as
  Prophet simulates them). The forecast is normal with that variance, so every level comes
  from one deterministic computation; the engine recalibrates intervals on backtest errors.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, ClassVar, Final, Literal

import numpy as np
import pandas as pd

from features.panel import Panel
from models.base import (
    NUMERIC_ERRORS,
    Forecaster,
    ModelError,
    check_choice,
    check_number,
    check_whole_number,
    normal_quantile,
)

#: The holiday name that marks the first day of the lunar year in the ``holidays`` CN calendar.
SPRING_FESTIVAL: Final[str] = "Chinese New Year (Spring Festival)"
#: The holiday week: New Year's Eve and the six days after it (the official break is seven or
#: eight days from the Eve or the New Year, depending on the year's State Council notice; on
#: monthly data only the January/February split matters).
_WEEK_START: Final[timedelta] = timedelta(days=-1)
_WEEK_DAYS: Final[int] = 7
_REGRESSOR: Final[str] = "spring_festival"
#: Fourier order of the yearly seasonality: a monthly series has 11 seasonal degrees of freedom,
#: a quarterly one 3; higher orders only alias between the sampled points.
_FOURIER_ORDER: Final[dict[str, int]] = {"M": 6, "Q": 2}
#: What a failed fit raises besides the numeric errors: cmdstanpy reports optimiser failures
#: as RuntimeError.
_FIT_ERRORS: Final[tuple[type[Exception], ...]] = (*NUMERIC_ERRORS, RuntimeError)


def spring_festival_dates(years: Iterable[int]) -> dict[int, date]:
    """The Spring Festival (first day of the lunar year) of each year the calendar covers.

    Years outside the range of the ``holidays`` China calendar (1950-2100 in current releases)
    are simply missing from the result.
    """
    import holidays

    calendar = holidays.country_holidays("CN", years=sorted(set(years)))
    first: dict[int, date] = {}
    for day, names in calendar.items():
        if SPRING_FESTIVAL in names.split("; ") and day < first.get(day.year, date.max):
            first[day.year] = day
    return first


def spring_festival_share(periods: pd.PeriodIndex) -> np.ndarray:
    """Share (0-1) of the Spring Festival holiday week that falls inside each period.

    Raises :class:`ModelError` for a year the holiday calendar does not cover, rather than
    silently returning 0 (which would read as "the festival fell in another period").
    """
    years = sorted({int(year) for year in periods.year})
    festivals = spring_festival_dates(years)
    missing = [year for year in years if year not in festivals]
    if missing:
        raise ModelError(
            f"the China holiday calendar has no Spring Festival for {missing[0]}; "
            "fit without the spring_festival regressor"
        )
    start = periods.start_time.normalize()
    end = (periods + 1).start_time.normalize()
    week_start = pd.DatetimeIndex([festivals[int(year)] + _WEEK_START for year in periods.year])
    week_end = week_start + pd.Timedelta(days=_WEEK_DAYS)
    overlap = np.minimum(end, week_end) - np.maximum(start, week_start)
    days = np.clip(overlap / pd.Timedelta(days=1), 0, _WEEK_DAYS)
    return np.asarray(days, dtype=float) / _WEEK_DAYS


@contextmanager
def _quiet_stan() -> Iterator[None]:
    """Silence cmdstanpy's per-fit INFO lines and Prophet's advice for the duration of a fit,
    then restore both loggers: thousands of series would otherwise flood the job log, and the
    process's logging set-up belongs to the application, not to a model."""
    import cmdstanpy
    import prophet  # noqa: F401  (its import sets the "prophet" logger level: import first)

    prophet_logger = logging.getLogger("prophet")
    level = prophet_logger.level
    prophet_logger.setLevel(logging.ERROR)
    try:
        with cmdstanpy.disable_logging():
            yield
    finally:
        prophet_logger.setLevel(level)


@dataclass(frozen=True)
class _SeriesFit:
    """A fitted Prophet model and what predicting with it needs: the last period, whether it
    uses the festival regressor, and the spreads of :func:`_spreads` in the series' units."""

    model: Any
    last: pd.Period
    festival: bool
    noise_sd: float
    #: Standard deviation of one step's simulated trend shock, as a level change per step.
    shock_sd: float


class ProphetModel(Forecaster):
    """Prophet per series with yearly seasonality and an optional Spring Festival regressor.

    ``fourier_order`` of ``None`` uses 6 for monthly and 2 for quarterly series (all the yearly
    shape the sampling can show). Series shorter than two full years (24 months, 8 quarters)
    get the fallback: with less, Prophet cannot tell seasonality from trend.
    """

    name: ClassVar[str] = "prophet"
    #: Two years of quarters; monthly series need 24 points, checked in ``_fit``.
    min_train_length: ClassVar[int] = 8
    frequencies: ClassVar[frozenset[str]] = frozenset({"M", "Q"})

    def __init__(
        self,
        *,
        spring_festival: bool = True,
        seasonality_mode: Literal["additive", "multiplicative"] = "additive",
        changepoint_prior_scale: float = 0.05,
        seasonality_prior_scale: float = 10.0,
        fourier_order: int | None = None,
    ) -> None:
        self.spring_festival = spring_festival
        self.seasonality_mode = seasonality_mode
        self.changepoint_prior_scale = changepoint_prior_scale
        self.seasonality_prior_scale = seasonality_prior_scale
        self.fourier_order = fourier_order

    def _validate_params(self) -> None:
        check_choice("spring_festival", self.spring_festival, (True, False))
        check_choice("seasonality_mode", self.seasonality_mode, ("additive", "multiplicative"))
        check_number(
            "changepoint_prior_scale", self.changepoint_prior_scale, minimum=0, exclusive=True
        )
        check_number(
            "seasonality_prior_scale", self.seasonality_prior_scale, minimum=0, exclusive=True
        )
        check_whole_number("fourier_order", self.fourier_order, optional=True)

    def _fit(self, panel: Panel, usable: np.ndarray) -> None:
        self.fourier_order_ = self.fourier_order or _FOURIER_ORDER[panel.freq]
        long_enough = usable & (panel.lengths >= 2 * panel.season_length)
        with _quiet_stan():
            self.fits_: list[_SeriesFit | None] = [
                self._fit_series(panel.series(i), panel.starts[i]) if long_enough[i] else None
                for i in range(panel.n_series)
            ]

    def _fit_series(self, y: np.ndarray, start: pd.Period) -> _SeriesFit | None:
        """One series' fit, or None when Stan or the data fail on it (it gets the fallback:
        one degenerate series must not stop a job over thousands)."""
        from prophet import Prophet

        periods = pd.period_range(start=start, periods=len(y), freq=start.freq)
        history = pd.DataFrame({"ds": periods.start_time, "y": y})
        festival = False
        if self.spring_festival:
            try:
                share = spring_festival_share(periods)
            except ModelError:
                share = None
            if share is not None and _varies_between_years(share, periods):
                history[_REGRESSOR] = share
                festival = True
        model = Prophet(
            growth="linear",
            yearly_seasonality=self.fourier_order_,
            weekly_seasonality=False,
            daily_seasonality=False,
            seasonality_mode=self.seasonality_mode,
            changepoint_prior_scale=self.changepoint_prior_scale,
            seasonality_prior_scale=self.seasonality_prior_scale,
            uncertainty_samples=0,
        )
        if festival:
            model.add_regressor(_REGRESSOR)
        try:
            model.fit(history)
            in_sample = model.predict(history)
        except _FIT_ERRORS:
            return None
        changepoints = 0 if model.changepoints is None else len(model.changepoints)
        noise_sd, shock_sd = _spreads(history, in_sample, changepoints)
        return _SeriesFit(model, periods[-1], festival, noise_sd, shock_sd)

    def _predict(
        self, horizon: int, levels: tuple[int, ...]
    ) -> tuple[np.ndarray, dict[int, np.ndarray], dict[int, np.ndarray]]:
        n = len(self.fits_)
        mean = np.full((n, horizon), np.nan)
        lower = {level: np.full((n, horizon), np.nan) for level in levels}
        upper = {level: np.full((n, horizon), np.nan) for level in levels}
        for i, fit in enumerate(self.fits_):
            if fit is None:
                continue
            try:
                point, sd = _forecast(fit, horizon)
            except NUMERIC_ERRORS:
                continue
            mean[i] = point
            for level in levels:
                z = normal_quantile(level)
                lower[level][i] = point - z * sd
                upper[level][i] = point + z * sd
        return mean, lower, upper


def _varies_between_years(share: np.ndarray, periods: pd.PeriodIndex) -> bool:
    """Whether the festival share says more than the season does: on quarterly data the whole
    week is always in Q1, so the share is a Q1 dummy that the yearly seasonality already is."""
    frame = pd.DataFrame({"season": periods.month, "share": share})
    return bool((frame.groupby("season")["share"].agg(np.ptp) > 0).any())


def _spreads(
    history: pd.DataFrame, in_sample: pd.DataFrame, n_changepoints: int
) -> tuple[float, float]:
    """The observation noise and the trend-shock spread Prophet simulates, from its in-sample
    ``predict`` output (``yhat``, ``trend``) and its number of potential changepoints.

    Prophet draws, at each future step, a slope change with probability ``p = changepoints /
    (history steps)`` of Laplace size with scale ``b = mean |slope change at a potential
    changepoint|``; the fitted trend is piecewise linear with its kinks at those changepoints,
    so the sum of its absolute slope changes (per day, between history dates) is ``b`` times
    their number. A Laplace draw has variance ``2b²``; as a level change over one step (the
    mean history step) the shock has standard deviation ``sqrt(2p)·b·step``.
    """
    residuals = history["y"].to_numpy(dtype=float) - in_sample["yhat"].to_numpy(dtype=float)
    noise_sd = float(np.sqrt(np.mean(residuals**2)))
    days = (history["ds"] - history["ds"].iloc[0]).dt.days.to_numpy(dtype=float)
    if n_changepoints == 0 or len(days) < 3:
        return noise_sd, 0.0
    slopes = np.diff(in_sample["trend"].to_numpy(dtype=float)) / np.diff(days)
    mean_change = float(np.abs(np.diff(slopes)).sum()) / n_changepoints
    likelihood = min(n_changepoints / (len(days) - 1), 1.0)
    step_days = days[-1] / (len(days) - 1)
    return noise_sd, float(np.sqrt(2 * likelihood) * mean_change * step_days)


def _forecast(fit: _SeriesFit, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Point forecast and standard deviation for the ``horizon`` periods after the history.

    The trend part: Prophet averages each step's shock with the previous one and cumulates
    twice (shocks → slope → level); that map is linear in independent shocks, so each step's
    variance is the shock variance times the squared row norm of the map.
    """
    future_periods = pd.period_range(start=fit.last + 1, periods=horizon, freq=fit.last.freq)
    future = pd.DataFrame({"ds": future_periods.start_time})
    if fit.festival:
        future[_REGRESSOR] = spring_festival_share(future_periods)
    with _quiet_stan():
        frame = fit.model.predict(future)
    point = frame["yhat"].to_numpy(dtype=float)
    multiplier = 1 + frame["multiplicative_terms"].to_numpy(dtype=float)
    average = 0.5 * (np.eye(horizon) + np.eye(horizon, k=-1))
    cumulate = np.tril(np.ones((horizon, horizon)))
    linear_map = cumulate @ cumulate @ average
    trend_sd = fit.shock_sd * np.sqrt(np.sum(linear_map**2, axis=1)) * np.abs(multiplier)
    return point, np.sqrt(trend_sd**2 + fit.noise_sd**2)
