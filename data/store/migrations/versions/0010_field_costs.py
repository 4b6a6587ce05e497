"""Shortage and surplus cost weights per catalog field (they were fixed per Tianjin tier).

Catalog versions stored before get the weights their tier had, so that re-running on them
gives the results it gave.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

#: The weights per tier that applied to every catalog before this revision.
TIER_COSTS = {
    "national_strategic": (3.0, 1.0),
    "urgent": (2.0, 1.0),
    "social": (1.5, 1.0),
    "urban": (1.5, 1.0),
}


def upgrade() -> None:
    for column in ("shortage_cost", "surplus_cost"):
        op.add_column(
            "catalog_fields",
            sa.Column(column, sa.Float, nullable=False, server_default=sa.text("0")),
        )
    fields = sa.table(
        "catalog_fields",
        sa.column("tier", sa.String),
        sa.column("shortage_cost", sa.Float),
        sa.column("surplus_cost", sa.Float),
    )
    for tier, (shortage, surplus) in TIER_COSTS.items():
        op.execute(
            fields.update()
            .where(fields.c.tier == tier)
            .values(shortage_cost=shortage, surplus_cost=surplus)
        )
    with op.batch_alter_table("catalog_fields") as batch:
        for column in ("shortage_cost", "surplus_cost"):
            batch.alter_column(column, server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("catalog_fields") as batch:
        batch.drop_column("surplus_cost")
        batch.drop_column("shortage_cost")
