"""The training pipeline: one data watermark in, one complete run out.

``train`` reads the store as of a watermark, computes the balance (series forecasts, supply,
demand, gap distribution, drivers) and stores everything as the outputs of one run, in one
transaction. A run that fails is marked failed with its error and keeps no outputs; the run
the API serves changes only when a new run succeeds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from data.store import Store
from data.store.runs import RunRecord
from data.vocabulary import DEFAULT_CITY_REGION
from features.talent import TalentData
from forecasting.balance import BalanceResult, compute_balance
from forecasting.settings import BalanceSettings


@dataclass(frozen=True)
class TrainingResult:
    """The stored run and the in-memory balance it was computed from."""

    run: RunRecord
    balance: BalanceResult


def code_version() -> str:
    try:
        return f"talentcast {metadata.version('talentcast')}"
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "talentcast (not installed)"


def train(
    store: Store,
    settings: BalanceSettings,
    *,
    as_of: int | None = None,
    city_region: str = DEFAULT_CITY_REGION,
    serve: bool = True,
) -> TrainingResult:
    """Compute and store a run as of upload ``as_of`` (default: the newest upload).

    With ``serve`` the run becomes the served run once it succeeded.
    """
    watermark = as_of if as_of is not None else store.watermark()
    config: dict[str, Any] = {**settings.to_dict(), "city_region": city_region}
    run = store.create_run(watermark, config, code_version=code_version())
    store.start_run(run.id)
    started = time.perf_counter()
    try:
        data = TalentData.from_store(store, as_of=watermark, city_region=city_region)
        loaded = time.perf_counter()
        result = compute_balance(data, settings)
        timings = {"load": loaded - started, **result.seconds}
        finished = store.finish_run(
            run.id, result.outputs(), metrics=run_metrics(result), timings=timings
        )
    except Exception as error:
        # Any failure marks the run failed (and leaves what is served untouched), then
        # propagates to the caller: a scheduler logs it, the CLI reports it.
        store.fail_run(run.id, f"{type(error).__name__}: {error}")
        raise
    if serve:
        finished = store.set_served(finished.id)
    return TrainingResult(finished, result)


def run_metrics(result: BalanceResult) -> dict[str, Any]:
    """What a run records about itself besides its outputs."""
    supply_models = sorted(set(result.supply.forecasts.get("model", [])))
    demand_models = sorted(set(result.demand.forecasts.get("model", [])))
    balance = result.balance
    future = balance[balance["year"] > result.last_year]
    cells = future[(future["field_code"] != "all") & (future["level"] != "all")]
    return {
        "last_observed_year": result.last_year,
        "first_forecast_year": result.last_year + 1,
        "horizon": len(result.supply.years),
        "demand_approach": result.demand.approach,
        "supply_models": supply_models,
        "demand_models": demand_models,
        "cells": int(cells[["field_code", "level"]].drop_duplicates().shape[0]),
        "cells_short_in_first_year": int(
            (cells[cells["year"] == result.last_year + 1]["p_shortage"] > 0.5).sum()
        ),
        "associations": int(result.demand.survey_bias["source"].nunique())
        if not result.demand.survey_bias.empty
        else 0,
    }
