"""Settings of the balance: how far ahead, how many samples, which rules of thumb.

Kept apart from the service settings so that the training pipeline, the benchmarks and tests
can build one explicitly; the pipeline records it with every run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: ``tightness`` is the default: on the demo's balance backtest (experiments/benchmarks/
#: balance_backtest.py) it was the best of the three on every measure.
DEMAND_MODELS = ("tightness", "combined", "direct")


@dataclass(frozen=True)
class BalanceSettings:
    """Parameters of supply, demand and gap estimation.

    ``horizon``: years ahead of the last enrollment year; ``n_samples``: joint samples (1,000
    gives quantiles to about ±1 percentile point); ``monthly_hiring_below_years``: with fewer
    complete years of hiring than this, annual demand is forecast from the monthly series and
    summed (experiments/benchmarks/hiring_aggregation.py: yearly totals forecast directly are
    better once a yearly backtest window fits, monthly ones before); ``survey_prior_strength``:
    how many past surveys' worth of weight the association's overall bias gets when estimating
    its bias for one field; ``demand_model``: how hiring becomes demand (see
    :func:`forecasting.demand.forecast_demand`).
    """

    horizon: int = 10
    n_samples: int = 1000
    seed: int = 20261129
    n_jobs: int = 1
    monthly_hiring_below_years: int = 6
    survey_prior_strength: float = 3.0
    demand_model: str = "tightness"

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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
