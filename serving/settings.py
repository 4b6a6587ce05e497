"""Service settings, read once from the environment (prefix ``TALENTCAST_``) or a ``.env`` file.

Settings are validated when the process starts and passed down explicitly: no module reads the
environment on its own, so tests can build any configuration they need.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from data.ingest import IngestOptions
from data.vocabulary import DEFAULT_CITY_REGION
from forecasting.settings import BalanceSettings

if TYPE_CHECKING:
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
    city_region: str = Field(
        default=DEFAULT_CITY_REGION,
        description="GB/T 2260 code of the city; uploaded region codes must belong to it.",
    )
    max_upload_mb: float = Field(
        default=100.0, gt=0, le=2048, description="Largest accepted upload, in megabytes."
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
    policy_file: Path | None = Field(
        default=None,
        description="JSON file with the employment rules in force (default: the MoE 2011 and "
        "Tianjin 2009 rules); export the default with `talentcast policy export`.",
    )

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
            horizon=self.horizon_years, n_samples=self.samples, n_jobs=self.train_jobs
        )

    def training_config(self) -> TrainingConfig:
        """The configuration of a training run (rules and quota levers included)."""
        # Imported here: the pipeline pulls in every model library, which a process that only
        # ingests or serves should not pay for at start-up.
        from forecasting.pipeline import TrainingConfig
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
        return TrainingConfig(balance=self.balance_settings(), policy=policy, quotas=quotas)

    def ingest_options(self) -> IngestOptions:
        return IngestOptions(
            city_region=self.city_region, max_bytes=int(self.max_upload_mb * 1024 * 1024)
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
