"""Progress of a training run: which stage is running, how far along it is, what each took.

A retrain takes minutes; without word of what it is doing, an operator cannot tell a long
stage from a hung one. The pipeline reports to a :class:`RunProgress` it is handed
explicitly (never one found in global state): the command line passes one that draws on the
terminal (:mod:`serving.progress`), the worker and the scheduler pass :class:`LogProgress`
(one log line per stage), and library callers pass nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Protocol

from features.panel import Panel
from forecasting.executors import Progress

log = logging.getLogger(__name__)


class RunProgress(Protocol):
    """Told what a run is doing, as it does it."""

    def stage(self, name: str) -> None:
        """Stage ``name`` (one of :data:`forecasting.pipeline.STAGES`) starts now."""

    def count(self, what: str, done: int, total: int) -> None:
        """Within the current stage, ``done`` of ``total`` pieces of ``what`` are finished."""

    def finished(self, timings: Mapping[str, float]) -> None:
        """The run is stored; ``timings`` are its seconds per stage, as the run records them."""


class LogProgress:
    """One log line as each stage starts and a summary at the end, for processes whose output
    is a log (the worker, the scheduler): counts would flood it, so they are left out."""

    def __init__(self, logger: logging.Logger = log) -> None:
        self._log = logger

    def stage(self, name: str) -> None:
        self._log.info("training stage %s", name)

    def count(self, what: str, done: int, total: int) -> None:
        return None

    def finished(self, timings: Mapping[str, float]) -> None:
        self._log.info("training stages took %s", describe_timings(timings))


class CountsOnly:
    """A :class:`RunProgress` that passes on counts but not stages: for work done ahead of
    its stage, inside another one (a run's own engines, fitted while the balance backtest
    replays), whose batches are then counted in the stage under way."""

    def __init__(self, progress: RunProgress) -> None:
        self._progress = progress

    def stage(self, name: str) -> None:
        return None

    def count(self, what: str, done: int, total: int) -> None:
        self._progress.count(what, done, total)

    def finished(self, timings: Mapping[str, float]) -> None:
        return None


def describe_timings(timings: Mapping[str, float]) -> str:
    """``load 0.4 s, supply 12.0 s, ...`` in the order the stages ran."""
    return ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in timings.items())


def fitting(progress: RunProgress | None, kind: str, panel: Panel) -> Progress | None:
    """An executor callback that reports a forecast engine's batches of ``panel`` (backtests,
    then the final fit) as the fitting of its series of ``kind``."""
    if progress is None:
        return None
    what = f"{kind} series ({panel.n_series}) batches"
    return lambda done, total: progress.count(what, done, total)
