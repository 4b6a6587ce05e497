"""Balances replayed by the balance backtest, kept for reuse by later retrains.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "balance_replays",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("cut", sa.Integer, nullable=False),
        sa.Column("demand_model", sa.String(20), nullable=False),
        sa.Column("code_version", sa.String(200), nullable=False),
        sa.Column("data_fingerprint", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_balance_replays"),
    )
    op.create_index("ix_balance_replays_used_at", "balance_replays", ["used_at"])


def downgrade() -> None:
    op.drop_index("ix_balance_replays_used_at", table_name="balance_replays")
    op.drop_table("balance_replays")
