"""The model protocol every forecaster follows.

Borrowed from scikit-learn and darts:

- ``__init__`` only stores parameters; ``fit(panel)`` learns and returns ``self``; learned state
  ends in ``_``; predicting before fitting raises :class:`NotFittedError`, the one "not fitted"
  error of the code base.
- Public ``fit``/``predict`` validate and handle what every model shares (too-short series,
  output shape, non-finite values); subclasses implement ``_fit``/``_predict`` only.
- Parameters are checked in one place, :meth:`Forecaster._validate_params`, which ``fit`` calls
  before anything else, with the checks below (:func:`check_whole_number`,
  :func:`check_choice`, :func:`check_number`) so every bad parameter is reported the same way:
  its name, the value given and what is allowed.
- Capabilities are declared as class attributes (``min_train_length``, ``frequencies``,
  ``is_global``, ``supports_exog``, ``horizon_parameter``), never discovered with ``hasattr``.
- ``predict`` changes no learned state: a fitted model gives the same forecast however often,
  and for whatever horizons and levels, it is asked.

Forecasts come back as a :class:`Forecast`: arrays of shape (series, horizon) for the point
forecast and for the lower/upper bound of each central interval level.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from scipy import stats

from features.panel import Panel, format_period

DEFAULT_LEVELS: tuple[int, ...] = (80, 95)

#: Errors numerical libraries raise on degenerate series (constant, tiny, explosive).
NUMERIC_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    ArithmeticError,
    np.linalg.LinAlgError,
)


class NotFittedError(RuntimeError):
    """A model was asked to predict before ``fit``."""


class ModelError(ValueError):
    """A model cannot work with the given input or parameters; the message says why."""


def invalid_parameter(name: str, value: Any, allowed: str) -> ModelError:
    """The one message for a bad parameter: "``name`` must be ``allowed``, got ``value``"."""
    return ModelError(f"{name} must be {allowed}, got {value!r}")


def check_whole_number(name: str, value: Any, *, minimum: int = 1, optional: bool = False) -> None:
    """``value`` is an integer of at least ``minimum`` (or None when ``optional``).

    Booleans are refused: ``True`` passing as 1 hides a parameter given in the wrong place.
    """
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        allowed = "a positive whole number" if minimum == 1 else f"a whole number >= {minimum}"
        raise invalid_parameter(name, value, allowed + (" or None" if optional else ""))


def check_number(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive: bool = False,
) -> None:
    """``value`` is a finite real number within [``minimum``, ``maximum``] (open bounds when
    ``exclusive``); either bound may be left out."""
    real = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    inside = real and bool(np.isfinite(value))
    if inside and minimum is not None:
        inside = value > minimum if exclusive else value >= minimum
    if inside and maximum is not None:
        inside = value < maximum if exclusive else value <= maximum
    if not inside:
        above = "above" if exclusive else "at least"
        below = "below" if exclusive else "at most"
        limits = [f"{above} {minimum:g}"] if minimum is not None else []
        limits += [f"{below} {maximum:g}"] if maximum is not None else []
        raise invalid_parameter(name, value, " ".join(["a number", " and ".join(limits)]).strip())


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> None:
    """``value`` is one of ``choices`` (compared with ``==``, so unhashable values are refused
    with the same message rather than a TypeError)."""
    options = tuple(choices)
    if not any(isinstance(value, type(option)) and value == option for option in options):
        raise invalid_parameter(name, value, "one of " + ", ".join(map(repr, options)))


def check_levels(levels: Iterable[Any]) -> tuple[int, ...]:
    """Interval levels as whole percentages in (0, 100), in the order given (``80.0`` is 80;
    80.5 is refused rather than silently truncated)."""
    given = tuple(levels)
    for level in given:
        real = isinstance(level, int | float | np.integer | np.floating)
        if isinstance(level, bool) or not real or not 0 < level < 100 or level != int(level):
            raise invalid_parameter("levels", given, "whole percentages between 1 and 99")
    return tuple(int(level) for level in given)


@dataclass(frozen=True)
class Forecast:
    """Point forecasts and central prediction intervals for a set of series.

    ``mean`` has shape (n_series, horizon); ``lower[level]`` and ``upper[level]`` the same, for
    each interval level in percent (80 means the 10% and 90% quantiles).
    """

    ids: tuple[str, ...]
    periods: tuple[pd.PeriodIndex, ...]
    mean: np.ndarray
    lower: dict[int, np.ndarray] = field(default_factory=dict)
    upper: dict[int, np.ndarray] = field(default_factory=dict)
    #: Series that got the naive fallback (too short, or the model failed on them).
    fallback: tuple[str, ...] = ()

    @property
    def horizon(self) -> int:
        return int(self.mean.shape[1])

    @property
    def levels(self) -> tuple[int, ...]:
        return tuple(sorted(self.lower))

    def to_frame(self) -> pd.DataFrame:
        """The long forecast format (README): ``series_id, period, forecast, lo_80, hi_80, ...``."""
        h = self.mean.shape[1]
        data: dict[str, Any] = {
            "series_id": np.repeat(np.array(self.ids, dtype=object), h),
            "period": [format_period(p) for index in self.periods for p in index],
            "forecast": self.mean.reshape(-1),
        }
        for level in self.levels:
            data[f"lo_{level}"] = self.lower[level].reshape(-1)
            data[f"hi_{level}"] = self.upper[level].reshape(-1)
        return pd.DataFrame(data)

    def take(self, positions: Sequence[int] | np.ndarray) -> Forecast:
        index = np.asarray(positions, dtype=int)
        return Forecast(
            tuple(self.ids[i] for i in index),
            tuple(self.periods[i] for i in index),
            self.mean[index],
            {level: bounds[index] for level, bounds in self.lower.items()},
            {level: bounds[index] for level, bounds in self.upper.items()},
            tuple(self.ids[i] for i in index if self.ids[i] in set(self.fallback)),
        )


class Forecaster(ABC):
    """Base class of every model family (see the module docstring for the contract)."""

    #: Registry name of the family; set by each subclass.
    name: ClassVar[str] = ""
    #: Fewest observations a series needs; shorter series get the fallback forecast.
    min_train_length: ClassVar[int] = 1
    #: Frequencies the model can forecast (Y, Q, M).
    frequencies: ClassVar[frozenset[str]] = frozenset({"Y", "Q", "M"})
    #: A global model learns one function from all series; a local model one per series.
    is_global: ClassVar[bool] = False
    #: Whether the model uses exogenous regressors (none does yet).
    supports_exog: ClassVar[bool] = False
    #: The constructor parameter that fixes how many steps ahead the model learns at fit time
    #: (direct multi-step models), or None. Callers that know the horizon they will ask for
    #: set it through :func:`models.registry.create` (``horizon=``), so the model learns
    #: exactly those steps and predict never has to train.
    horizon_parameter: ClassVar[str | None] = None

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (subclasses store them under the same names)."""
        return {key: value for key, value in vars(self).items() if not key.endswith("_")}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    # -- public API -------------------------------------------------------------------------

    def fit(self, panel: Panel) -> Self:
        self._validate_params()
        if not isinstance(panel, Panel):
            raise TypeError(f"fit expects a Panel, got {type(panel).__name__}")
        if panel.freq not in self.frequencies:
            raise ModelError(
                f"{type(self).__name__} does not forecast {panel.freq} series "
                f"(supports {', '.join(sorted(self.frequencies))})"
            )
        short = panel.lengths < self.min_train_length
        self.short_ids_ = tuple(np.array(panel.ids, dtype=object)[short])
        self.train_panel_ = panel
        self._fit(panel, ~short)
        return self

    def predict(self, horizon: int, levels: Sequence[int] = DEFAULT_LEVELS) -> Forecast:
        if not hasattr(self, "train_panel_"):
            raise NotFittedError(
                f"{type(self).__name__} is not fitted yet; call fit(panel) before predict"
            )
        check_whole_number("horizon", horizon)
        levels = check_levels(levels)
        panel: Panel = self.train_panel_
        mean, lower, upper = self._predict(int(horizon), levels)
        failed = ~np.isfinite(mean).all(axis=1)
        for level in levels:
            failed |= ~np.isfinite(lower[level]).all(axis=1) | ~np.isfinite(upper[level]).all(
                axis=1
            )
        failed |= np.isin(np.array(panel.ids, dtype=object), self.short_ids_)
        if failed.any():
            positions = np.flatnonzero(failed)
            fallback = naive_forecast(panel, positions, int(horizon), levels)
            mean[positions] = fallback[0]
            for level in levels:
                lower[level][positions] = fallback[1][level]
                upper[level][positions] = fallback[2][level]
        return Forecast(
            panel.ids,
            tuple(panel.future_periods(int(horizon))),
            mean,
            lower,
            upper,
            tuple(panel.ids[i] for i in np.flatnonzero(failed)),
        )

    # -- to implement -----------------------------------------------------------------------

    def _validate_params(self) -> None:
        """Check the constructor parameters, raising :class:`ModelError` (through the
        ``check_*`` functions of this module) for the first bad one.

        ``fit`` calls this before it looks at the data, so a misspelt option fails at once,
        with the same kind of message in every family, instead of deep inside a library or
        after minutes of backtests. The default has nothing to check (parameterless models).
        """
        return

    @abstractmethod
    def _fit(self, panel: Panel, usable: np.ndarray) -> None:
        """Learn from the series where ``usable`` is True (the others get the fallback)."""

    @abstractmethod
    def _predict(
        self, horizon: int, levels: tuple[int, ...]
    ) -> tuple[np.ndarray, dict[int, np.ndarray], dict[int, np.ndarray]]:
        """Arrays (n_series, horizon) for every series of the training panel.

        Rows holding NaN mark series the model could not forecast (too short, or the fit
        failed): the base class gives them the naive fallback and lists them in
        :attr:`Forecast.fallback`, so a model never has to invent numbers.
        """


class LocalForecaster(Forecaster):
    """A model fitted to each series on its own.

    Subclasses implement :meth:`_fit_one` (learn from one array, return any state) and
    :meth:`_forecast_one` (point forecast and a per-step standard deviation, or explicit
    bounds). The default interval is normal around the point forecast, which is what most
    textbook models imply; the forecasting engine recalibrates intervals on backtest errors.
    """

    def _fit(self, panel: Panel, usable: np.ndarray) -> None:
        self.states_: list[Any] = [
            self._fit_safely(panel.series(i)) if usable[i] else None for i in range(panel.n_series)
        ]

    def _fit_safely(self, y: np.ndarray) -> Any:
        """The fitted state, or None when the numerics fail on this series (it then gets the
        fallback): one degenerate series must not stop a job over thousands."""
        try:
            return self._fit_one(y)
        except NUMERIC_ERRORS:
            return None

    def _predict(
        self, horizon: int, levels: tuple[int, ...]
    ) -> tuple[np.ndarray, dict[int, np.ndarray], dict[int, np.ndarray]]:
        n = len(self.states_)
        mean = np.full((n, horizon), np.nan)
        lower = {level: np.full((n, horizon), np.nan) for level in levels}
        upper = {level: np.full((n, horizon), np.nan) for level in levels}
        for i, state in enumerate(self.states_):
            if state is None:
                continue
            try:
                point, spread = self._forecast_levels(state, horizon, levels)
            except NUMERIC_ERRORS:
                continue
            mean[i] = point
            for level in levels:
                if isinstance(spread, dict):
                    lower[level][i], upper[level][i] = spread[level]
                else:
                    z = normal_quantile(level)
                    lower[level][i] = point - z * spread
                    upper[level][i] = point + z * spread
        return mean, lower, upper

    @abstractmethod
    def _fit_one(self, y: np.ndarray) -> Any:
        """Learn from one series (at least ``min_train_length`` values); return the state."""

    @abstractmethod
    def _forecast_one(
        self, state: Any, horizon: int
    ) -> tuple[np.ndarray, np.ndarray | dict[int, tuple[np.ndarray, np.ndarray]]]:
        """Point forecast (horizon,) and either the standard deviation per step (horizon,) or
        explicit (lower, upper) bounds per level."""

    def _forecast_levels(
        self, state: Any, horizon: int, levels: tuple[int, ...]
    ) -> tuple[np.ndarray, np.ndarray | dict[int, tuple[np.ndarray, np.ndarray]]]:
        """:meth:`_forecast_one` for the requested interval ``levels``: models whose bounds are
        not normal (simulated quantiles) override this to return bounds for exactly those."""
        return self._forecast_one(state, horizon)


@cache
def normal_quantile(level: int) -> float:
    """z such that a normal interval mean ± z·sd has coverage ``level`` percent.

    Cached: every model's predict asks for the same few levels, tens of thousands of times
    in a retrain, and scipy's ``ppf`` costs some 90 µs a call."""
    return float(stats.norm.ppf(0.5 + level / 200))


def naive_forecast(
    panel: Panel, positions: np.ndarray, horizon: int, levels: tuple[int, ...]
) -> tuple[np.ndarray, dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Last value carried forward, with random-walk intervals (σ·√h from one-step changes).

    The fallback for series too short for a model: with one or two points nothing better is
    defensible. A single point has no changes to learn from; its interval uses 10% of the
    level as the one-step spread, which backtest calibration replaces anyway.
    """
    steps = np.sqrt(np.arange(1, horizon + 1))
    mean = np.zeros((len(positions), horizon))
    lower = {level: np.zeros_like(mean) for level in levels}
    upper = {level: np.zeros_like(mean) for level in levels}
    for row, position in enumerate(positions):
        y = panel.series(int(position))
        last = float(y[-1])
        changes = np.diff(y)
        sigma = float(np.sqrt(np.mean(changes**2))) if changes.size else 0.1 * abs(last)
        mean[row] = last
        for level in levels:
            width = normal_quantile(level) * sigma * steps
            lower[level][row] = last - width
            upper[level][row] = last + width
    return mean, lower, upper
