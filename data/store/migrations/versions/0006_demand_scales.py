"""Postings-per-opening scales of a run (demand in persons).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_demand_scales",
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_run_demand_scales_run_id_runs"),
        sa.Column("field_code", sa.String(40), nullable=False),
        sa.Column("scale_p10", sa.Float, nullable=False),
        sa.Column("scale_p50", sa.Float, nullable=False),
        sa.Column("scale_p90", sa.Float, nullable=False),
        sa.Column("source", sa.String(300), nullable=False),
        sa.Column("hires_years", sa.Integer, nullable=True),
        sa.Column("note", sa.String(300), nullable=True),
        sa.UniqueConstraint("run_id", "field_code", name="uq_run_demand_scales_run_id_field_code"),
    )


def downgrade() -> None:
    op.drop_table("run_demand_scales")
