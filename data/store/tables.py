"""Table definitions of the store (SQLAlchemy Core).

Observation tables are derived from the upload schemas (:mod:`data.schemas`) so that a column
exists in one place; the Alembic migrations under ``migrations/versions`` are the frozen history
of these definitions, and a test checks that the two agree.

Every observation row belongs to exactly one upload and is never updated or deleted: a later
upload with the same key supersedes it for reads "as of" that upload or later.

Every number the API serves belongs to exactly one *run* (table ``runs``); a run's outputs live in
one table per output kind (``run_*``), described once in :data:`OUTPUT_SPECS` so that the store
can validate frames and the API can describe rows from the same definition. Binary artifacts of a
run (joint samples that the scenario tool and the quota optimiser reload) live in
``run_artifacts``, one row per run and name.

Access is recorded in ``api_keys`` (who may call the API, by the SHA-256 of their secret) and
``audit_log`` (who did what, appended in the same transaction as the write it describes).

``leases`` holds the named leases that keep a job (retraining) to one process at a time.

``balance_replays`` keeps the balance replayed from a cut year (:mod:`forecasting.replays`), so
that a retrain whose replay inputs did not change reads it instead of computing it again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
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
#: Longest file name the uploads table holds (the store shortens longer ones).
MAX_FILENAME_CHARS: Final = 255
#: Largest id a row can have: ids are INTEGER columns, 32-bit on PostgreSQL (64-bit on SQLite).
#: PostgreSQL refuses a larger number even in a comparison, so a lookup by one finds nothing
#: instead of asking it.
MAX_ID: Final = 2**31 - 1

uploads = sa.Table(
    "uploads",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("uploader", sa.String(100), nullable=False),
    sa.Column("filename", sa.String(MAX_FILENAME_CHARS), nullable=True),
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
        # Reads of one region (a city of a province) as of an upload.
        sa.Index(f"ix_{name}_region", "region", "upload_id"),
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
    sa.Column("shortage_cost", sa.Float, nullable=False),
    sa.Column("surplus_cost", sa.Float, nullable=False),
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


# -- runs ------------------------------------------------------------------------------------


class RunStatus(StrEnum):
    """Lifecycle of a run: pending → running → succeeded | failed (pending → failed too)."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


_STATUS_LIST = ", ".join(f"'{status.value}'" for status in RunStatus)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("status", sa.String(16), nullable=False),
    # The data watermark: the run read the store as of this upload.
    sa.Column("watermark", sa.Integer, sa.ForeignKey("uploads.id"), nullable=False),
    sa.Column("config", sa.Text, nullable=False),
    sa.Column("code_version", sa.String(100), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("metrics", sa.Text, nullable=True),
    sa.Column("timings", sa.Text, nullable=True),
    sa.Column("served", sa.Boolean, nullable=False, server_default=sa.false()),
    # What a queued request asked for (data watermark, configuration, city), hashed: identical
    # requests coalesce into the one pending run that carries it (see ix_runs_queue_key).
    sa.Column("queue_key", sa.String(64), nullable=True),
    sa.CheckConstraint(f"status IN ({_STATUS_LIST})", name="ck_runs_status"),
    # A failed or unfinished run can never be what the API serves.
    sa.CheckConstraint(
        f"NOT served OR status = '{RunStatus.SUCCEEDED.value}'", name="ck_runs_served"
    ),
    # At most one served run, enforced by the database even against concurrent promotions.
    sa.Index(
        "ix_runs_served",
        "served",
        unique=True,
        postgresql_where=sa.text("served"),
        sqlite_where=sa.text("served"),
    ),
    # At most one pending run per request, enforced by the database: two identical requests
    # arriving together cannot both queue a retrain.
    sa.Index(
        "ix_runs_queue_key",
        "queue_key",
        unique=True,
        postgresql_where=sa.text(f"status = '{RunStatus.PENDING.value}'"),
        sqlite_where=sa.text(f"status = '{RunStatus.PENDING.value}'"),
    ),
)


class Persons(StrEnum):
    """How a number of persons is served (API, dashboard, exports).

    Runs compute persons as sample quantiles and means, i.e. fractions; nobody plans for 0.37 of
    a graduate, so a count is served as an integer and a mean to one decimal (enough to tell two
    means apart). The store keeps the exact values.
    """

    COUNT = "count"
    MEAN = "mean"


@dataclass(frozen=True)
class OutputColumn:
    """One column of a run output table (besides ``run_id``, which the store sets).

    ``type`` is the SQL type; its ``python_type`` (str, int, float, bool) is what the store
    checks frames against. ``persons`` marks a number of persons: the API declares a
    :attr:`Persons.COUNT` column an integer whatever it is stored as
    (:mod:`data.store.persons` rounds the values).
    """

    name: str
    type: sa.types.TypeEngine[Any]
    nullable: bool = True
    persons: Persons | None = None


@dataclass(frozen=True)
class OutputSpec:
    """One output kind of a run: its table, columns and natural key.

    ``key`` is the sort order of reads and, with ``unique``, a constraint per run (checked before
    writing, so that a duplicate is reported by row rather than by a database error).

    ``persons_kinds`` is for a table whose rows hold series of several kinds in the same
    columns (the forecasts): the kinds whose values are persons, so that their
    ``persons_columns`` are rounded to integers on those rows only (the columns stay numbers in
    the schema, as other kinds are rates and ratios).
    """

    table: str
    description: str
    columns: tuple[OutputColumn, ...]
    key: tuple[str, ...]
    index: tuple[str, ...]
    unique: bool
    persons_kinds: tuple[str, ...] = ()
    persons_columns: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)


def _text(name: str, length: int, *, nullable: bool = True) -> OutputColumn:
    return OutputColumn(name, sa.String(length), nullable)


def _int(name: str, *, nullable: bool = True) -> OutputColumn:
    return OutputColumn(name, sa.Integer(), nullable)


def _floats(
    *names: str, nullable: bool = True, persons: Persons | None = None
) -> tuple[OutputColumn, ...]:
    return tuple(OutputColumn(name, sa.Float(), nullable, persons) for name in names)


def _persons(*names: str, nullable: bool = True) -> tuple[OutputColumn, ...]:
    """Numbers of persons (stored as floats, served as integers)."""
    return _floats(*names, nullable=nullable, persons=Persons.COUNT)


def _quantiles(prefix: str) -> tuple[OutputColumn, ...]:
    """The mean and quantiles of a number of persons over a run's samples."""
    mean = OutputColumn(f"{prefix}_mean", sa.Float(), False, Persons.MEAN)
    names = (f"{prefix}_{q}" for q in ("p05", "p10", "p50", "p90", "p95"))
    return (mean, *_persons(*names, nullable=False))


_SPECS: Final[Mapping[str, OutputSpec]] = {
    "forecasts": OutputSpec(
        table="run_forecasts",
        description="Series forecasts with 80% and 95% prediction intervals.",
        columns=(
            _text("kind", 32, nullable=False),
            _text("series_id", 200, nullable=False),
            _text("programme_code", 16),
            _text("level", 24),
            _text("field_code", 40),
            _text("period", 8, nullable=False),
            *_floats("forecast", nullable=False),
            *_floats("lo_80", "hi_80", "lo_95", "hi_95"),
            _text("model", 200),
        ),
        key=("kind", "series_id", "period"),
        index=("kind", "series_id"),
        unique=False,
        # Intake (entrants per programme) is persons; hiring, tightness and rates are not.
        persons_kinds=("enrollment",),
        persons_columns=("forecast", "lo_80", "hi_80", "lo_95", "hi_95"),
    ),
    "balance": OutputSpec(
        table="run_balance",
        description=(
            "Supply, demand and gap quantiles, P(shortage) and the expected shortfall per field, "
            "level and year."
        ),
        columns=(
            _text("field_code", 40, nullable=False),
            _text("level", 24, nullable=False),
            _int("year", nullable=False),
            *_quantiles("supply"),
            *_quantiles("demand"),
            *_quantiles("gap"),
            *_floats("ratio_p50", "p_shortage", nullable=False),
            # Expected shortfall in persons: mean over the joint samples of max(gap, 0), each
            # gap winsorised at the cell's 90th percentile (NULL for runs stored before it
            # was kept).
            *_floats("shortfall_w90", persons=Persons.MEAN),
        ),
        key=("field_code", "level", "year"),
        index=("field_code", "level", "year"),
        unique=True,
    ),
    "drivers": OutputSpec(
        table="run_drivers",
        description="Decomposition of each gap into its drivers since the base year.",
        columns=(
            _text("field_code", 40, nullable=False),
            _text("level", 24, nullable=False),
            _int("year", nullable=False),
            _int("base_year"),
            *_persons(
                "base_gap", "demand_growth", "survey_adjustment", "cohort_pipeline", "rates", "gap"
            ),
        ),
        key=("field_code", "level", "year"),
        index=("field_code", "level", "year"),
        unique=True,
    ),
    "programme_supply": OutputSpec(
        table="run_programme_supply",
        description="Graduates and outcome rates per programme, level and year.",
        columns=(
            _text("programme_code", 16, nullable=False),
            _text("level", 24, nullable=False),
            _int("year", nullable=False),
            *_persons("graduates_p10", "graduates_p50", "graduates_p90"),
            *_floats(
                "placement_rate",
                "infield_rate",
                "local_rate",
            ),
            # Graduates of cohorts already enrolled (True) or of forecast intake (False).
            OutputColumn("from_enrolled_cohorts", sa.Boolean()),
        ),
        key=("programme_code", "level", "year"),
        index=("programme_code", "level", "year"),
        unique=True,
    ),
    "survey_bias": OutputSpec(
        table="run_survey_bias",
        description="Historical bias of each survey source against realised hiring.",
        columns=(
            _text("source", 100, nullable=False),
            _text("field_code", 40, nullable=False),
            _int("n_surveys"),
            *_floats("log_bias", "factor", "residual_sd"),
        ),
        key=("source", "field_code"),
        index=("source", "field_code"),
        unique=False,
    ),
    "demand_scales": OutputSpec(
        table="run_demand_scales",
        description=(
            "Postings per opening of each field (the scale that turns postings into openings), "
            "with its 80% interval and where it came from: hires, outcome rates, the admin, or "
            "the prior across fields."
        ),
        columns=(
            _text("field_code", 40, nullable=False),
            *_floats("scale_p10", "scale_p50", "scale_p90", nullable=False),
            _text("source", 300, nullable=False),
            _int("hires_years"),
            _text("note", 300),
        ),
        key=("field_code",),
        index=("field_code",),
        unique=True,
    ),
    "warnings": OutputSpec(
        table="run_warnings",
        description=(
            "Programmes flagged by the employment rules on observed outcomes, with the rule, the "
            "action it calls for and the figures it was applied to."
        ),
        columns=(
            _text("programme_code", 16, nullable=False),
            _text("level", 24, nullable=False),
            # The rule's code, e.g. "moe_2011_below_60_two_years".
            _text("rule", 40, nullable=False),
            # stop | alternate_years | cap_at_placed | reduce | no_new_points | review_duplicates
            _text("action", 32, nullable=False),
            # The years the figures cover.
            _int("first_year"),
            _int("last_year"),
            *_floats("rate_last", "rate_previous"),
            _int("graduates_last"),
            _int("placed_last"),
            *_floats("threshold"),
            _text("message_zh", 500),
            _text("message_en", 500),
        ),
        key=("programme_code", "level", "rule"),
        index=("programme_code", "level", "rule"),
        unique=True,
    ),
    "recommendations": OutputSpec(
        table="run_recommendations",
        description=(
            "Quota recommendations per programme and level for one intake year, with the gap and "
            "P(shortage) before and after, the binding constraints and the reasons; programmes "
            "that stopped enrolling are kept at 0 with the year they stopped."
        ),
        columns=(
            _text("programme_code", 16, nullable=False),
            _text("level", 24, nullable=False),
            # The programme's main field.
            _text("field_code", 40),
            _int("intake_year", nullable=False),
            _int("graduation_year"),
            *_persons("current_quota", "recommended_quota", nullable=False),
            *_persons("change"),
            *_floats("change_pct"),
            *_persons("quota_p10", "quota_p90", "gap_before", "gap_after"),
            *_floats("p_shortage_before", "p_shortage_after"),
            # Comma-separated constraint names and reason codes.
            _text("binding", 300),
            _text("reasons", 300),
            _text("reason_zh", 2000),
            _text("reason_en", 2000),
            # First year without intake of a programme that stopped enrolling (quota 0, kept).
            _int("stopped_since"),
        ),
        key=("programme_code", "level"),
        index=("programme_code", "level"),
        unique=True,
    ),
}


def _per_region(spec: OutputSpec) -> OutputSpec:
    """Every output row belongs to one region (GB/T 2260 code): a deployment that serves the
    cities of a province keeps each city's rows and the province's totals in the same run."""
    return replace(
        spec,
        columns=(_text("region", 6, nullable=False), *spec.columns),
        key=("region", *spec.key),
        index=("region", *spec.index),
    )


OUTPUT_SPECS: Final[Mapping[str, OutputSpec]] = {
    name: _per_region(spec) for name, spec in _SPECS.items()
}


def _output_table(spec: OutputSpec) -> sa.Table:
    lookup: sa.schema.SchemaItem = (
        sa.UniqueConstraint("run_id", *spec.index)
        if spec.unique
        else sa.Index(f"ix_{spec.table}_{'_'.join(('run_id', *spec.index))}", "run_id", *spec.index)
    )
    return sa.Table(
        spec.table,
        metadata,
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        *(sa.Column(c.name, c.type, nullable=c.nullable) for c in spec.columns),
        lookup,
    )


#: The output tables of a run by short name ("forecasts", "balance", ...), in write order.
OUTPUT_TABLES: Final[Mapping[str, sa.Table]] = {
    name: _output_table(spec) for name, spec in OUTPUT_SPECS.items()
}

#: Binary artifacts of a run (compressed ``.npz`` bytes of joint samples, up to tens of MB each),
#: written with the outputs in the transaction that marks the run succeeded. ``size_bytes`` lets
#: listings describe an artifact without reading its content.
run_artifacts = sa.Table(
    "run_artifacts",
    metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("content", sa.LargeBinary, nullable=False),
    sa.Column("size_bytes", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


# -- access ----------------------------------------------------------------------------------

#: API keys. Only the SHA-256 of a secret is kept (``key_hash``, looked up on every request
#: through its unique index), with its first characters (``key_prefix``) so that a listing can
#: say which key is which. ``fields`` are comma-separated field codes ("" for none): the fields an
#: association reports for. A revoked key keeps its row (``revoked_at`` set) so that audit rows
#: keep their meaning; names are unique among active keys only, which the store enforces itself
#: because partial unique indexes differ between backends.
api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("fields", sa.String(1000), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("key_prefix", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(100), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    sa.UniqueConstraint("key_hash"),
)

#: Dashboard sign-ins (:mod:`data.store.sessions`): the SHA-256 of the browser's random session
#: id, the key it signed in with, the session's CSRF token and when it ends.
sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("token_hash", sa.String(64), nullable=False),
    sa.Column("key_id", sa.Integer, sa.ForeignKey("api_keys.id"), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("token_hash"),
    sa.Index("ix_sessions_expires_at", "expires_at"),
)

#: Who did what, append-only: uploads, catalog loads, runs created and promoted, keys created
#: and revoked, rejected uploads. ``action`` is a short dotted code ("upload", "run.promote");
#: ``target`` names what it acted on ("upload #12"); ``detail`` is a JSON object ("{}" if empty).
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("role", sa.String(20), nullable=True),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("target", sa.String(200), nullable=True),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Index("ix_audit_log_at", "at"),
)


# -- leases ----------------------------------------------------------------------------------

#: Named leases that make a job exclusive across processes and hosts (one retrain at a time):
#: one row per held lease, deleted when released. A holder keeps its lease alive by pushing
#: ``expires_at`` forward (``heartbeat_at`` records when); a row whose ``expires_at`` has
#: passed belongs to a process that stopped without releasing it, and the next acquirer takes it
#: over, learning ``run_id``, the run that process was executing, so that it can be marked
#: failed (see :mod:`data.store.leases`).
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(50), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=True),
)


# -- balance replays ---------------------------------------------------------------------------

#: Balances replayed from a cut year by the balance backtest, for reuse by later retrains
#: (:mod:`data.store.replays`). ``key`` is the SHA-256 of everything the replay depends on (the
#: data it read, the settings, the cut year, the demand model and the code version), so a row is
#: only ever found by a replay that would compute exactly the same numbers. ``content`` is the
#: replayed balance as ``.npz`` bytes and ``content_sha256`` their checksum (a row that no
#: longer matches it is replayed again, never read). ``used_at`` orders rows for pruning.
balance_replays = sa.Table(
    "balance_replays",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("cut", sa.Integer, nullable=False),
    sa.Column("demand_model", sa.String(20), nullable=False),
    sa.Column("code_version", sa.String(200), nullable=False),
    sa.Column("data_fingerprint", sa.String(64), nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
    sa.Column("content_sha256", sa.String(64), nullable=False),
    sa.Column("seconds", sa.Float, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_balance_replays_used_at", "used_at"),
)
