"""Initial store: uploads, observations per kind, catalog versions.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _ids() -> list[sa.Column]:
    """Every observation row is identified by its upload and its row in the uploaded file."""
    return [
        sa.Column("upload_id", sa.Integer, sa.ForeignKey("uploads.id"), nullable=False),
        sa.Column("row_number", sa.Integer, nullable=False),
    ]


def _region() -> sa.Column:
    return sa.Column("region", sa.String(6), nullable=False)


def upgrade() -> None:
    op.create_table(
        "uploads",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("uploader", sa.String(100), nullable=False),
        sa.Column("filename", sa.String(255), nullable=True),
        sa.Column("file_format", sa.String(8), nullable=True),
        sa.Column("encoding", sa.String(16), nullable=True),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("row_count", sa.Integer, nullable=False),
        sa.Column("replaced_rows", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_uploads"),
        sa.UniqueConstraint("kind", "content_sha256", name="uq_uploads_kind_content_sha256"),
    )
    for kind, count in (("enrollment", "enrolled"), ("graduates", "graduates")):
        op.create_table(
            f"obs_{kind}",
            *_ids(),
            sa.Column("year", sa.Integer, nullable=False),
            sa.Column("programme_code", sa.String(16), nullable=False),
            sa.Column("level", sa.String(24), nullable=False),
            sa.Column(count, sa.Integer, nullable=False),
            _region(),
            sa.Column("institution", sa.String(200), nullable=False),
            sa.PrimaryKeyConstraint("upload_id", "row_number", name=f"pk_obs_{kind}"),
        )
        op.create_index(
            f"ix_obs_{kind}_key",
            f"obs_{kind}",
            ["year", "programme_code", "level", "region", "institution", "upload_id"],
        )
    op.create_table(
        "obs_outcomes",
        *_ids(),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("programme_code", sa.String(16), nullable=False),
        sa.Column("level", sa.String(24), nullable=False),
        sa.Column("graduates", sa.Integer, nullable=False),
        sa.Column("placed", sa.Integer, nullable=False),
        sa.Column("employed_in_field", sa.Integer, nullable=True),
        sa.Column("employed_locally", sa.Integer, nullable=True),
        _region(),
        sa.PrimaryKeyConstraint("upload_id", "row_number", name="pk_obs_outcomes"),
    )
    op.create_index(
        "ix_obs_outcomes_key",
        "obs_outcomes",
        ["year", "programme_code", "level", "region", "upload_id"],
    )
    op.create_table(
        "obs_hiring",
        *_ids(),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("field_code", sa.String(40), nullable=False),
        sa.Column("postings", sa.Integer, nullable=False),
        sa.Column("level", sa.String(24), nullable=False),
        _region(),
        sa.Column("hires", sa.Integer, nullable=True),
        sa.Column("job_seekers", sa.Integer, nullable=True),
        sa.Column("freq", sa.String(1), nullable=False),
        sa.PrimaryKeyConstraint("upload_id", "row_number", name="pk_obs_hiring"),
    )
    op.create_index(
        "ix_obs_hiring_key", "obs_hiring", ["period", "field_code", "level", "region", "upload_id"]
    )
    op.create_table(
        "obs_demand_survey",
        *_ids(),
        sa.Column("survey_year", sa.Integer, nullable=False),
        sa.Column("target_year", sa.Integer, nullable=False),
        sa.Column("field_code", sa.String(40), nullable=False),
        sa.Column("headcount", sa.Integer, nullable=False),
        sa.Column("level", sa.String(24), nullable=False),
        _region(),
        sa.Column("source", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("upload_id", "row_number", name="pk_obs_demand_survey"),
    )
    op.create_index(
        "ix_obs_demand_survey_key",
        "obs_demand_survey",
        ["survey_year", "target_year", "field_code", "level", "region", "source", "upload_id"],
    )
    op.create_table(
        "catalog_fields",
        sa.Column("upload_id", sa.Integer, sa.ForeignKey("uploads.id"), nullable=False),
        sa.Column("field_code", sa.String(40), nullable=False),
        sa.Column("name_zh", sa.String(100), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=False),
        sa.Column("tier", sa.String(24), nullable=False),
        sa.Column("sort_order", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("upload_id", "field_code", name="pk_catalog_fields"),
    )
    op.create_table(
        "catalog_programmes",
        sa.Column("upload_id", sa.Integer, sa.ForeignKey("uploads.id"), nullable=False),
        sa.Column("programme_code", sa.String(16), nullable=False),
        sa.Column("level", sa.String(24), nullable=False),
        sa.Column("field_code", sa.String(40), nullable=False),
        sa.Column("weight", sa.Float, nullable=False),
        sa.Column("name_zh", sa.String(200), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=False),
        sa.Column("duration_years", sa.Integer, nullable=False),
        sa.Column("verified", sa.String(3), nullable=False),
        sa.Column("source", sa.String(300), nullable=False),
        sa.PrimaryKeyConstraint(
            "upload_id", "programme_code", "level", "field_code", name="pk_catalog_programmes"
        ),
    )


def downgrade() -> None:
    for table in (
        "catalog_programmes",
        "catalog_fields",
        "obs_demand_survey",
        "obs_hiring",
        "obs_outcomes",
        "obs_graduates",
        "obs_enrollment",
        "uploads",
    ):
        op.drop_table(table)
