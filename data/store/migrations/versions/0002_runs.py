"""Runs and their outputs: forecasts, balance, drivers, programme supply, survey bias.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _run_id(table: str) -> list[sa.schema.SchemaItem]:
    """Every output row belongs to exactly one run."""
    return [
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=f"fk_{table}_run_id_runs"),
    ]


def _floats(*names: str, nullable: bool = True) -> list[sa.Column]:
    return [sa.Column(name, sa.Float, nullable=nullable) for name in names]


def _quantiles(prefix: str) -> list[str]:
    return [f"{prefix}_{q}" for q in ("mean", "p05", "p10", "p50", "p90", "p95")]


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("watermark", sa.Integer, nullable=False),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("code_version", sa.String(100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("metrics", sa.Text, nullable=True),
        sa.Column("timings", sa.Text, nullable=True),
        sa.Column("served", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.ForeignKeyConstraint(["watermark"], ["uploads.id"], name="fk_runs_watermark_uploads"),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'succeeded', 'failed')", name="ck_runs_status"
        ),
        sa.CheckConstraint("NOT served OR status = 'succeeded'", name="ck_runs_served"),
    )
    op.create_index(
        "ix_runs_served",
        "runs",
        ["served"],
        unique=True,
        postgresql_where=sa.text("served"),
        sqlite_where=sa.text("served"),
    )
    op.create_table(
        "run_forecasts",
        *_run_id("run_forecasts"),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("series_id", sa.String(200), nullable=False),
        sa.Column("programme_code", sa.String(16), nullable=True),
        sa.Column("level", sa.String(24), nullable=True),
        sa.Column("field_code", sa.String(40), nullable=True),
        sa.Column("period", sa.String(8), nullable=False),
        *_floats("forecast", nullable=False),
        *_floats("lo_80", "hi_80", "lo_95", "hi_95"),
        sa.Column("model", sa.String(200), nullable=True),
    )
    op.create_index(
        "ix_run_forecasts_run_id_kind_series_id",
        "run_forecasts",
        ["run_id", "kind", "series_id"],
    )
    op.create_table(
        "run_balance",
        *_run_id("run_balance"),
        sa.Column("field_code", sa.String(40), nullable=False),
        sa.Column("level", sa.String(24), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        *_floats(
            *_quantiles("supply"),
            *_quantiles("demand"),
            *_quantiles("gap"),
            "ratio_p50",
            "p_shortage",
            nullable=False,
        ),
        sa.UniqueConstraint(
            "run_id",
            "field_code",
            "level",
            "year",
            name="uq_run_balance_run_id_field_code_level_year",
        ),
    )
    op.create_table(
        "run_drivers",
        *_run_id("run_drivers"),
        sa.Column("field_code", sa.String(40), nullable=False),
        sa.Column("level", sa.String(24), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("base_year", sa.Integer, nullable=True),
        *_floats(
            "base_gap", "demand_growth", "survey_adjustment", "cohort_pipeline", "rates", "gap"
        ),
        sa.UniqueConstraint(
            "run_id",
            "field_code",
            "level",
            "year",
            name="uq_run_drivers_run_id_field_code_level_year",
        ),
    )
    op.create_table(
        "run_programme_supply",
        *_run_id("run_programme_supply"),
        sa.Column("programme_code", sa.String(16), nullable=False),
        sa.Column("level", sa.String(24), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        *_floats(
            "graduates_p10",
            "graduates_p50",
            "graduates_p90",
            "placement_rate",
            "infield_rate",
            "local_rate",
        ),
        sa.Column("from_enrolled_cohorts", sa.Boolean, nullable=True),
        sa.UniqueConstraint(
            "run_id",
            "programme_code",
            "level",
            "year",
            name="uq_run_programme_supply_run_id_programme_code_level_year",
        ),
    )
    op.create_table(
        "run_survey_bias",
        *_run_id("run_survey_bias"),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("field_code", sa.String(40), nullable=False),
        sa.Column("n_surveys", sa.Integer, nullable=True),
        *_floats("log_bias", "factor", "residual_sd"),
    )
    op.create_index(
        "ix_run_survey_bias_run_id_source_field_code",
        "run_survey_bias",
        ["run_id", "source", "field_code"],
    )


def downgrade() -> None:
    op.drop_index("ix_run_survey_bias_run_id_source_field_code", table_name="run_survey_bias")
    op.drop_index("ix_run_forecasts_run_id_kind_series_id", table_name="run_forecasts")
    for table in (
        "run_survey_bias",
        "run_programme_supply",
        "run_drivers",
        "run_balance",
        "run_forecasts",
    ):
        op.drop_table(table)
    op.drop_index("ix_runs_served", table_name="runs")
    op.drop_table("runs")
