"""Regions: observations are read one region at a time (a province reads city by city).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

KINDS = ("enrollment", "graduates", "outcomes", "hiring", "demand_survey")


def upgrade() -> None:
    for kind in KINDS:
        op.create_index(f"ix_obs_{kind}_region", f"obs_{kind}", ["region", "upload_id"])


def downgrade() -> None:
    for kind in KINDS:
        op.drop_index(f"ix_obs_{kind}_region", f"obs_{kind}")
