"""The training pipeline: one data watermark and one configuration in, one complete run out.

``train`` reads the store as of a watermark, computes the balance (series forecasts, supply,
demand, gap distribution, drivers), applies the employment rules to observed outcomes
(warnings), recommends next year's quotas over the balance's joint samples, and stores all of it
as the outputs of one run — with the samples as an artifact for what-if scenarios — in one
transaction. A run that fails is marked failed with its error and keeps no outputs; the run the
API serves changes only when a new run succeeds.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import Any, Final

import pandas as pd

from data.store import Store
from data.store.runs import RunRecord
from data.vocabulary import DEFAULT_CITY_REGION
from features.rates import primary_fields
from features.talent import TalentData
from forecasting.balance import BalanceResult, compute_balance
from forecasting.quotas import QuotaSettings, recommend_quotas
from forecasting.rules import Policy, evaluate_rules, quota_limits
from forecasting.scenarios import ARTIFACT_NAME, BalanceSamples, samples_from_balance
from forecasting.settings import BalanceSettings

#: The stages of a run, in the order they run (the keys of a run's ``timings``).
STAGES: Final = ("load", "supply", "demand", "balance", "warnings", "quotas", "artifacts")


@dataclass(frozen=True)
class TrainingConfig:
    """Everything a run depends on besides the data: balance settings, the employment rules in
    force and the quota optimiser's levers. Recorded with every run (``to_dict``)."""

    balance: BalanceSettings = field(default_factory=BalanceSettings)
    policy: Policy = field(default_factory=Policy.default)
    quotas: QuotaSettings = field(default_factory=QuotaSettings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "balance": self.balance.to_dict(),
            "policy": self.policy.to_dict(),
            "quotas": asdict(self.quotas),
        }


@dataclass(frozen=True)
class TrainingResult:
    """The stored run and what it was computed from, in memory."""

    run: RunRecord
    balance: BalanceResult
    samples: BalanceSamples
    warnings: pd.DataFrame
    recommendations: pd.DataFrame


def code_version() -> str:
    try:
        return f"talentcast {metadata.version('talentcast')}"
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "talentcast (not installed)"


def train(
    store: Store,
    config: TrainingConfig,
    *,
    as_of: int | None = None,
    city_region: str = DEFAULT_CITY_REGION,
    serve: bool = True,
) -> TrainingResult:
    """Compute and store a run as of upload ``as_of`` (default: the newest upload).

    With ``serve`` the run becomes the served run once it succeeded.
    """
    watermark = as_of if as_of is not None else store.watermark()
    recorded: dict[str, Any] = {**config.to_dict(), "city_region": city_region}
    run = store.create_run(watermark, recorded, code_version=code_version())
    store.start_run(run.id)
    try:
        timings: dict[str, float] = {}
        started = time.perf_counter()
        data = TalentData.from_store(store, as_of=watermark, city_region=city_region)
        timings["load"] = time.perf_counter() - started
        result = compute_balance(data, config.balance)
        timings.update(result.seconds)

        started = time.perf_counter()
        warnings = evaluate_rules(data, config.policy)
        limits = quota_limits(warnings, data, result.last_year + 1, config.policy)
        timings["warnings"] = time.perf_counter() - started

        started = time.perf_counter()
        catalog = data.catalog
        tiers = dict(zip(catalog.fields["field_code"], catalog.fields["tier"], strict=True))
        samples = samples_from_balance(result, tiers, config.quotas.capacity_factor)
        names = {
            str(row.field_code): (str(row.name_zh), str(row.name_en))
            for row in catalog.fields.itertuples(index=False)
        }
        recommendations = recommend_quotas(
            samples, limits, config.quotas, primary_fields(catalog).to_dict(), names
        )
        timings["quotas"] = time.perf_counter() - started

        started = time.perf_counter()
        outputs = {
            **result.outputs(),
            "warnings": warnings,
            "recommendations": recommendations,
        }
        artifacts = {ARTIFACT_NAME: samples.to_bytes()}
        timings["artifacts"] = time.perf_counter() - started  # serialising the samples
        metrics = {**run_metrics(result), **policy_metrics(warnings, recommendations)}
        finished = store.finish_run(
            run.id, outputs, metrics=metrics, timings=timings, artifacts=artifacts
        )
    except Exception as error:
        # Any failure marks the run failed (and leaves what is served untouched), then
        # propagates to the caller: a scheduler logs it, the CLI reports it.
        store.fail_run(run.id, f"{type(error).__name__}: {error}")
        raise
    if serve:
        finished = store.set_served(finished.id)
    return TrainingResult(finished, result, samples, warnings, recommendations)


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


def policy_metrics(warnings: pd.DataFrame, recommendations: pd.DataFrame) -> dict[str, Any]:
    """Counts a planner looks at first: how many programmes are warned, cut, raised, stopped."""
    change = recommendations["change"]
    return {
        "warnings": len(warnings),
        "programmes_warned": int(warnings[["programme_code", "level"]].drop_duplicates().shape[0]),
        "quota_intake_year": int(recommendations["intake_year"].iloc[0])
        if not recommendations.empty
        else None,
        "quotas_raised": int((change > 0.5).sum()),
        "quotas_cut": int((change < -0.5).sum()),
        "quotas_stopped": int(
            (
                (recommendations["recommended_quota"] == 0) & (recommendations["current_quota"] > 0)
            ).sum()
        ),
    }
