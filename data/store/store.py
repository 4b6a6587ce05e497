"""The store: uploads and the observations they carry, append-only and versioned by upload.

Reads are "as of upload N" (a *data watermark*): for every key, the value of the latest upload
with id ≤ N. A run records its watermark, so its inputs can be read again exactly, whatever was
uploaded since. Writes happen one upload per transaction: all its rows, or nothing. Every write
that changes what the store holds (uploads, catalog versions, runs created and promoted, API
keys) writes its audit row (:mod:`data.store.access`) in that same transaction. Leases
(:mod:`data.store.leases`) keep exclusive jobs, such as retraining, to one process at a time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from importlib import resources
from numbers import Integral
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Final

import pandas as pd
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

from data.catalog import Catalog, catalog_from_frames
from data.readers import ROW_COLUMN
from data.schemas import SCHEMAS, ColumnType
from data.store.bulk import bulk_insert
from data.store.engine import create_engine
from data.store.tables import (
    CATALOG_KIND,
    MAX_FILENAME_CHARS,
    MAX_ID,
    UPLOAD_STATUS_ACCEPTED,
    catalog_fields,
    catalog_programmes,
    observations,
    store_key,
    uploads,
)
from data.store.vintages import vintage_query
from data.vocabulary import Kind, Role

if TYPE_CHECKING:
    from data.store.access import AccessStore, AuditRecord, KeyRecord
    from data.store.leases import LeaseRecord, LeaseStore
    from data.store.replays import ReplayStore, StoredReplay
    from data.store.runs import ArtifactFile, RunRecord, RunStore
    from data.store.sessions import SessionRecord, SessionStore

#: The actor recorded for writes made without naming one (the CLI, scheduled retrains).
SYSTEM_ACTOR: Final = "system"


class StoreError(RuntimeError):
    """The store cannot do what was asked (not a problem of the uploaded data)."""


#: What to do when the store has no catalog: said wherever a catalog is needed first.
NO_CATALOG: Final = (
    "the store has no catalog yet: an admin loads the city's fields, programmes and crosswalk "
    "first (PUT /api/v1/catalog, or `talentcast catalog load programmes.csv --fields "
    "fields.csv`; Tianjin's with `talentcast catalog load --reference tianjin`)"
)


class NoCatalog(StoreError):
    """The store holds no catalog (uploads and training need one to check codes against)."""


class UnknownUpload(StoreError, LookupError):
    """No upload has the requested id."""


@dataclass(frozen=True)
class UploadRecord:
    """What the store knows about one accepted upload."""

    id: int
    kind: str
    uploader: str
    filename: str | None
    file_format: str | None
    encoding: str | None
    content_sha256: str
    row_count: int
    replaced_rows: int
    status: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> UploadRecord:
        values = dict(row._mapping)
        created = values["created_at"]
        if created.tzinfo is None:  # SQLite keeps no zone; the store always writes UTC
            values["created_at"] = created.replace(tzinfo=UTC)
        return cls(**values)


@dataclass(frozen=True)
class StoredUpload:
    """Outcome of a write: the upload record and whether this call created it.

    ``created`` is False when identical content was uploaded before; the record is then the
    earlier upload and nothing was written.
    """

    upload: UploadRecord
    created: bool


def content_hash(kind: str, frame: pd.DataFrame, key: tuple[str, ...]) -> str:
    """Hash of the *content* of an upload, independent of row order, format and encoding.

    The same table sent as UTF-8 CSV, GBK CSV or XLSX, or with rows shuffled, is the same
    content, so re-sending it is recognised as a repeat.
    """
    columns = [c for c in frame.columns if c != ROW_COLUMN]
    canonical = frame.loc[:, columns].sort_values(list(key), kind="stable").reset_index(drop=True)
    digest = hashlib.sha256(kind.encode())
    digest.update(canonical.to_csv(index=False, lineterminator="\n").encode())
    return digest.hexdigest()


class Store:
    """Access to one database. Create with :meth:`connect`; call :meth:`upgrade` once at start.

    The store is safe to share between threads (SQLAlchemy pools connections) and between
    processes (every write is a single transaction; identical concurrent uploads are resolved
    by a unique constraint).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def connect(cls, url: str, **engine_kwargs: Any) -> Store:
        return cls(create_engine(url, **engine_kwargs))

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def dispose(self) -> None:
        self.engine.dispose()

    # -- schema -----------------------------------------------------------------------------

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
        config = Config()
        config.set_main_option(
            "script_location", str(resources.files("data.store").joinpath("migrations"))
        )
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    # -- writes -----------------------------------------------------------------------------

    def add_observations(
        self,
        kind: Kind | str,
        frame: pd.DataFrame,
        *,
        uploader: str,
        filename: str | None = None,
        file_format: str | None = None,
        encoding: str | None = None,
    ) -> StoredUpload:
        """Store the validated rows of one upload in one transaction.

        ``frame`` must come from :func:`data.validation.validate` (typed, canonical columns and
        the row numbers of the file).
        """
        kind = Kind(kind)
        rows = frame.copy()
        if kind is Kind.DEMAND_SURVEY:
            rows["source"] = uploader
        if kind is Kind.HIRING:
            rows["freq"] = _period_frequencies(rows["period"])
        rows = rows.rename(columns={ROW_COLUMN: "row_number"})
        sha = content_hash(kind.value, frame, SCHEMAS[kind].key)
        table = observations[kind]

        def write(connection: sa.Connection, upload_id: int) -> int:
            rows["upload_id"] = upload_id
            bulk_insert(connection, table, rows)
            return _count_replaced(connection, kind, upload_id)

        return self._write_upload(
            kind=kind.value,
            sha=sha,
            row_count=len(rows),
            write=write,
            uploader=uploader,
            filename=filename,
            file_format=file_format,
            encoding=encoding,
        )

    def add_catalog(
        self, catalog: Catalog, *, uploader: str, filename: str | None = None
    ) -> StoredUpload:
        """Store a new catalog version; reads as of later uploads see it."""
        long = catalog.to_long_programmes()
        parts = (
            content_hash("fields", catalog.fields, ("field_code",)),
            content_hash("programmes", long, ("programme_code", "level", "field_code")),
        )
        sha = hashlib.sha256("".join(parts).encode()).hexdigest()

        def write(connection: sa.Connection, upload_id: int) -> int:
            bulk_insert(connection, catalog_fields, catalog.fields.assign(upload_id=upload_id))
            bulk_insert(connection, catalog_programmes, long.assign(upload_id=upload_id))
            return 0

        return self._write_upload(
            kind=CATALOG_KIND,
            sha=sha,
            row_count=len(long),
            write=write,
            uploader=uploader,
            filename=filename,
            file_format=None,
            encoding=None,
        )

    def _write_upload(
        self,
        *,
        kind: str,
        sha: str,
        row_count: int,
        write: Callable[[sa.Connection, int], int],
        uploader: str,
        filename: str | None,
        file_format: str | None,
        encoding: str | None,
    ) -> StoredUpload:
        existing = self.find_upload(kind, sha)
        if existing is not None:
            return StoredUpload(existing, created=False)
        filename = fit_filename(filename)
        try:
            with self.engine.begin() as connection:
                upload_id = connection.execute(
                    uploads.insert()
                    .values(
                        kind=kind,
                        uploader=uploader,
                        filename=filename,
                        file_format=file_format,
                        encoding=encoding,
                        content_sha256=sha,
                        row_count=row_count,
                        replaced_rows=0,
                        status=UPLOAD_STATUS_ACCEPTED,
                        created_at=datetime.now(UTC),
                    )
                    .returning(uploads.c.id)
                ).scalar_one()
                replaced = write(connection, upload_id)
                if replaced:
                    connection.execute(
                        uploads.update()
                        .where(uploads.c.id == upload_id)
                        .values(replaced_rows=replaced)
                    )
                self._access.audit(
                    uploader,
                    "catalog" if kind == CATALOG_KIND else "upload",
                    target=f"upload #{upload_id}",
                    detail={
                        "kind": kind,
                        "rows": row_count,
                        "filename": filename,
                        "replaced_rows": replaced,
                    },
                    connection=connection,
                )
        except sa.exc.IntegrityError:
            # Someone stored the same content between our check and our insert.
            existing = self.find_upload(kind, sha)
            if existing is None:
                raise
            return StoredUpload(existing, created=False)
        return StoredUpload(self.upload(upload_id), created=True)

    # -- reads ------------------------------------------------------------------------------

    def find_upload(self, kind: str, sha: str) -> UploadRecord | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(uploads).where(uploads.c.kind == kind, uploads.c.content_sha256 == sha)
            ).first()
        return UploadRecord.from_row(row) if row is not None else None

    def upload(self, upload_id: int) -> UploadRecord:
        if not 0 < upload_id <= MAX_ID:  # no such row, and PostgreSQL would refuse the comparison
            raise UnknownUpload(f"no upload with id {upload_id}")
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(uploads).where(uploads.c.id == upload_id)).first()
        if row is None:
            raise UnknownUpload(f"no upload with id {upload_id}")
        return UploadRecord.from_row(row)

    def uploads(
        self,
        kind: str | None = None,
        limit: int | None = None,
        *,
        offset: int = 0,
        uploader: str | None = None,
    ) -> list[UploadRecord]:
        """Uploads, newest first, optionally of one kind or uploader; ``limit`` of them after
        skipping ``offset`` (a page)."""
        query = _uploads_where(sa.select(uploads), kind, uploader).order_by(uploads.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        if offset:
            query = query.offset(offset)
        with self.engine.connect() as connection:
            return [UploadRecord.from_row(row) for row in connection.execute(query)]

    def count_uploads(self, kind: str | None = None, uploader: str | None = None) -> int:
        """How many uploads :meth:`uploads` lists over all pages."""
        query = _uploads_where(sa.select(sa.func.count()).select_from(uploads), kind, uploader)
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def watermark(self) -> int:
        """Id of the newest upload (0 for an empty store): the default "as of" point."""
        with self.engine.connect() as connection:
            value = connection.execute(sa.select(sa.func.max(uploads.c.id))).scalar()
        return int(value or 0)

    def observations(
        self,
        kind: Kind | str,
        *,
        as_of: int | None = None,
        history: bool = False,
        exclude: Collection[int] = (),
        regions: Collection[str] | None = None,
    ) -> pd.DataFrame:
        """Observations of one kind as of upload ``as_of`` (default: everything stored).

        With ``history=False`` each key has one row, from the latest upload ≤ ``as_of``; with
        ``history=True`` every stored version is returned, oldest first, so that a planner can
        see what was corrected and when. ``exclude`` reads the store as if those uploads had
        never been made (a key they superseded shows its earlier value again): this is how a
        change between two runs is traced to the uploads that caused it. ``regions`` keeps the
        rows of those region codes only, in the query: a province reads one city at a time
        without the database sending every other city's rows (the region is part of every
        key, so a row of one region never supersedes another's).
        """
        kind = Kind(kind)
        table = observations[kind]
        key = store_key(kind)
        condition = sa.and_(
            sa.true() if as_of is None else table.c.upload_id <= as_of,
            _not_in(table.c.upload_id, exclude),
            sa.true() if regions is None else table.c.region.in_(sorted(set(regions))),
        )
        if history:
            query = sa.select(table).where(condition).order_by(*table.c[key], table.c.upload_id)
        else:
            newest_first = sa.func.row_number().over(
                partition_by=[table.c[k] for k in key], order_by=table.c.upload_id.desc()
            )
            ranked = sa.select(table, newest_first.label("_rank")).where(condition).subquery()
            query = (
                sa.select(*(ranked.c[c.name] for c in table.columns))
                .where(ranked.c._rank == 1)
                .order_by(*(ranked.c[k] for k in key))
            )
        with self.engine.connect() as connection:
            frame = pd.read_sql(query, connection)
        return _typed(kind, frame)

    def upload_region_rows(self, as_of: int | None = None) -> dict[int, dict[str, int]]:
        """Rows of each upload up to ``as_of`` per region, over every kind of observation (a
        catalog upload has none): which cities of a province an upload touched, and how much.
        An upload absent from the answer holds no observation rows."""
        counts: dict[int, dict[str, int]] = {}
        with self.engine.connect() as connection:
            for table in observations.values():
                query = (
                    sa.select(table.c.upload_id, table.c.region, sa.func.count())
                    .where(sa.true() if as_of is None else table.c.upload_id <= as_of)
                    .group_by(table.c.upload_id, table.c.region)
                )
                for upload_id, region, rows in connection.execute(query):
                    per_region = counts.setdefault(int(upload_id), {})
                    per_region[str(region)] = per_region.get(str(region), 0) + int(rows)
        return counts

    def catalog(self, as_of: int | None = None, *, exclude: Collection[int] = ()) -> Catalog:
        """The catalog version in force at upload ``as_of`` (default: the newest), ignoring the
        catalog uploads in ``exclude`` (see :meth:`observations`)."""
        query = sa.select(sa.func.max(uploads.c.id)).where(
            uploads.c.kind == CATALOG_KIND, _not_in(uploads.c.id, exclude)
        )
        if as_of is not None:
            query = query.where(uploads.c.id <= as_of)
        with self.engine.connect() as connection:
            upload_id = connection.execute(query).scalar()
            if upload_id is None:
                raise NoCatalog(NO_CATALOG)
            fields = pd.read_sql(
                sa.select(catalog_fields).where(catalog_fields.c.upload_id == upload_id), connection
            )
            long = pd.read_sql(
                sa.select(catalog_programmes).where(catalog_programmes.c.upload_id == upload_id),
                connection,
            )
        return catalog_from_frames(fields.drop(columns="upload_id"), long.drop(columns="upload_id"))

    def vintage(self, year: int, *, as_of: int | None = None) -> int | None:
        """The newest upload ≤ ``as_of`` such that no upload up to it holds an observation
        dated after ``year``: the store as of it is what was known at the end of ``year``
        (catalog included), see :mod:`data.store.vintages`. None when no upload qualifies."""
        if isinstance(year, bool) or not isinstance(year, Integral):
            raise StoreError(f"year must be a whole year such as 2021, got {year!r}")
        with self.engine.connect() as connection:
            value = connection.execute(vintage_query(int(year), as_of)).scalar()
        return None if value is None else int(value)

    # -- runs (see data.store.runs) ---------------------------------------------------------

    @cached_property
    def _runs(self) -> RunStore:
        # Imported here: data.store.runs builds on this module's errors.
        from data.store.runs import RunStore

        return RunStore(self.engine)

    def create_run(
        self,
        watermark: int,
        config: Mapping[str, Any],
        code_version: str | None = None,
        *,
        requested_by: str = SYSTEM_ACTOR,
    ) -> RunRecord:
        """Record a pending run reading the store as of upload ``watermark`` (must exist), and
        its ``run.create`` audit row in the same transaction."""
        return self._runs.create_run(
            watermark, config, code_version, in_transaction=self._run_created_audit(requested_by)
        )

    def _run_created_audit(self, requested_by: str) -> Callable[[sa.Connection, RunRecord], None]:
        def audit(connection: sa.Connection, run: RunRecord) -> None:
            self._access.audit(
                requested_by,
                "run.create",
                target=f"run #{run.id}",
                detail={"watermark": run.watermark},
                connection=connection,
            )

        return audit

    def queue_run(
        self,
        watermark: int,
        config: Mapping[str, Any],
        code_version: str | None = None,
        *,
        queue_key: str,
        requested_by: str = SYSTEM_ACTOR,
    ) -> tuple[RunRecord, bool]:
        """As :meth:`create_run`, unless a pending run was queued with the same ``queue_key``:
        then that run and False (the database keeps one pending run per key, so identical
        requests coalesce even when they arrive together)."""
        return self._runs.queue_run(
            watermark,
            config,
            code_version,
            queue_key=queue_key,
            in_transaction=self._run_created_audit(requested_by),
        )

    def start_run(self, run_id: int, *, by: str = SYSTEM_ACTOR) -> RunRecord:
        """pending → running; any other status is refused. The ``run.start`` audit row, in
        the same transaction, names the process that trains it (``by``: a lease holder such
        as ``worker@host:pid``), so a run can always be traced to where it was computed."""

        def audit(connection: sa.Connection, run: RunRecord) -> None:
            self._access.audit(
                by[:100], "run.start", target=f"run #{run.id}", connection=connection
            )

        return self._runs.start_run(run_id, in_transaction=audit)

    def finish_run(
        self,
        run_id: int,
        outputs: Mapping[str, pd.DataFrame],
        *,
        metrics: Mapping[str, Any],
        timings: Mapping[str, float],
        artifacts: Mapping[str, bytes | ArtifactFile] | None = None,
        served_by: str | None = None,
    ) -> RunRecord:
        """running → succeeded with all ``outputs`` and ``artifacts`` in one transaction, or
        nothing at all; with ``served_by`` it becomes the served run in that same transaction
        (audited as ``run.promote`` by that actor), so no reader sees it succeeded and not yet
        served.

        ``outputs`` maps short names of :data:`~data.store.tables.OUTPUT_TABLES` to frames;
        ``artifacts`` maps names to binary content (e.g. compressed ``.npz`` samples), or to an
        :class:`~data.store.runs.ArtifactFile` that holds it, that later steps reload with
        :meth:`run_artifact`. A frame that does not fit its table, or an artifact that is not
        bytes (or a file that is missing), raises :class:`StoreError` before anything is
        written.
        """
        return self._runs.finish_run(
            run_id,
            outputs,
            metrics=metrics,
            timings=timings,
            artifacts=artifacts,
            serve=self._promotion_audit(served_by) if served_by is not None else None,
        )

    def add_outputs(self, run_id: int, outputs: Mapping[str, pd.DataFrame]) -> None:
        """Store some of a running run's ``outputs`` ahead of :meth:`finish_run`, which adds
        the rest: a run of many regions stores each region's rows as soon as they are
        computed, so that it never holds the nation's. Nobody reads them before the run
        succeeds (the API serves succeeded runs only), and :meth:`fail_run` removes them with
        the rest: a run still ends with all its outputs or none. Frames are checked as
        :meth:`finish_run` checks them, before anything is written; a run that is not running
        is refused (:class:`StoreError`)."""
        self._runs.add_outputs(run_id, outputs)

    def fail_run(self, run_id: int, error: str) -> RunRecord:
        """pending or running → failed with ``error`` as the reason; no outputs or artifacts
        are kept."""
        return self._runs.fail_run(run_id, error)

    def set_served(self, run_id: int, *, actor: str = SYSTEM_ACTOR) -> RunRecord:
        """Serve this succeeded run instead of the previous one, with its ``run.promote`` audit
        row, in one transaction."""
        return self._runs.set_served(run_id, in_transaction=self._promotion_audit(actor))

    def _promotion_audit(self, actor: str) -> Callable[[sa.Connection, RunRecord], None]:
        def audit(connection: sa.Connection, run: RunRecord) -> None:
            self._access.audit(
                actor,
                "run.promote",
                target=f"run #{run.id}",
                detail={"watermark": run.watermark},
                connection=connection,
            )

        return audit

    def run(self, run_id: int) -> RunRecord:
        return self._runs.run(run_id)

    def runs(
        self, status: str | None = None, limit: int | None = None, *, offset: int = 0
    ) -> list[RunRecord]:
        """Runs, newest first; ``limit`` of them after skipping ``offset`` (a page)."""
        return self._runs.runs(status, limit, offset=offset)

    def count_runs(self, status: str | None = None) -> int:
        """How many runs (of ``status``) :meth:`runs` lists over all pages."""
        return self._runs.count_runs(status)

    def served_run(self) -> RunRecord | None:
        """The run the API serves, if one was promoted."""
        return self._runs.served_run()

    def latest_run(self, status: str | None = "succeeded") -> RunRecord | None:
        """The newest run of ``status`` (of any status with ``None``)."""
        return self._runs.latest_run(status)

    def run_output(self, run_id: int, name: str, **filters: Any) -> pd.DataFrame:
        """One output of a run, filtered by column equality (a list means any of), sorted by
        its key, without ``run_id``."""
        return self._runs.run_output(run_id, name, **filters)

    def run_artifact(self, run_id: int, name: str) -> bytes:
        """The bytes of one artifact of a run; :class:`~data.store.runs.UnknownArtifact` (with
        the names that exist) if the run has none of that name."""
        return self._runs.run_artifact(run_id, name)

    def run_artifact_names(self, run_id: int) -> list[str]:
        """Names of a run's artifacts, sorted."""
        return self._runs.run_artifact_names(run_id)

    # -- keys and audit (see data.store.access) ---------------------------------------------

    @cached_property
    def _access(self) -> AccessStore:
        # Imported here: data.store.access builds on this module's errors.
        from data.store.access import AccessStore

        return AccessStore(self.engine)

    @cached_property
    def _sessions(self) -> SessionStore:
        from data.store.sessions import SessionStore

        return SessionStore(self.engine)

    def create_key(
        self,
        name: str,
        role: Role | str,
        fields: Iterable[str],
        key_hash: str,
        key_prefix: str,
        *,
        actor: str,
    ) -> KeyRecord:
        """Store an API key (by the SHA-256 of its secret) and its ``key.create`` audit row in
        one transaction; refused with the reason if the name, role, fields or hash are wrong or
        an active key has the same name."""
        return self._access.create_key(name, role, fields, key_hash, key_prefix, actor=actor)

    def revoke_key(self, name: str, *, actor: str) -> KeyRecord:
        """Revoke the active key called ``name`` (:class:`~data.store.access.UnknownKey` if
        there is none) and audit it, in one transaction."""
        return self._access.revoke_key(name, actor=actor)

    def keys(self, include_revoked: bool = False) -> list[KeyRecord]:
        """API keys in creation order, active ones only unless ``include_revoked``."""
        return self._access.keys(include_revoked)

    def key_by_hash(self, key_hash: str) -> KeyRecord | None:
        """The active key whose secret hashes to ``key_hash``, or None (revoked keys too)."""
        return self._access.key_by_hash(key_hash)

    def create_session(
        self, key_id: int, token_hash: str, csrf_token: str, ttl_seconds: float
    ) -> SessionRecord:
        """A dashboard session for the active key ``key_id`` (by the hash of its random id)."""
        return self._sessions.create_session(key_id, token_hash, csrf_token, ttl_seconds)

    def session_by_hash(self, token_hash: str) -> SessionRecord | None:
        """The live session (unexpired, key still active) whose id hashes to ``token_hash``."""
        return self._sessions.session_by_hash(token_hash)

    def end_session(self, token_hash: str) -> None:
        self._sessions.end_session(token_hash)

    def audit(
        self,
        actor: str,
        action: str,
        *,
        role: Role | str | None = None,
        target: str | None = None,
        detail: Mapping[str, Any] | None = None,
        connection: sa.Connection | None = None,
    ) -> None:
        """Append one audit row (within ``connection``'s transaction when given)."""
        self._access.audit(
            actor, action, role=role, target=target, detail=detail, connection=connection
        )

    def audit_log(
        self,
        *,
        limit: int = 100,
        offset: int = 0,
        actor: str | None = None,
        action: str | None = None,
    ) -> list[AuditRecord]:
        """Audit rows newest first, optionally of one actor and/or action."""
        return self._access.audit_log(limit=limit, offset=offset, actor=actor, action=action)

    # -- leases (see data.store.leases) -----------------------------------------------------

    @cached_property
    def _leases(self) -> LeaseStore:
        # Imported here: data.store.leases builds on this module's errors.
        from data.store.leases import LeaseStore

        return LeaseStore(self.engine)

    def acquire_lease(self, name: str, holder: str, ttl_seconds: float) -> LeaseRecord | None:
        """Take the lease ``name`` for ``ttl_seconds``, or None while anyone (``holder``
        included) holds it live. Taking over an expired lease writes its ``lease.recover``
        audit row in the same transaction, and the record names the previous holder and the
        run it had attached (``recovered_from``, ``recovered_run_id``) so that the caller can
        mark that run failed."""

        def audit(connection: sa.Connection, lease: LeaseRecord) -> None:
            self._access.audit(
                lease.holder[:100],  # the audit log's actor is shorter than a holder
                "lease.recover",
                target=f"lease {lease.name}",
                detail={
                    "holder": lease.holder,
                    "previous_holder": lease.recovered_from,
                    "run_id": lease.recovered_run_id,
                },
                connection=connection,
            )

        return self._leases.acquire(name, holder, ttl_seconds, on_recover=audit)

    def renew_lease(self, name: str, holder: str, ttl_seconds: float) -> bool:
        """Heartbeat: keep ``holder``'s lease for ``ttl_seconds`` more; False if it lost it."""
        return self._leases.renew(name, holder, ttl_seconds)

    def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up (nothing happens if ``holder`` no longer holds it)."""
        self._leases.release(name, holder)

    def lease(self, name: str) -> LeaseRecord | None:
        """The lease ``name`` (live or expired, see ``live``), or None if nobody holds it."""
        return self._leases.lease(name)

    def attach_run_to_lease(self, name: str, holder: str, run_id: int | None) -> bool:
        """Record the run executed under ``holder``'s lease, so that a process recovering the
        lease after a crash can mark it failed; False if ``holder`` lost the lease."""
        return self._leases.attach_run(name, holder, run_id)

    # -- replayed balances (see data.store.replays) -----------------------------------------

    @cached_property
    def _replays(self) -> ReplayStore:
        # Imported here: data.store.replays builds on this module's errors.
        from data.store.replays import ReplayStore

        return ReplayStore(self.engine)

    def kept_replay(self, key: str) -> StoredReplay | None:
        """The balance replay kept under ``key`` (:mod:`forecasting.replays`), or None when
        none is kept or the kept one is damaged (it is then replayed and kept again)."""
        return self._replays.replay(key)

    def keep_replay(self, replay: StoredReplay) -> None:
        """Keep a balance replay for later retrains (replacing one of the same key); only
        the most recently used replays are kept."""
        self._replays.keep(replay)

    def count_kept_replays(self) -> int:
        """How many balance replays are kept."""
        return self._replays.count()


def _not_in(column: sa.ColumnElement[Any], ids: Collection[int]) -> sa.ColumnElement[bool]:
    """``column NOT IN ids`` (always true for no ids)."""
    values = sorted({int(i) for i in ids})
    return column.not_in(values) if values else sa.true()


def _period_frequencies(periods: pd.Series) -> pd.Series:
    return periods.map(lambda p: "Q" if "Q" in p else ("M" if "-" in p else "Y"))


def _count_replaced(connection: sa.Connection, kind: Kind, upload_id: int) -> int:
    """Rows of this upload whose key already had a value: they supersede earlier uploads."""
    table = observations[kind]
    earlier = table.alias("earlier")
    key = store_key(kind)
    exists = (
        sa.select(sa.literal(1))
        .where(earlier.c.upload_id < upload_id, *(earlier.c[k] == table.c[k] for k in key))
        .exists()
    )
    query = (
        sa.select(sa.func.count()).select_from(table).where(table.c.upload_id == upload_id, exists)
    )
    return int(connection.execute(query).scalar_one())


def _typed(kind: Kind, frame: pd.DataFrame) -> pd.DataFrame:
    """Give read frames the dtypes validation produces: nullable integers for counts and years."""
    schema = SCHEMAS[kind]
    integer_columns = [
        c.name for c in schema.columns if c.type in (ColumnType.COUNT, ColumnType.YEAR)
    ] + ["upload_id", "row_number"]
    out = frame.astype(dict.fromkeys(integer_columns, "Int64"))
    text_columns = [c for c in out.columns if c not in integer_columns]
    return out.astype(dict.fromkeys(text_columns, object)).reset_index(drop=True)


def fit_filename(filename: str | None, limit: int = MAX_FILENAME_CHARS) -> str | None:
    """A file name that fits the uploads table on every backend: a longer one keeps its
    beginning and its extension (SQLite would store it whole, PostgreSQL would refuse it)."""
    if filename is None or len(filename) <= limit:
        return filename
    suffix = PurePath(filename).suffix
    suffix = suffix if 0 < len(suffix) <= 16 else ""
    return filename[: limit - len(suffix) - 1] + "…" + suffix


def _uploads_where(query: sa.Select[Any], kind: str | None, uploader: str | None) -> sa.Select[Any]:
    if kind is not None:
        query = query.where(uploads.c.kind == kind)
    if uploader is not None:
        query = query.where(uploads.c.uploader == uploader)
    return query
