"""Expected shortfall in persons per balance cell, so that rankings can weigh size as well as
probability, and the year a programme stopped enrolling on its recommendation. Runs stored
earlier keep NULL in both.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("run_balance") as batch:
        batch.add_column(sa.Column("shortfall_w90", sa.Float, nullable=True))
    with op.batch_alter_table("run_recommendations") as batch:
        batch.add_column(sa.Column("stopped_since", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("run_recommendations") as batch:
        batch.drop_column("stopped_since")
    with op.batch_alter_table("run_balance") as batch:
        batch.drop_column("shortfall_w90")
