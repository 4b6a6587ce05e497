"""Policy outputs of a run (programme warnings, quota recommendations) and run artifacts.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
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


def upgrade() -> None:
    op.create_table(
        "run_warnings",
        *_run_id("run_warnings"),
        sa.Column("programme_code", sa.String(16), nullable=False),
        sa.Column("level", sa.String(24), nullable=False),
        sa.Column("rule", sa.String(40), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("first_year", sa.Integer, nullable=True),
        sa.Column("last_year", sa.Integer, nullable=True),
        *_floats("rate_last", "rate_previous"),
        sa.Column("graduates_last", sa.Integer, nullable=True),
        sa.Column("placed_last", sa.Integer, nullable=True),
        *_floats("threshold"),
        sa.Column("message_zh", sa.String(500), nullable=True),
        sa.Column("message_en", sa.String(500), nullable=True),
        sa.UniqueConstraint(
            "run_id",
            "programme_code",
            "level",
            "rule",
            name="uq_run_warnings_run_id_programme_code_level_rule",
        ),
    )
    op.create_table(
        "run_recommendations",
        *_run_id("run_recommendations"),
        sa.Column("programme_code", sa.String(16), nullable=False),
        sa.Column("level", sa.String(24), nullable=False),
        sa.Column("field_code", sa.String(40), nullable=True),
        sa.Column("intake_year", sa.Integer, nullable=False),
        sa.Column("graduation_year", sa.Integer, nullable=True),
        *_floats("current_quota", "recommended_quota", nullable=False),
        *_floats(
            "change",
            "change_pct",
            "quota_p10",
            "quota_p90",
            "gap_before",
            "gap_after",
            "p_shortage_before",
            "p_shortage_after",
        ),
        sa.Column("binding", sa.String(300), nullable=True),
        sa.Column("reasons", sa.String(300), nullable=True),
        sa.Column("reason_zh", sa.String(2000), nullable=True),
        sa.Column("reason_en", sa.String(2000), nullable=True),
        sa.UniqueConstraint(
            "run_id",
            "programme_code",
            "level",
            name="uq_run_recommendations_run_id_programme_code_level",
        ),
    )
    op.create_table(
        "run_artifacts",
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "name", name="pk_run_artifacts"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_run_artifacts_run_id_runs"),
    )


def downgrade() -> None:
    for table in ("run_artifacts", "run_recommendations", "run_warnings"):
        op.drop_table(table)
