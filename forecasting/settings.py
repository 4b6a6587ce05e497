"""Settings of the balance: how far ahead, how many samples, which rules of thumb.

Kept apart from the service settings so that the training pipeline, the benchmarks and tests
can build one explicitly; the pipeline records it with every run.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from typing import Any

from forecasting.executors import Executor, check_executor, executor_for, run_executor

#: How postings are forecast before they are turned into openings: ``direct`` (the annual
#: postings themselves), ``tightness`` (postings ÷ supply, forecast and multiplied by the
#: supply sample: right where industry grows with its talent pool, but it copies every supply
#: error into demand) or ``combined`` (the two averaged in log space). ``auto`` (the default)
#: lets the run's balance backtest choose between direct and tightness on the city's own
#: history (:func:`forecasting.balance_backtest.replay_balance`); without a backtest it is
#: ``direct``. See experiments/benchmarks/balance_worlds.py and balance_backtest.py.
DEMAND_MODELS = ("auto", "direct", "tightness", "combined")
#: The candidates ``auto`` chooses between.
AUTO_CANDIDATES = ("direct", "tightness")


@dataclass(frozen=True)
class BalanceSettings:
    """Parameters of supply, demand and gap estimation.

    ``horizon``: years ahead of the last enrollment year; ``n_samples``: joint samples (1,000
    gives quantiles to about ±1 percentile point); ``monthly_hiring_below_years``: with fewer
    complete years of hiring than this, annual demand is forecast from the monthly series and
    summed (experiments/benchmarks/hiring_aggregation.py: yearly totals forecast directly are
    better once a yearly backtest window fits, monthly ones before); ``survey_prior_strength``:
    how many past surveys' worth of weight the association's overall bias gets when estimating
    its bias for one field; ``demand_model``: how postings are forecast (see
    :func:`forecasting.demand.forecast_demand`); ``posting_scales``: postings per opening set
    by the admin for some fields, as (field, scale, source) — otherwise every scale is
    estimated (:mod:`forecasting.scales`); ``supply_response``: whether in-field entry rates
    move with forecast tightness (:func:`forecasting.supply.respond_to_tightness`);
    ``executor``: where the run's tasks run, ``processes`` (``n_jobs`` local processes) or
    ``dask`` (the Dask cluster at ``dask_address``, or a local one of ``n_jobs`` workers) —
    like ``n_jobs``, it changes how long a run takes, never what it computes.
    """

    horizon: int = 10
    n_samples: int = 1000
    seed: int = 20261129
    n_jobs: int = 1
    monthly_hiring_below_years: int = 6
    survey_prior_strength: float = 3.0
    demand_model: str = "auto"
    posting_scales: tuple[tuple[str, float, str], ...] = ()
    supply_response: bool = True
    executor: str = "processes"
    dask_address: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.horizon <= 30:
            raise ValueError(f"horizon must be 1-30 years, got {self.horizon}")
        if self.n_samples < 100:
            raise ValueError(f"n_samples must be at least 100, got {self.n_samples}")
        if self.monthly_hiring_below_years < 1:
            raise ValueError("monthly_hiring_below_years must be positive")
        if self.demand_model not in DEMAND_MODELS:
            raise ValueError(
                f"demand_model must be one of {', '.join(DEMAND_MODELS)}, got {self.demand_model!r}"
            )
        if self.survey_prior_strength < 0:
            raise ValueError("survey_prior_strength must not be negative")
        check_executor(self.executor, self.dask_address)
        for entry in self.posting_scales:
            if len(entry) != 3 or not float(entry[1]) > 0 or not str(entry[2]).strip():
                raise ValueError(
                    "posting_scales entries are (field_code, postings per opening > 0, "
                    f"source of that number), got {entry!r}"
                )

    @property
    def resolved_demand_model(self) -> str:
        """The demand model a balance computes with (``auto`` before a backtest chose)."""
        return AUTO_CANDIDATES[0] if self.demand_model == "auto" else self.demand_model

    def make_executor(self) -> Executor:
        """The executor the run's engines map their backtests and fits on."""
        return executor_for(self.n_jobs, self.executor, self.dask_address)

    def shared_executor(self) -> AbstractContextManager[None]:
        """One pool or one cluster for every map of a run, closed when it ends
        (:func:`forecasting.executors.run_executor`)."""
        return run_executor(self.n_jobs, self.executor, self.dask_address)

    @property
    def admin_scales(self) -> dict[str, tuple[float, str]]:
        """The admin's posting scales by field: (postings per opening, source)."""
        return {str(f): (float(v), str(src)) for f, v, src in self.posting_scales}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
