"""Service settings, read once from the environment (prefix ``TALENTCAST_``) or a ``.env`` file.

Settings are validated when the process starts and passed down explicitly: no module reads the
environment on its own, so tests can build any configuration they need.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from data.ingest import IngestOptions
from data.vocabulary import DEFAULT_CITY_REGION
from forecasting.executors import ExecutorKind, check_executor
from forecasting.settings import BalanceSettings

if TYPE_CHECKING:
    from experiments.tracking import MlflowTracker
    from forecasting.pipeline import TrainingConfig


class Settings(BaseSettings):
    """Everything an operator can configure.

    ``database_url`` is an SQLAlchemy URL; ``postgresql://user@host/db`` selects PostgreSQL,
    the default is an SQLite file under ``var/`` that needs nothing installed.
    """

    model_config = SettingsConfigDict(env_prefix="TALENTCAST_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///var/talentcast.db",
        description="Store database (SQLite file or PostgreSQL URL).",
    )
    city_name: str = Field(
        default="天津 Tianjin",
        min_length=1,
        max_length=100,
        description="The city's name, as planners read it.",
    )
    city_region: str = Field(
        default=DEFAULT_CITY_REGION,
        description="GB/T 2260 code of the city; uploaded region codes must belong to it.",
    )
    max_upload_mb: float = Field(
        default=100.0, gt=0, le=2048, description="Largest accepted upload, in megabytes."
    )
    auth_failure_limit: int = Field(
        default=20,
        ge=1,
        le=10_000,
        description="Failed keys from one address (or with one key prefix) within the window "
        "after which further attempts get 429 until the window has passed.",
    )
    auth_failure_window_seconds: float = Field(
        default=60.0,
        gt=0,
        le=86_400,
        description="The window of auth_failure_limit and audit_refusal_limit, seconds.",
    )
    audit_refusal_limit: int = Field(
        default=60,
        ge=1,
        le=100_000,
        description="Refused requests from one address written to the audit log per window "
        "(further ones are counted in the next row), so a flood of bad requests is not a "
        "flood of database writes.",
    )
    upload_concurrency: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Uploads parsed and stored at once (each holds its file in memory); "
        "further uploads wait their turn while every other request is answered.",
    )
    horizon_years: int = Field(
        default=10, ge=1, le=30, description="Years ahead the balance is forecast."
    )
    samples: int = Field(
        default=1000, ge=100, le=100_000, description="Joint samples behind every distribution."
    )
    train_jobs: int = Field(
        default=-1, ge=-1, description="Worker processes for training (-1: one per core)."
    )
    executor: ExecutorKind = Field(
        default="processes",
        description="Where training runs its tasks: 'processes' (train_jobs local worker "
        "processes) or 'dask' (a Dask cluster: the one at dask_address, else a local one of "
        "train_jobs single-threaded worker processes started for each run). Results are the "
        "same on either.",
    )
    dask_address: str = Field(
        default="",
        description="Scheduler address of an existing Dask cluster for executor 'dask', e.g. "
        "tcp://10.0.0.5:8786 (empty: a local cluster per run).",
    )
    posting_scales: str = Field(
        default="",
        description="Postings per opening set by the admin for some fields, with the source "
        "of each figure: 'ai=2.5:association census 2024;ic=1.8:platform audit' (other fields "
        "are estimated).",
    )
    demand_model: Literal["auto", "direct", "tightness", "combined"] = Field(
        default="auto",
        description="How postings are forecast: 'direct' (the postings series), 'tightness' "
        "(postings per graduate), 'combined' (both), or 'auto' (the one whose balance "
        "backtest scores better on the city's own data).",
    )

    quota_max_change: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="Largest yearly change of a programme's quota, as a share of the current one.",
    )
    quota_total_band: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Allowed deviation of each level's city total quota from this year's "
        "(0: fixed).",
    )
    quota_allow_stop: bool = Field(
        default=False,
        description="Let the optimiser stop programmes below the minimum viable intake "
        "(the employment rules can always stop them).",
    )
    host: str = Field(default="127.0.0.1", description="Address `talentcast serve` listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port of the API and dashboard.")
    workers: int = Field(
        default=1, ge=1, le=64, description="Server processes of `talentcast serve`."
    )
    run_worker: bool = Field(
        default=True,
        description="Start a `talentcast worker` process beside `talentcast serve` to execute "
        "runs queued with POST /api/v1/runs (the server processes themselves never train).",
    )
    train_niceness: int = Field(
        default=10,
        ge=0,
        le=19,
        description="CPU priority of `talentcast worker` and `talentcast scheduler` and the "
        "processes they train with (Unix nice: 0 as the server, 19 lowest), so that a retrain "
        "on the server's machine takes the cores the server leaves idle.",
    )
    worker_poll_seconds: float = Field(
        default=2.0,
        gt=0,
        le=3600,
        description="How often `talentcast worker` looks for queued runs.",
    )
    balance_backtest_cuts: int = Field(
        default=3,
        ge=0,
        le=10,
        description="Cut years each retrain replays the balance from, to score it (0: none).",
    )
    balance_gate: bool = Field(
        default=True,
        description="Keep a run from being served when its balance backtest loses to "
        "persistence (plain or with a trend) on both rank correlation and shortage flags.",
    )
    change_gate: bool = Field(
        default=True,
        description="Keep a run from being served when its large moves against the served run "
        "are explained by a few new upload rows (an admin decides).",
    )
    change_p_threshold: float = Field(
        default=0.3,
        gt=0,
        le=1,
        description="A cell moved when its P(shortage) changed by more than this since the "
        "served run.",
    )
    change_gap_share: float = Field(
        default=0.25,
        gt=0,
        description="A cell also moved when its median gap changed by more than this share of "
        "the served run's median supply (and at least 20 persons).",
    )
    change_few_rows: int = Field(
        default=200,
        ge=0,
        description="Uploads explaining a large move are few when they total fewer rows than "
        "this (or less than 2% of the rows stored).",
    )
    change_max_uploads: int = Field(
        default=5,
        ge=0,
        le=50,
        description="Leave each new upload out to find what moved the forecast when at most "
        "this many arrived since the served run (0: attribute by driver only).",
    )
    accuracy_drift_margin: float = Field(
        default=0.5,
        ge=0,
        le=10,
        description="GET /accuracy flags drift when a run's realised error exceeds its backtest "
        "error by more than this share (0.5: 50%).",
    )
    mlflow_tracking_uri: str = Field(
        default="sqlite:///var/mlflow.db",
        description="MLflow tracking store and model registry (an SQLite file, or a tracking "
        "server such as http://mlflow:5000); empty to keep no MLflow record.",
    )
    mlflow_artifact_root: str = Field(
        default="var/mlartifacts",
        description="Where MLflow stores run artifacts when the experiment is first created.",
    )
    verbose: bool = Field(
        default=False,
        description="Show the libraries' own chatter too: MLflow's log lines, warnings and "
        "artifact progress bars (`talentcast --verbose`).",
    )
    policy_file: Path | None = Field(
        default=None,
        description="JSON file with the employment rules in force (default: the MoE 2011 and "
        "Tianjin 2009 rules); export the default with `talentcast policy export`.",
    )

    retrain_schedule: str = Field(
        default="0 3 * * *",
        description="When `talentcast scheduler` retrains: a 5-field cron expression (minute "
        "hour day-of-month month day-of-week) in `retrain_timezone`; default 03:00 every day.",
    )
    retrain_timezone: str = Field(
        default="Asia/Shanghai",
        description="The city's IANA time zone (not the server's, which is often UTC in "
        "containers): `retrain_schedule` runs on its clock and the dashboard shows every time "
        "in it, labelled with its UTC offset.",
    )
    retrain_debounce_seconds: float = Field(
        default=300.0,
        ge=0,
        description="After new uploads, how long no further upload must arrive before the "
        "scheduler retrains (a batch of files sent one by one gives one retrain).",
    )
    scheduler_poll_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="How often `talentcast scheduler` checks."
    )
    retrain_lease_seconds: float = Field(
        default=120.0,
        ge=1,
        description="Life of the retrain lease without a heartbeat (one every quarter of it): "
        "how long after a crash the next retrain may take over.",
    )

    @field_validator("retrain_schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        # Imported here: only the scheduler needs croniter; settings are built by every command.
        from croniter import croniter

        fields = value.split()
        if len(fields) != 5 or not croniter.is_valid(" ".join(fields)):
            raise ValueError(
                f"retrain_schedule {value!r} is not a 5-field cron expression (minute hour "
                "day-of-month month day-of-week), e.g. '0 3 * * *' for 03:00 every day"
            )
        return " ".join(fields)

    @field_validator("dask_address")
    @classmethod
    def _dask_address(cls, value: str) -> str:
        value = value.strip()
        if value:
            check_executor("dask", value)
        return value

    @field_validator("posting_scales")
    @classmethod
    def _posting_scales(cls, value: str) -> str:
        parse_posting_scales(value)
        return value

    @field_validator("retrain_timezone")
    @classmethod
    def _time_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"retrain_timezone {value!r} is not an IANA time zone, e.g. Asia/Shanghai or UTC"
            ) from None
        return value

    def as_environment(self) -> dict[str, str]:
        """Every setting as the ``TALENTCAST_*`` variable that sets it, so that a process
        started from this one (a server worker, the run worker) reads exactly these settings,
        however they were given here (``.env``, flags or the environment)."""
        return {
            f"TALENTCAST_{name.upper()}": str(value)
            for name, value in self.model_dump(exclude_none=True).items()
        }

    def lease_holder(self, role: str = "scheduler") -> str:
        """Who this process is when it holds the retrain lease: its role, host and process id,
        so that a lease left behind by a crash says where to look."""
        import os
        import socket

        return f"{role}@{socket.gethostname()}:{os.getpid()}"

    @field_validator("policy_file")
    @classmethod
    def _readable_policy(cls, value: Path | None) -> Path | None:
        if value is not None:
            read_policy(value)  # refuse a broken policy when the process starts, not mid-run
        return value

    @field_validator("city_region")
    @classmethod
    def _six_digits(cls, value: str) -> str:
        if not re.fullmatch(r"\d{2}0000", value):
            raise ValueError("must be a 6-digit city code ending in 0000, e.g. 120000 for Tianjin")
        return value

    def balance_settings(self) -> BalanceSettings:
        return BalanceSettings(
            horizon=self.horizon_years,
            n_samples=self.samples,
            n_jobs=self.train_jobs,
            executor=self.executor,
            dask_address=self.dask_address or None,
            posting_scales=parse_posting_scales(self.posting_scales),
            demand_model=self.demand_model,
        )

    def city(self) -> list[tuple[str, Any, str]]:
        """The settings that make the deployment this city's, as (name, value, description):
        what an admin reads over ``GET /api/v1/city``. Nothing secret is among them."""
        return [
            (name, getattr(self, name), Settings.model_fields[name].description or "")
            for name in CITY_SETTINGS
        ]

    def training_config(self) -> TrainingConfig:
        """The configuration of a training run (rules and quota levers included)."""
        # Imported here: the pipeline pulls in every model library, which a process that only
        # ingests or serves should not pay for at start-up.
        from forecasting.changes import ChangeSettings
        from forecasting.pipeline import TrainingConfig
        from forecasting.promotion import Gates
        from forecasting.quotas import QuotaSettings
        from forecasting.rules import Policy

        policy = (
            Policy.from_dict(read_policy(self.policy_file))
            if self.policy_file is not None
            else Policy.default()
        )
        quotas = QuotaSettings(
            max_change=self.quota_max_change,
            total_band=self.quota_total_band,
            allow_stop=self.quota_allow_stop,
        )
        return TrainingConfig(
            balance=self.balance_settings(),
            policy=policy,
            quotas=quotas,
            gates=Gates(balance_gate=self.balance_gate, change_gate=self.change_gate),
            balance_backtest_cuts=self.balance_backtest_cuts,
            changes=ChangeSettings(
                p_threshold=self.change_p_threshold,
                gap_share=self.change_gap_share,
                few_rows=self.change_few_rows,
                max_uploads=self.change_max_uploads,
            ),
        )

    def tracker(self) -> MlflowTracker | None:
        """The MLflow tracker of training runs (None when ``mlflow_tracking_uri`` is empty)."""
        if not self.mlflow_tracking_uri:
            return None
        from experiments.tracking import MlflowTracker  # loads MLflow: only when training

        return MlflowTracker(
            self.mlflow_tracking_uri, self.mlflow_artifact_root or None, verbose=self.verbose
        )

    def ingest_options(self) -> IngestOptions:
        return IngestOptions(
            city_region=self.city_region, max_bytes=int(self.max_upload_mb * 1024 * 1024)
        )


#: The city's settings (beside the catalog, which the store holds): who it is, when it
#: retrains, how demand is measured and forecast, and what a run must pass to be served.
CITY_SETTINGS: Final = (
    "city_name",
    "city_region",
    "retrain_timezone",
    "retrain_schedule",
    "posting_scales",
    "demand_model",
    "horizon_years",
    "balance_backtest_cuts",
    "balance_gate",
    "change_gate",
    "change_p_threshold",
    "change_gap_share",
    "change_few_rows",
    "change_max_uploads",
    "policy_file",
)


def read_policy(path: Path) -> dict[str, Any]:
    """The JSON mapping of a policy file, checked to be a valid policy (else ``ValueError``)."""
    from forecasting.rules import Policy

    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"cannot read the policy file {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"policy file {path} is not valid JSON: {error}") from None
    Policy.from_dict(mapping)  # raises PolicyError (a ValueError) naming the bad rule or key
    return dict(mapping)


def parse_posting_scales(text: str) -> tuple[tuple[str, float, str], ...]:
    """``field=scale:source;...`` as (field, postings per opening, source) entries.

    The source is required: a scale that nobody can trace back is a number planners cannot
    check, and the run records it next to every demand figure it shapes.
    """
    entries: list[tuple[str, float, str]] = []
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        field, _, rest = part.partition("=")
        number, _, source = rest.partition(":")
        try:
            value = float(number)
        except ValueError:
            value = float("nan")
        if not field.strip() or not value > 0 or not source.strip():
            raise ValueError(
                f"posting_scales entry {part!r} is not 'field=postings per opening:source', "
                "e.g. 'ai=2.5:association census 2024'"
            )
        entries.append((field.strip(), value, source.strip()))
    return tuple(entries)
