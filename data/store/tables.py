"""Table definitions of the store (SQLAlchemy Core).

Observation tables are derived from the upload schemas (:mod:`data.schemas`) so that a column
exists in one place; the Alembic migrations under ``migrations/versions`` are the frozen history
of these definitions, and a test checks that the two agree.

Every observation row belongs to exactly one upload and is never updated or deleted: a later
upload with the same key supersedes it for reads "as of" that upload or later.
"""

from __future__ import annotations

from typing import Any, Final

import sqlalchemy as sa

from data.schemas import SCHEMAS, Column, ColumnType
from data.vocabulary import Kind

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

#: Upload kinds beyond the observation kinds: a catalog version is an upload too, so that a run's
#: data watermark also fixes the catalog it saw.
CATALOG_KIND: Final = "catalog"

UPLOAD_STATUS_ACCEPTED: Final = "accepted"

uploads = sa.Table(
    "uploads",
    metadata,
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
    sa.UniqueConstraint("kind", "content_sha256"),
)

_SQL_TYPES: Final[dict[ColumnType, sa.types.TypeEngine[Any]]] = {
    ColumnType.YEAR: sa.Integer(),
    ColumnType.COUNT: sa.Integer(),
    ColumnType.PROGRAMME: sa.String(16),
    ColumnType.FIELD: sa.String(40),
    ColumnType.LEVEL: sa.String(24),
    ColumnType.PERIOD: sa.String(8),
    ColumnType.REGION: sa.String(6),
    ColumnType.TEXT: sa.String(200),
}

#: Columns the store adds to what a file carries, per kind.
EXTRA_COLUMNS: Final[dict[Kind, tuple[str, ...]]] = {
    Kind.HIRING: ("freq",),
    Kind.DEMAND_SURVEY: ("source",),
}


def store_key(kind: Kind) -> tuple[str, ...]:
    """Columns that identify one observation in the store.

    Survey rows are also keyed by their source (the association that uploaded them): two
    associations stating needs for the same field do not supersede each other.
    """
    key = SCHEMAS[kind].key
    return (*key, "source") if kind is Kind.DEMAND_SURVEY else key


def _sql_column(column: Column) -> sa.Column[object]:
    nullable = not column.required and column.default is None
    return sa.Column(column.name, _SQL_TYPES[column.type], nullable=nullable)


def _observation_table(kind: Kind) -> sa.Table:
    schema = SCHEMAS[kind]
    extras = {
        "freq": sa.Column("freq", sa.String(1), nullable=False),
        "source": sa.Column("source", sa.String(100), nullable=False),
    }
    name = f"obs_{kind.value}"
    return sa.Table(
        name,
        metadata,
        sa.Column("upload_id", sa.Integer, sa.ForeignKey("uploads.id"), primary_key=True),
        sa.Column("row_number", sa.Integer, primary_key=True),
        *(_sql_column(column) for column in schema.columns),
        *(extras[extra] for extra in EXTRA_COLUMNS.get(kind, ())),
        sa.Index(f"ix_{name}_key", *store_key(kind), "upload_id"),
    )


observations: Final[dict[Kind, sa.Table]] = {kind: _observation_table(kind) for kind in Kind}

catalog_fields = sa.Table(
    "catalog_fields",
    metadata,
    sa.Column("upload_id", sa.Integer, sa.ForeignKey("uploads.id"), primary_key=True),
    sa.Column("field_code", sa.String(40), primary_key=True),
    sa.Column("name_zh", sa.String(100), nullable=False),
    sa.Column("name_en", sa.String(200), nullable=False),
    sa.Column("tier", sa.String(24), nullable=False),
    sa.Column("sort_order", sa.Integer, nullable=False),
)

catalog_programmes = sa.Table(
    "catalog_programmes",
    metadata,
    sa.Column("upload_id", sa.Integer, sa.ForeignKey("uploads.id"), primary_key=True),
    sa.Column("programme_code", sa.String(16), primary_key=True),
    sa.Column("level", sa.String(24), primary_key=True),
    sa.Column("field_code", sa.String(40), primary_key=True),
    sa.Column("weight", sa.Float, nullable=False),
    sa.Column("name_zh", sa.String(200), nullable=False),
    sa.Column("name_en", sa.String(200), nullable=False),
    sa.Column("duration_years", sa.Integer, nullable=False),
    sa.Column("verified", sa.String(3), nullable=False),
    sa.Column("source", sa.String(300), nullable=False),
)
