"""Counts that grow by percentages — postings, intake — forecast on the log scale.

Hiring and intake move multiplicatively: a field booming at 10% a year adds more postings
each year, and a planner raises a quota by a share, not by a fixed number of places. Forecast
on the raw scale, a linear trend extrapolates such a series too low (10% a year over six years
is +77%, its straight line +60%). On ``log(1 + count)`` a constant growth rate is a straight
line, errors are relative, and the back-transformed samples are never negative. Sample paths
are transformed one by one, so their quantiles are the quantiles of the counts; the point
forecast shown (``forecast``) is then the median, not the mean.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from features.panel import Panel
from forecasting.engine import ForecastEngine
from forecasting.executors import Executor, Progress
from forecasting.joint import JointDraws

#: Columns of a forecast frame that hold values on the series' scale.
VALUE_COLUMNS = ("forecast", "lo_80", "hi_80", "lo_95", "hi_95")


def log_counts(panel: Panel) -> Panel:
    """The panel on the log(1 + count) scale (negative counts are treated as zero)."""
    return dataclasses.replace(panel, values=np.log1p(np.maximum(panel.values, 0.0)))


def from_logs(values: np.ndarray) -> np.ndarray:
    """Counts back from the log(1 + count) scale, never negative."""
    return np.maximum(np.expm1(values), 0.0)


def fit_counts(
    panel: Panel,
    horizon: int,
    *,
    n_jobs: int,
    executor: Executor | None = None,
    progress: Progress | None = None,
) -> ForecastEngine:
    """The engine fitted on the log scale of a panel of counts.

    On the log scale every error is a ratio, comparable between a field of three postings and
    one of three thousand, so samples and intervals are kept within the largest ratio by
    which any backtest forecast missed (``bounded_misses``): a handful of postings must not
    inherit, through a scaled error, a miss by a factor of a million.
    """
    engine = ForecastEngine(
        horizon, n_jobs=n_jobs, executor=executor, non_negative=False, bounded_misses=True
    )
    return engine.fit(log_counts(panel), progress)


def sample_counts(
    engine: ForecastEngine, n_samples: int, *, seed: int, joint: JointDraws | None = None
) -> np.ndarray:
    """Joint sample paths in counts (samples, series, horizon) of an engine from
    :func:`fit_counts`."""
    return from_logs(engine.sample(n_samples, seed=seed, joint=joint))


def frame_in_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """A ``forecasts`` frame of an engine from :func:`fit_counts`, back in counts."""
    return frame.assign(**{c: from_logs(frame[c].to_numpy()) for c in VALUE_COLUMNS})
