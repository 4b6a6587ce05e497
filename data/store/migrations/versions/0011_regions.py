"""Regions: observations are read one region at a time (a province reads city by city), and
every run output row names the region it is of, so that one run holds each city's results and
the province's totals.

Outputs stored before belong to the city their run was computed for (the ``city_region`` the
run's configuration records; Tianjin's, 120000, when it records none).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

KINDS = ("enrollment", "graduates", "outcomes", "hiring", "demand_survey")
DEFAULT_REGION = "120000"

#: Output table, whether its lookup is unique (else an index), and the lookup's columns.
OUTPUTS = (
    ("run_forecasts", False, ("kind", "series_id")),
    ("run_balance", True, ("field_code", "level", "year")),
    ("run_drivers", True, ("field_code", "level", "year")),
    ("run_programme_supply", True, ("programme_code", "level", "year")),
    ("run_survey_bias", False, ("source", "field_code")),
    ("run_demand_scales", True, ("field_code",)),
    ("run_warnings", True, ("programme_code", "level", "rule")),
    ("run_recommendations", True, ("programme_code", "level")),
)


def _name(table: str, unique: bool, columns: tuple[str, ...]) -> str:
    return f"{'uq' if unique else 'ix'}_{table}_{'_'.join(('run_id', *columns))}"


def upgrade() -> None:
    for kind in KINDS:
        op.create_index(f"ix_obs_{kind}_region", f"obs_{kind}", ["region", "upload_id"])
    connection = op.get_bind()
    runs = sa.table("runs", sa.column("id", sa.Integer), sa.column("config", sa.Text))
    regions = {
        int(run_id): str(json.loads(config or "{}").get("city_region", DEFAULT_REGION))
        for run_id, config in connection.execute(sa.select(runs.c.id, runs.c.config))
    }
    for table, unique, columns in OUTPUTS:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("region", sa.String(6), nullable=True))
        output = sa.table(table, sa.column("run_id", sa.Integer), sa.column("region", sa.String))
        for run_id, region in regions.items():
            connection.execute(
                output.update().where(output.c.run_id == run_id).values(region=region)
            )
        with op.batch_alter_table(table) as batch:
            batch.alter_column("region", existing_type=sa.String(6), nullable=False)
            if unique:
                batch.drop_constraint(_name(table, True, columns), type_="unique")
                batch.create_unique_constraint(
                    _name(table, True, ("region", *columns)), ["run_id", "region", *columns]
                )
            else:
                batch.drop_index(_name(table, False, columns))
                batch.create_index(
                    _name(table, False, ("region", *columns)), ["run_id", "region", *columns]
                )


def downgrade() -> None:
    for table, unique, columns in OUTPUTS:
        with op.batch_alter_table(table) as batch:
            if unique:
                batch.drop_constraint(_name(table, True, ("region", *columns)), type_="unique")
                batch.create_unique_constraint(_name(table, True, columns), ["run_id", *columns])
            else:
                batch.drop_index(_name(table, False, ("region", *columns)))
                batch.create_index(_name(table, False, columns), ["run_id", *columns])
            batch.drop_column("region")
    for kind in KINDS:
        op.drop_index(f"ix_obs_{kind}_region", f"obs_{kind}")
