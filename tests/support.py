"""Helpers shared by test modules: frames as the files users upload, crafted balance samples."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.scenarios import BalanceSamples
from serving.settings import Settings


def csv_bytes(frame: pd.DataFrame, encoding: str = "utf-8") -> bytes:
    """A data frame as the CSV file a user would upload."""
    return frame.to_csv(index=False).encode(encoding)


def xlsx_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_excel(buffer, index=False, engine="openpyxl")
    return buffer.getvalue()


SAMPLES = 200
YEARS = np.arange(2026, 2032)
FIELDS = ("ai", "ic", "other")
PROGRAMMES = ("080717T|bachelor", "080704|bachelor", "other|bachelor")


def crafted_samples(ai_demand: float = 200.0, ic_demand: float = 20.0) -> BalanceSamples:
    """Balance samples with known answers: three bachelor programmes (AI, IC, other) of 100,
    100 and 1,000 entrants; every entrant adds 0.5 to its field's supply four years later. In
    2030 AI supply is 50 against demand ``ai_demand``, IC supply 50 against ``ic_demand``."""
    rng = np.random.default_rng(0)
    supply = np.full((SAMPLES, 3, 1, len(YEARS)), 50.0)
    demand = np.zeros_like(supply)
    demand[:, 0] = ai_demand + rng.normal(0, 5, (SAMPLES, 1, len(YEARS)))
    demand[:, 1] = ic_demand + rng.normal(0, 2, (SAMPLES, 1, len(YEARS)))
    entrants = np.array([100.0, 100.0, 1000.0])[None, :, None]
    intake = np.broadcast_to(entrants, (SAMPLES, 3, len(YEARS)))
    return BalanceSamples(
        years=YEARS,
        fields=FIELDS,
        levels=("bachelor",),
        programmes=PROGRAMMES,
        tiers=("national_strategic", "national_strategic", "other"),
        supply=supply,
        demand=demand,
        observed=np.array([[True], [True], [False]]),
        intake=intake.copy(),
        rates=np.full((SAMPLES, 3, len(YEARS)), 0.5),
        weights=np.eye(3),
        completion=np.ones(3),
        duration=np.full(3, 4),
        level_index=np.zeros(3, dtype=int),
        current_quota=np.array([100.0, 100.0, 1000.0]),
        capacity=np.array([500.0, 500.0, 5000.0]),
    )


@dataclass(frozen=True)
class Demo:
    """A SQLite store with the demo trained once (small settings) and the secrets of its keys:
    ``admin``, ``planner``, ``ic`` (association for integrated circuits), ``ai`` (association
    for artificial intelligence)."""

    url: str
    keys: dict[str, str]
    run_id: int

    def settings(self, **overrides: object) -> Settings:
        values = {"run_worker": False, "mlflow_tracking_uri": "", **overrides}
        return Settings(database_url=self.url, **values)  # type: ignore[arg-type]


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}
