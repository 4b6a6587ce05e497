"""Service settings, read once from the environment (prefix ``TALENTCAST_``) or a ``.env`` file.

Settings are validated when the process starts and passed down explicitly: no module reads the
environment on its own, so tests can build any configuration they need.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from data.ingest import IngestOptions
from data.vocabulary import DEFAULT_CITY_REGION
from forecasting.settings import BalanceSettings


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

    def ingest_options(self) -> IngestOptions:
        return IngestOptions(
            city_region=self.city_region, max_bytes=int(self.max_upload_mb * 1024 * 1024)
        )
