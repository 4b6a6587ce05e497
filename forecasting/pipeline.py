"""The training pipeline: one data watermark and one configuration in, one complete run out.

``train`` reads the store as of a watermark, replays the balance from earlier cut years on the
store as it was then (:mod:`forecasting.balance_backtest`; with demand model ``auto`` this
also chooses how demand is forecast), computes the balance (series forecasts, supply, demand,
gap distribution, drivers), applies the employment rules to observed outcomes (warnings),
recommends next year's quotas over the balance's joint samples, compares the run with the
served one (:mod:`forecasting.changes`), and stores all of it as the
outputs of one run — with the samples as an artifact for what-if scenarios — in one
transaction. A run that fails is marked failed with its error and keeps no outputs; the run the
API serves changes only when a new run succeeds and passes every gate
(:mod:`forecasting.promotion`).
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import tempfile
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any, Final, Protocol

import pandas as pd

from data.regions import RegionPlan
from data.store import Store
from data.store.runs import RunRecord
from data.vocabulary import DEFAULT_CITY_REGION
from features.talent import Regions, TalentData
from forecasting.balance import BalanceResult, prefit_balance
from forecasting.balance_backtest import replay_balance, replay_timings
from forecasting.changes import ChangeSettings, RegionChanges, compare_with_served
from forecasting.fits import shared_fits
from forecasting.progress import RunProgress
from forecasting.promotion import (
    GateResult,
    Gates,
    backtest_records,
    check_balance_backtest,
    check_gates,
    with_checks,
)
from forecasting.quotas import QuotaSettings
from forecasting.regions import compute_regions
from forecasting.rules import Policy
from forecasting.scenarios import BalanceSamples
from forecasting.settings import BalanceSettings

log = logging.getLogger(__name__)

#: The stages of a run, in the order they run (the keys of a run's ``timings``).
STAGES: Final = (
    "load",
    "balance_backtest",
    "supply",
    "demand",
    "balance",
    "warnings",
    "quotas",
    "changes",
    "artifacts",
)


@dataclass(frozen=True)
class TrainingConfig:
    """Everything a run depends on besides the data: balance settings, the employment rules in
    force, the quota optimiser's levers, the gates and how a run is compared with the served
    one. Recorded with every run (``to_dict``)."""

    balance: BalanceSettings = field(default_factory=BalanceSettings)
    policy: Policy = field(default_factory=Policy.default)
    quotas: QuotaSettings = field(default_factory=QuotaSettings)
    gates: Gates = field(default_factory=Gates)
    #: How many cut years the balance is replayed from and scored (0: none). The cuts are 4,
    #: 5, 6, ... years before the last observed year, so that a few realised years follow.
    balance_backtest_cuts: int = 3
    changes: ChangeSettings = field(default_factory=ChangeSettings)
    #: The regions forecast below the run's city_region (none: the city alone); see
    #: :mod:`data.regions`.
    regions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.balance_backtest_cuts <= 10:
            raise ValueError(
                f"balance_backtest_cuts must be 0-10, got {self.balance_backtest_cuts}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "balance": self.balance.to_dict(),
            "policy": self.policy.to_dict(),
            "quotas": asdict(self.quotas),
            "gates": self.gates.to_dict(),
            "balance_backtest_cuts": self.balance_backtest_cuts,
            "changes": self.changes.to_dict(),
            **({"regions": list(self.regions)} if self.regions else {}),
        }


@dataclass(frozen=True)
class TrainingResult:
    """The stored run and what it was computed from, in memory. ``outputs`` are all the
    run's outputs when it has one region; with several, the first region's and the total's
    (the other regions' were stored as they were computed and are read from the store)."""

    run: RunRecord
    balance: BalanceResult
    samples: BalanceSamples
    warnings: pd.DataFrame
    recommendations: pd.DataFrame
    backtests: pd.DataFrame
    gates: GateResult
    outputs: dict[str, pd.DataFrame]

    @property
    def promoted(self) -> bool:
        """Whether this run became the served run."""
        return self.run.served


class RunTracker(Protocol):
    """Something that keeps a record of finished runs elsewhere (the MLflow tracker in
    :mod:`experiments.tracking`); the pipeline calls it after the store has the run."""

    def log_run(self, result: TrainingResult) -> None: ...


class _Silent:
    """The progress of a run nobody watches."""

    def stage(self, name: str) -> None:
        return None

    def count(self, what: str, done: int, total: int) -> None:
        return None

    def finished(self, timings: Mapping[str, float]) -> None:
        return None


def code_version() -> str:
    try:
        return f"talentcast {metadata.version('talentcast')}"
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "talentcast (not installed)"


def create_run(
    store: Store,
    config: TrainingConfig,
    *,
    city_region: str = DEFAULT_CITY_REGION,
    as_of: int | None = None,
    requested_by: str = "system",
) -> RunRecord:
    """A pending run on the store as of ``as_of`` (default: now), recording the configuration,
    the city and the code version it will be computed with (queued runs are created here too,
    and executed later by :func:`train` with ``pending``). A store without a catalog is refused
    here (:class:`~data.store.NoCatalog`, saying how to load one), before any run is recorded."""
    watermark = as_of if as_of is not None else store.watermark()
    store.catalog(as_of=watermark)
    recorded: dict[str, Any] = {**config.to_dict(), "city_region": city_region}
    return store.create_run(
        watermark, recorded, code_version=code_version(), requested_by=requested_by
    )


def queue_run(
    store: Store,
    config: TrainingConfig,
    *,
    city_region: str = DEFAULT_CITY_REGION,
    as_of: int | None = None,
    requested_by: str = "system",
) -> tuple[RunRecord, bool]:
    """A pending run as :func:`create_run` makes it, unless an identical one (same data
    watermark, configuration and city) is already waiting: then that one, and False. Ten
    clicks on "retrain" queue one retrain, not ten."""
    watermark = as_of if as_of is not None else store.watermark()
    recorded: dict[str, Any] = {**config.to_dict(), "city_region": city_region}
    asked = json.dumps({"watermark": watermark, "config": recorded}, sort_keys=True, default=str)
    return store.queue_run(
        watermark,
        recorded,
        code_version=code_version(),
        queue_key=hashlib.sha256(asked.encode()).hexdigest(),
        requested_by=requested_by,
    )


def train(
    store: Store,
    config: TrainingConfig,
    *,
    as_of: int | None = None,
    city_region: str = DEFAULT_CITY_REGION,
    serve: bool = True,
    pending: RunRecord | None = None,
    requested_by: str = "system",
    tracker: RunTracker | None = None,
    trained_by: str | None = None,
    progress: RunProgress | None = None,
) -> TrainingResult:
    """Compute and store a run as of upload ``as_of`` (default: the newest upload).

    With ``serve`` the run becomes the served run once it succeeded *and* passed the quality
    gates (:mod:`forecasting.promotion`); a run that fails a gate is kept, not served.
    ``pending`` is a run created earlier (queued by ``POST /runs``) to execute instead of
    creating one; it keeps its own watermark and configuration record. ``tracker`` is told
    about the finished run (MLflow); its failure is logged, not raised. ``trained_by`` names
    the process computing it in the run's ``run.start`` audit row (default ``requested_by``).
    ``progress`` is told of each stage as it starts, of counts within stages, and of the
    stored run's timings (:mod:`forecasting.progress`).
    """
    report = progress or _Silent()
    if pending is None:
        run = create_run(
            store, config, city_region=city_region, as_of=as_of, requested_by=requested_by
        )
    else:
        run = pending
    watermark = run.watermark
    plan = RegionPlan.of(city_region, config.regions)
    # A province's backtest and demand-model choice are made on the sum of its regions.
    whole: Regions = plan.top if plan.single else plan.regions
    store.start_run(run.id, by=trained_by or requested_by)
    # One pool of spawned processes, or one Dask client, for the whole run (see executors); a
    # panel fitted once in the run is not fitted again (forecasting.fits: the leave-one-upload-
    # out balances of the changes stage refit only what the left-out upload changed).
    # Each region's serialised samples wait in the spool folder, not in memory, until the run
    # is stored.
    with (
        config.balance.shared_executor(),
        # Only the change check refits (without each recent upload), and only a single
        # region's: a province run would keep every city's engines to the end for nothing.
        shared_fits() if plan.single else nullcontext(),
        tempfile.TemporaryDirectory(prefix="talentcast-run-") as spool,
    ):
        try:
            timings: dict[str, float] = {}
            report.stage("load")
            started = time.perf_counter()
            data = TalentData.from_store(store, as_of=watermark, city_region=whole)
            timings["load"] = time.perf_counter() - started

            # The balance backtest runs first: with demand_model "auto" it chooses, on the city's
            # own history, the demand model the run then computes with.
            report.stage("balance_backtest")
            started = time.perf_counter()
            balance_scores = _backtest_beside_prefit(
                store,
                data,
                config,
                as_of=watermark,
                city_region=whole,
                progress=progress,
                prefit=plan.single,
            )
            timings["balance_backtest"] = time.perf_counter() - started
            timings.update(replay_timings(balance_scores))
            chosen = balance_scores.get("demand_model", config.balance.resolved_demand_model)
            run_balance = replace(config.balance, demand_model=chosen)
            champion = store.served_run()
            # A province's cities are compared with the served run one by one, while each
            # city's balance is in memory (a single region after its balance, below).
            region_changes = (
                None
                if plan.single
                else RegionChanges(
                    store,
                    champion,
                    watermark=watermark,
                    balance_settings=run_balance,
                    settings=config.changes,
                    gates=config.gates,
                )
            )
            regional = compute_regions(
                store,
                watermark,
                plan,
                data,
                policy=config.policy,
                quotas=config.quotas,
                balance=run_balance,
                progress=report,
                spool=Path(spool),
                # A province's cities are stored as they come (the run's rows stay invisible
                # until it succeeds, and go if it fails), the province total at the end.
                store_outputs=lambda part: store.add_outputs(run.id, part),
                on_balance=region_changes,
            )
            result, samples, warnings, recommendations = regional.first
            for stage, seconds in regional.timings.items():  # "load" of each further region
                timings[stage] = timings.get(stage, 0.0) + seconds

            report.stage("changes")
            started = time.perf_counter()
            if region_changes is None:
                change_check, changes = compare_with_served(
                    store,
                    champion,
                    result,
                    watermark=watermark,
                    balance_settings=run_balance,  # leave-one-upload-out recomputes as the run
                    settings=config.changes,
                    gates=config.gates,
                    city_region=city_region,
                )
                timings["changes"] = time.perf_counter() - started
            else:
                change_check, changes = region_changes.merged()
                timings["changes"] = region_changes.seconds

            report.stage("artifacts")
            started = time.perf_counter()
            outputs = regional.outputs
            artifacts = regional.artifacts  # the samples, serialised region by region
            timings["artifacts"] = timings.get("artifacts", 0.0) + time.perf_counter() - started
            backtests = regional.backtests  # of every region, pooled in a province run
            balance_check = check_balance_backtest(
                pd.DataFrame(balance_scores.get("balance_backtest", [])), config.gates
            )
            gates = with_checks(
                check_gates(outputs, backtests, config.gates, champion, stored=regional.stored),
                balance_check,
                change_check,
            )
            metrics = {
                **run_metrics(result),
                **policy_metrics(warnings, recommendations),
                "backtest": backtest_records(backtests),
                "gates": gates.to_dict(),
                **balance_scores,
                **({"changes": changes} if changes else {}),
            }
            # Served in the same transaction that stores it: readers see the old run or the
            # new one, never a mix, and never the new one succeeded but not yet served.
            finished = store.finish_run(
                run.id,
                outputs,
                metrics=metrics,
                timings=timings,
                artifacts=artifacts,
                served_by=requested_by if serve and gates.passed else None,
            )
        except Exception as error:
            # Any failure marks the run failed (and leaves what is served untouched), then
            # propagates to the caller: a scheduler logs it, the CLI reports it.
            store.fail_run(run.id, f"{type(error).__name__}: {error}")
            raise
    if serve and not gates.passed:
        log.warning("run %s is not served: %s", finished.id, "; ".join(gates.failures))
    report.finished({s: finished.timings[s] for s in STAGES if s in finished.timings})
    trained = TrainingResult(
        finished, result, samples, warnings, recommendations, backtests, gates, regional.kept
    )
    if tracker is not None:
        try:
            tracker.log_run(trained)
        except Exception:
            log.exception("run %s could not be logged to the tracker", finished.id)
    return trained


def _backtest_beside_prefit(
    store: Store,
    data: TalentData,
    config: TrainingConfig,
    *,
    as_of: int,
    city_region: Regions,
    progress: RunProgress | None,
    prefit: bool,
) -> dict[str, Any]:
    """The balance backtest's scores (:func:`replay_balance`), with the run's own supply and
    postings forecast meanwhile when ``prefit`` (:func:`prefit_balance`).

    The backtest replays each cut year as one long task on the run's workers; with three cut
    years on two workers, one worker would idle while the last replay finishes, and the run's
    own engines would wait for the backtest's choice of demand model, which they do not
    depend on. The backtest runs in a thread of its own; this thread queues the run's engine
    fits on the same workers once the replays are queued (so that the replays, the longest
    tasks, start first) and leaves the fits and the supply and postings samples in the run's
    shared fits for the balance. Only single-region runs share fits, so only they prefit.
    Results are the same either way: an engine's fit depends on its panel and parameters,
    and the samples on the fits and the seeds, not on when or beside what they are made.
    """
    queued = threading.Event()  # replays were handed to the workers
    woken = threading.Event()  # ... or the backtest ended without any

    def on_submit() -> None:
        queued.set()
        woken.set()

    def replay() -> dict[str, Any]:
        try:
            return replay_balance(
                store,
                data,
                config.balance,
                config.balance_backtest_cuts,
                as_of=as_of,
                city_region=city_region,
                progress=progress,
                code_version=code_version(),  # unchanged cut years reuse their replays
                on_submit=on_submit,
            )
        finally:
            woken.set()

    if not prefit:
        return replay()
    # The thread sees this one's context: the run's pool (or Dask client) and shared fits.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="balance-backtest") as thread:
        scores = thread.submit(contextvars.copy_context().run, replay)
        woken.wait()
        if queued.is_set():
            prefit_balance(data, config.balance, progress)
        return scores.result()


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
