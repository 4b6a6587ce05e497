"""Queued runs carry the hash of what was asked for, unique among pending runs, so that
identical requests arriving together coalesce into one run.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("queue_key", sa.String(64), nullable=True))
    op.create_index(
        "ix_runs_queue_key",
        "runs",
        ["queue_key"],
        unique=True,
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("ix_runs_queue_key", table_name="runs")
    # Both backends drop a column in place (SQLite since 3.35); a batch copy of the table
    # would trip the foreign keys of the run outputs that point at it.
    op.execute("ALTER TABLE runs DROP COLUMN queue_key")
