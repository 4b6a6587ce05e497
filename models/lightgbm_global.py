"""LightGBM global model: one gradient-boosted learner pooled over every series of the panel.

Education and hiring series are short (10-25 yearly points), too short for a local model to
learn much beyond a level and a drift, but a panel has dozens to thousands of them. A global
model learns one mapping "recent history → next values" from all of them at once.

Design, with the choices measured on the M1 *train* files (the validation window is the h
periods before the last h, so the last h stay untouched for reporting):

- **Feature pipeline: Nixtla's mlforecast** (lags, target transforms, season feature, direct
  multi-horizon training) rather than hand-written code; series ids are panel positions and
  time stamps are period ordinals, so no calendar arithmetic is involved.
- **Target transform.** Series differ in scale by orders of magnitude, so the target is made
  scale-free per series before pooling. ``"seasonal_difference"`` (default) takes differences at
  the season length (first differences for yearly data) and divides them by each series' own
  standard deviation of those differences; ``"difference"`` does the same with first
  differences; ``"ratio"`` divides each series by the mean absolute value of its last
  ``window`` observations. MASE on the validation window (seasonal naive: Y 4.02, Q 1.92,
  M 2.12): seasonal difference 3.25 / 1.28 / 1.97, difference 3.25 / 1.27 / 2.20, ratio
  4.07 / 1.87 / 2.05. Differencing lets trees extrapolate trends they could not reach in
  levels; the seasonal lag also makes "no change predicted" mean "seasonal naive", a safe
  default on monthly data.
- **Direct multi-horizon, one model per step** (mlforecast's ``max_horizon``): no recursion,
  so errors do not feed back, and each step learns its own mapping (in a hand-written
  prototype, one shared model with the step as a feature was worse at every frequency).
  All steps are trained at fit time, up to ``max_horizon`` (which the engine sets to the
  horizon it will ask for). Prediction never trains: steps past the trained ones continue
  each series' average seasonal change over the trained steps, with intervals widening like
  a random walk's (:meth:`LightGBMGlobal._extend`), so a fitted model gives the same numbers
  however often and for whatever horizon it is asked.
- **Small, regularised trees** (8 leaves, 20 rows per leaf, bagging): accuracy was flat across
  the settings tried, so the cheap end was kept.
- **Intervals: split-conformal by series.** Series are split into ``interval_folds`` folds;
  each fold's training rows are predicted by models that never saw that series, the errors are
  accumulated like the forecasts are (for differences, an error at step k carries into k + lag),
  and the absolute errors per step, in each series' own scale, are pooled into quantiles.
  In-sample residuals of boosted trees would be far too narrow. Past origins still know a
  little of their future through the per-series centring; the drift part of that is removed
  (:meth:`LightGBMGlobal._drift_shift`), the rest makes the intervals somewhat narrow:
  on simulated seasonal random walks 80% intervals cover 80% at step 1 with either
  differencing, falling to about 60% by step 12 with seasonal differences on monthly data; on
  the M1 validation window 80% intervals covered 58% (Y), 66% (Q) and 65% (M). The engine
  recalibrates every model's intervals on backtest errors, which is what the served intervals
  rest on.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any, ClassVar, Final, Literal

import numpy as np
import pandas as pd

from features.panel import Panel
from models.base import Forecaster, check_choice, check_number, check_whole_number

TargetTransform = Literal["seasonal_difference", "difference", "ratio"]
TARGET_TRANSFORMS: Final[tuple[str, ...]] = ("seasonal_difference", "difference", "ratio")
#: Lags by frequency: one to three years of history, which the short series can afford.
_DEFAULT_LAGS: Final[dict[str, int]] = {"Y": 3, "Q": 4, "M": 12}
#: Steps trained at fit time unless ``max_horizon`` says otherwise (the usual planning
#: horizons, also the M-competition ones); longer requests are extended, not trained.
_DEFAULT_HORIZON: Final[dict[str, int]] = {"Y": 6, "Q": 8, "M": 18}
_MODEL: Final[str] = "lgbm"
#: Fewest training rows a step model is fitted on: bagging draws 80% of the rows, which must
#: leave at least one.
_MIN_ROWS: Final[int] = 2


class _SeasonOfPeriod:
    """Position of a period in its year (month 0-11, quarter 0-3) from its ordinal.

    A named callable rather than a lambda: mlforecast names date features after ``__name__``.
    With direct models the feature describes the forecast origin; each step's model knows how
    far ahead it looks, so that fixes the season of the target too.
    """

    __name__ = "season"

    def __init__(self, season_length: int) -> None:
        self.season_length = season_length

    def __call__(self, ordinals: Any) -> np.ndarray:
        return np.asarray(ordinals, dtype=np.int64) % self.season_length


class LightGBMGlobal(Forecaster):
    """Direct multi-step LightGBM over lags of scale-free targets, pooled across series.

    ``lags`` of ``None`` uses 3 yearly, 4 quarterly and 12 monthly lags; ``window`` (for the
    ``"ratio"`` transform) defaults to ``lags``. A series gets a forecast when it has enough
    points for one prediction row (``lags`` values after the transform); shorter ones get NaN
    rows, hence the fallback. ``max_horizon`` (``None``: 6 yearly, 8 quarterly, 18 monthly
    steps) is how many steps get their own model; a step no series is long enough to train
    (step k needs ``lags`` + lag + k points) is left untrained. Steps past the trained ones are
    extended from them (see :meth:`_extend`), never trained at predict time.
    """

    name: ClassVar[str] = "lightgbm"
    horizon_parameter: ClassVar[str | None] = "max_horizon"
    #: What the default yearly set-up needs (3 lags + 1 difference); other settings may need
    #: more, and ``_fit`` marks the series that fall short.
    min_train_length: ClassVar[int] = 4
    is_global: ClassVar[bool] = True

    def __init__(
        self,
        *,
        lags: int | None = None,
        target_transform: TargetTransform = "seasonal_difference",
        window: int | None = None,
        max_horizon: int | None = None,
        n_estimators: int = 200,
        learning_rate: float = 0.05,
        num_leaves: int = 8,
        min_child_samples: int = 20,
        reg_lambda: float = 1.0,
        interval_folds: int = 2,
        n_jobs: int = 1,
        random_state: int = 0,
    ) -> None:
        self.lags = lags
        self.target_transform = target_transform
        self.window = window
        self.max_horizon = max_horizon
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.reg_lambda = reg_lambda
        self.interval_folds = interval_folds
        self.n_jobs = n_jobs
        self.random_state = random_state

    # -- fitting ----------------------------------------------------------------------------

    def _fit(self, panel: Panel, usable: np.ndarray) -> None:
        self.lags_ = self.lags or _DEFAULT_LAGS[panel.freq]
        self.window_ = self.window or self.lags_
        self.difference_lag_ = {
            "seasonal_difference": panel.season_length,
            "difference": 1,
            "ratio": 0,
        }[self.target_transform]
        needed = (
            max(self.lags_, self.window_)
            if self.target_transform == "ratio"
            else self.lags_ + self.difference_lag_
        )
        self.usable_ = usable & (panel.lengths >= needed)
        self.scales_ = np.array(
            [
                self._scale(panel.series(i)) if self.usable_[i] else np.nan
                for i in range(panel.n_series)
            ]
        )
        self._train(panel, self.max_horizon or _DEFAULT_HORIZON[panel.freq])

    def _validate_params(self) -> None:
        check_choice("target_transform", self.target_transform, TARGET_TRANSFORMS)
        for name in ("lags", "window", "max_horizon"):
            check_whole_number(name, getattr(self, name), optional=True)
        check_whole_number("n_estimators", self.n_estimators)
        check_number("learning_rate", self.learning_rate, minimum=0, exclusive=True)
        check_whole_number("num_leaves", self.num_leaves, minimum=2)
        check_whole_number("min_child_samples", self.min_child_samples)
        check_number("reg_lambda", self.reg_lambda, minimum=0)
        check_whole_number("interval_folds", self.interval_folds, minimum=2)
        check_whole_number("n_jobs", self.n_jobs)
        check_whole_number("random_state", self.random_state, minimum=0)

    def _scale(self, y: np.ndarray) -> float:
        """The unit a series' errors are measured in: what the target transform divides by
        (for differences, mlforecast's LocalStandardScaler: their population standard
        deviation); 0 where the series does not vary, so its interval has no width."""
        if self.target_transform == "ratio":
            return _ratio_scale(y, self.window_)
        lag = self.difference_lag_
        return float(np.std(y[lag:] - y[:-lag]))

    def _train(self, panel: Panel, horizon: int) -> None:
        """Fit the step models and the interval quantiles for steps 1..``horizon``, or for as
        many leading steps as have training rows (a step k needs series with lags + lag + k
        points); later steps are extended at predict time."""
        self.trained_horizon_ = 0
        self.forecaster_: Any = None
        self.quantiles_ = np.zeros((0, 99))
        positions = np.flatnonzero(self.usable_)
        if positions.size == 0:
            return
        frame = self._frame(panel, positions)
        with warnings.catch_warnings():
            # Series long enough to predict from but too short to train on are expected.
            warnings.filterwarnings("ignore", "The following series were dropped", UserWarning)
            prepared = self._pipeline(panel).preprocess(
                frame, max_horizon=horizon, static_features=[]
            )
        targets = [f"y{step}" for step in range(horizon)]
        rows = prepared[targets].notna().sum().to_numpy()
        trainable = int(np.cumprod(rows >= _MIN_ROWS).sum())
        if trainable == 0:
            return
        forecaster = self._pipeline(panel)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "The following series were dropped", UserWarning)
            forecaster.fit(frame, max_horizon=trainable, static_features=[])
        features = [c for c in prepared.columns if c not in {"unique_id", "ds", *targets}]
        ids = prepared["unique_id"].to_numpy()
        self.quantiles_ = self._interval_quantiles(
            prepared[features],
            prepared[targets[:trainable]].to_numpy(dtype=float),
            ids,
            self._drift_shift(panel, ids, prepared["ds"].to_numpy()),
            forecaster.models_[_MODEL],
        )
        self.forecaster_ = forecaster
        self.trained_horizon_ = trainable

    def _frame(self, panel: Panel, positions: np.ndarray) -> pd.DataFrame:
        """The long frame mlforecast reads: position as id, period ordinal as time stamp."""
        lengths = panel.lengths[positions]
        values = np.concatenate([panel.series(int(p)) for p in positions])
        if self.target_transform == "ratio":
            values = values / np.repeat(_nonzero(self.scales_[positions]), lengths)
        return pd.DataFrame(
            {
                "unique_id": np.repeat(positions, lengths),
                "ds": np.concatenate(
                    [
                        np.arange(panel.starts[p].ordinal, panel.starts[p].ordinal + n)
                        for p, n in zip(positions, lengths, strict=True)
                    ]
                ),
                "y": values,
            }
        )

    def _pipeline(self, panel: Panel) -> Any:
        """A fresh, unfitted mlforecast pipeline with this model's settings."""
        from lightgbm import LGBMRegressor
        from mlforecast import MLForecast
        from mlforecast.target_transforms import Differences, LocalStandardScaler

        estimator = LGBMRegressor(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            reg_lambda=self.reg_lambda,
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.8,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
            deterministic=True,
            force_col_wise=True,
            verbose=-1,
        )
        transforms: list[Any] | None = (
            None
            if self.target_transform == "ratio"
            else [Differences([self.difference_lag_]), LocalStandardScaler()]
        )
        m = panel.season_length
        return MLForecast(
            models={_MODEL: estimator},
            freq=1,
            lags=list(range(1, self.lags_ + 1)),
            date_features=[_SeasonOfPeriod(m)] if m > 1 else [],
            target_transforms=transforms,
            num_threads=self.n_jobs,
        )

    def _drift_shift(self, panel: Panel, ids: np.ndarray, origins: np.ndarray) -> np.ndarray:
        """Per training row, how far the mean change known at that origin lies from the whole
        series' mean change, in units of the series' standard deviation of changes.

        The standard scaler centres each series on the mean of *all* its changes, so a model
        evaluated at a past origin gets that series' future drift for free and its errors look
        smaller than at the real origin, where the drift is estimated from the past only (on
        random walks, 80% intervals covered ~70% at step 8 without this). Adding the shift to
        each predicted change makes the past errors honest.
        """
        shift = np.zeros(len(ids))
        lag = self.difference_lag_
        if not lag:
            return shift
        for position in np.unique(ids):
            rows = ids == position
            y = panel.series(int(position))
            changes = y[lag:] - y[:-lag]
            sigma = float(changes.std())
            if sigma == 0:
                continue
            known = origins[rows] - panel.starts[int(position)].ordinal - lag + 1
            running = np.cumsum(changes) / np.arange(1, changes.size + 1)
            shift[rows] = (running[known - 1] - changes.mean()) / sigma
        return shift

    def _interval_quantiles(
        self,
        features: pd.DataFrame,
        targets: np.ndarray,
        ids: np.ndarray,
        shift: np.ndarray,
        final: dict[int, Any],
    ) -> np.ndarray:
        """Quantiles (steps × levels 1..99 %) of absolute forecast errors in series units.

        Errors come from models trained without the series they predict (``interval_folds``
        folds of series), corrected by ``shift`` (see :meth:`_drift_shift`); a step no fold
        could train (too few series) uses the final model's in-sample errors instead.
        """
        from sklearn.base import clone

        horizon = targets.shape[1]
        series = np.unique(ids)
        fold_of = dict(
            zip(
                np.random.default_rng(self.random_state).permutation(series),
                np.arange(series.size) % self.interval_folds,
                strict=True,
            )
        )
        folds = np.array([fold_of[i] for i in ids])
        residuals = np.full(targets.shape, np.nan)
        for step in range(horizon):
            known = ~np.isnan(targets[:, step])
            for fold in range(self.interval_folds):
                train, test = known & (folds != fold), known & (folds == fold)
                if train.sum() >= _MIN_ROWS and test.any():
                    model = clone(final[step]).fit(features[train], targets[train, step])
                    residuals[test, step] = model.predict(features[test]) - targets[test, step]
            if np.isnan(residuals[known, step]).all():
                residuals[known, step] = final[step].predict(features[known]) - targets[known, step]
        errors = residuals + shift[:, None]
        lag = self.difference_lag_
        if lag:
            for step in range(lag, horizon):
                errors[:, step] += errors[:, step - lag]
        quantiles = np.zeros((horizon, 99))
        for step in range(horizon):
            quantiles[step] = _conformal_quantiles(np.abs(errors[:, step]))
        # Uncertainty does not shrink with the distance ahead; pooled samples can say otherwise.
        return np.maximum.accumulate(quantiles, axis=0)

    # -- predicting -------------------------------------------------------------------------

    def _predict(
        self, horizon: int, levels: tuple[int, ...]
    ) -> tuple[np.ndarray, dict[int, np.ndarray], dict[int, np.ndarray]]:
        """Steps up to ``trained_horizon_`` from the step models, later ones by
        :meth:`_extend`; nothing is trained here, so predicting leaves the fitted model as it
        was (two predictions of different horizons agree on their common steps)."""
        panel: Panel = self.train_panel_
        n = panel.n_series
        mean = np.full((n, horizon), np.nan)
        lower = {level: np.full((n, horizon), np.nan) for level in levels}
        upper = {level: np.full((n, horizon), np.nan) for level in levels}
        if self.forecaster_ is None:
            return mean, lower, upper
        trained = min(horizon, self.trained_horizon_)
        predicted = _scratch_copy(self.forecaster_).predict(trained)
        predicted = predicted.sort_values(["unique_id", "ds"])
        positions = predicted["unique_id"].to_numpy().reshape(-1, trained)[:, 0]
        values = predicted[_MODEL].to_numpy(dtype=float).reshape(-1, trained)
        scales = self.scales_[positions][:, None]
        if self.target_transform == "ratio":
            scales = _nonzero(scales)
            values = values * scales
        values = self._extend(panel, positions, values, horizon)
        exact = positions[scales[:, 0] == 0] if self.difference_lag_ else positions[:0]
        for position in exact:
            values[positions == position] = _extrapolate(
                panel.series(int(position)), self.difference_lag_, horizon
            )
        mean[positions] = values
        # Beyond the trained steps the last trained width grows like a random walk's.
        steps = np.arange(1, horizon + 1)
        growth = np.sqrt(np.maximum(steps / trained, 1.0))
        quantiles = self.quantiles_[np.minimum(steps, trained) - 1] * growth[:, None]
        for level in levels:
            width = scales * quantiles[:, level - 1]
            lower[level][positions] = values - width
            upper[level][positions] = values + width
        return mean, lower, upper

    def _extend(
        self, panel: Panel, positions: np.ndarray, values: np.ndarray, horizon: int
    ) -> np.ndarray:
        """Forecasts for steps past the trained ones, without training anything: each series'
        average change per season (per step for yearly data) over its trained steps, carried
        forward from the same season one cycle earlier, so the trend and the seasonal shape of
        the trained steps continue.

        Why not train the missing steps here: predict would then change the fitted model, and
        two predictions of one fit could disagree. The engine creates the model for the
        horizon it will ask (``max_horizon``), so this only serves direct callers asking
        further than they fitted for, and those whose longest series cannot train every step.
        """
        trained = values.shape[1]
        if horizon <= trained:
            return values[:, :horizon]
        lag = self.difference_lag_ or panel.season_length
        extended = np.empty((len(positions), horizon))
        for row, position in enumerate(positions):
            path = np.concatenate([panel.series(int(position)), values[row]])
            known = len(path) - trained
            season = min(lag, known)
            change = float(np.mean(path[known:] - path[known - season : len(path) - season]))
            for _ in range(horizon - trained):
                path = np.append(path, path[-season] + change)
            extended[row] = path[known:]
        return extended


def _scratch_copy(forecaster: Any) -> Any:
    """A shallow copy of a fitted MLForecast to predict with: its ``predict`` leaves the last
    request's dates and predictions on its ``ts`` (rebinding attributes, not changing the
    fitted arrays), which would otherwise make the fitted model differ after each prediction.
    Copying the two objects costs microseconds; a deep copy would serialise every booster."""
    scratch = copy.copy(forecaster)
    scratch.ts = copy.copy(forecaster.ts)
    return scratch


def _ratio_scale(y: np.ndarray, window: int) -> float:
    return float(np.mean(np.abs(y[-window:])))


def _extrapolate(y: np.ndarray, lag: int, horizon: int) -> np.ndarray:
    """The exact forecast for a series whose ``lag``-differences never vary: last season plus
    that constant change. The transform maps such a series to zeros with no unit (a standard
    deviation of 0), so the model's output for it would carry an arbitrary scale."""
    change = float(np.mean(y[lag:] - y[:-lag]))
    path = list(y[-lag:])
    for _ in range(horizon):
        path.append(path[-lag] + change)
    return np.array(path[lag:])


def _nonzero(scales: np.ndarray) -> np.ndarray:
    """Scales to divide by: a series of zeros keeps its values (there is nothing to scale)."""
    return np.where(scales > 0, scales, 1.0)


def _conformal_quantiles(errors: np.ndarray) -> np.ndarray:
    """The 1%..99% split-conformal quantiles of absolute errors: the ceil((n + 1)·q)-th
    smallest, which covers a new error with probability at least q; the largest error where
    there are too few for that."""
    errors = np.sort(errors[np.isfinite(errors)])
    if errors.size == 0:
        return np.zeros(99)
    ranks = np.ceil((errors.size + 1) * np.arange(1, 100) / 100).astype(int)
    return errors[np.minimum(ranks, errors.size) - 1]
