"""Runs in the store: their lifecycle, their outputs, and which one the API serves.

A run reads the store as of one data watermark and ends with all of its outputs and artifacts
written in the same transaction that marks it succeeded, so a reader never sees half a run: a run
either has every output and artifact it was given and is succeeded, or has none and is not.
Every transition is one conditional UPDATE (``... WHERE status = 'running'``), which is atomic on
both backends without relying on read-then-write transactions (SQLite's driver starts them only
at the first write).

:class:`~data.store.store.Store` delegates its run methods here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from data.store.bulk import bulk_insert
from data.store.store import StoreError, UnknownUpload
from data.store.tables import (
    MAX_ID,
    OUTPUT_SPECS,
    OUTPUT_TABLES,
    OutputColumn,
    OutputSpec,
    RunStatus,
)
from data.store.tables import run_artifacts as artifacts_table
from data.store.tables import runs as runs_table
from data.store.tables import uploads as uploads_table

#: PostgreSQL advisory lock key that serialises promotions (see :meth:`RunStore.set_served`).
_SERVE_LOCK = int.from_bytes(b"tc-serve", "big") >> 1


class UnknownRun(StoreError, LookupError):
    """No run has the requested id."""


class UnknownArtifact(StoreError, LookupError):
    """The run exists but has no artifact of the requested name."""


@dataclass(frozen=True)
class RunRecord:
    """What the store knows about one run (its outputs are read with ``Store.run_output``).

    Timestamps are aware UTC datetimes; ``metrics`` and ``timings`` are empty until the run
    succeeds. Records compare by value; the dicts are left out of the hash (they have none).
    """

    id: int
    status: RunStatus
    watermark: int
    config: dict[str, Any] = field(hash=False)
    code_version: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    metrics: dict[str, Any] = field(hash=False)
    timings: dict[str, float] = field(hash=False)
    served: bool

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> RunRecord:
        values = row._mapping
        return cls(
            id=int(values["id"]),
            status=RunStatus(values["status"]),
            watermark=int(values["watermark"]),
            config=json.loads(values["config"]),
            code_version=values["code_version"],
            created_at=_utc(values["created_at"]),
            started_at=_maybe_utc(values["started_at"]),
            finished_at=_maybe_utc(values["finished_at"]),
            error=values["error"],
            metrics=json.loads(values["metrics"]) if values["metrics"] is not None else {},
            timings=json.loads(values["timings"]) if values["timings"] is not None else {},
            served=bool(values["served"]),
        )


#: A callback run inside a run write's transaction with the record written, for rows that must
#: commit or roll back with it (the audit log, see :mod:`data.store.access`).
InTransaction = Callable[[sa.Connection, RunRecord], None]


class RunStore:
    """The run half of the store, on the engine of a :class:`~data.store.store.Store`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- lifecycle --------------------------------------------------------------------------

    def queue_run(
        self,
        watermark: int,
        config: Mapping[str, Any],
        code_version: str | None,
        *,
        queue_key: str,
        in_transaction: InTransaction | None = None,
    ) -> tuple[RunRecord, bool]:
        """The pending run queued with ``queue_key`` and False, or a new one and True.

        The database allows one pending run per key (``ix_runs_queue_key``), so two identical
        requests arriving together cannot both create one: the second insert is refused and
        returns the first request's run. A run that has started no longer holds its key, so
        the same request queues anew once the earlier run is under way.
        """
        for _ in range(3):
            waiting = self._pending_with(queue_key)
            if waiting is not None:
                return waiting, False
            try:
                created = self.create_run(
                    watermark,
                    config,
                    code_version,
                    queue_key=queue_key,
                    in_transaction=in_transaction,
                )
            except sa.exc.IntegrityError as error:
                # Another request queued the same run since the lookup: return that one.
                refused = error
                continue
            return created, True
        raise StoreError(f"cannot queue a run with key {queue_key}: {refused.orig}")

    def _pending_with(self, queue_key: str) -> RunRecord | None:
        query = sa.select(runs_table).where(
            runs_table.c.queue_key == queue_key,
            runs_table.c.status == RunStatus.PENDING.value,
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return RunRecord.from_row(row) if row is not None else None

    def create_run(
        self,
        watermark: int,
        config: Mapping[str, Any],
        code_version: str | None = None,
        *,
        queue_key: str | None = None,
        in_transaction: InTransaction | None = None,
    ) -> RunRecord:
        """Record a pending run that will read the store as of upload ``watermark``.

        ``in_transaction`` is called with the connection and the new record before the
        transaction commits (the store writes the audit row there), so both commit or neither.
        """
        if isinstance(watermark, bool) or not isinstance(watermark, int | np.integer):
            raise StoreError(f"a run's watermark is an upload id (int), not {watermark!r}")
        config_text = _json_text(config, "config")
        with self.engine.begin() as connection:
            newest = connection.execute(sa.select(sa.func.max(uploads_table.c.id))).scalar()
            known = None
            if 0 < int(watermark) <= MAX_ID:  # PostgreSQL refuses to compare any other
                known = connection.execute(
                    sa.select(uploads_table.c.id).where(uploads_table.c.id == int(watermark))
                ).first()
            if known is None:
                raise UnknownUpload(
                    f"cannot create a run as of upload {watermark}: no upload has that id "
                    f"(the newest upload is {newest or 'none'})"
                )
            row = connection.execute(
                runs_table.insert()
                .values(
                    status=RunStatus.PENDING.value,
                    watermark=int(watermark),
                    config=config_text,
                    code_version=code_version,
                    created_at=datetime.now(UTC),
                    served=False,
                    queue_key=queue_key,
                )
                .returning(*runs_table.c)
            ).one()
            record = RunRecord.from_row(row)
            if in_transaction is not None:
                in_transaction(connection, record)
        return record

    def start_run(self, run_id: int, *, in_transaction: InTransaction | None = None) -> RunRecord:
        """pending → running (``in_transaction`` as in :meth:`create_run`)."""
        with self.engine.begin() as connection:
            record = self._transition(
                connection,
                run_id,
                "start",
                (RunStatus.PENDING,),
                status=RunStatus.RUNNING.value,
                started_at=datetime.now(UTC),
            )
            if in_transaction is not None:
                in_transaction(connection, record)
            return record

    def finish_run(
        self,
        run_id: int,
        outputs: Mapping[str, pd.DataFrame],
        *,
        metrics: Mapping[str, Any],
        timings: Mapping[str, float],
        artifacts: Mapping[str, bytes | ArtifactFile] | None = None,
        serve: InTransaction | None = None,
    ) -> RunRecord:
        """running → succeeded, writing every output and artifact in the same transaction.

        Frames and artifacts are checked before anything is written (see :func:`prepare_output`
        and :func:`prepare_artifacts`); if the database still refuses a row, everything written
        by this call is rolled back and the run stays running, without outputs or artifacts.
        With ``serve`` the run is also served in that transaction (see :meth:`serve_within`,
        then ``serve`` is called as ``in_transaction`` in :meth:`create_run`), so that no reader
        ever sees it succeeded but not yet served.
        """
        prepared = {name: prepare_output(name, frame) for name, frame in outputs.items()}
        blobs = prepare_artifacts(artifacts or {})
        metrics_text = _json_text(metrics, "metrics")
        timings_text = _json_text(_timings(timings), "timings")
        with self.engine.begin() as connection:
            # The status changes first: it locks the run, so a concurrent fail_run waits for
            # this transaction and then finds the run succeeded (or running, if we rolled back).
            record = self._transition(
                connection,
                run_id,
                "finish",
                (RunStatus.RUNNING,),
                status=RunStatus.SUCCEEDED.value,
                finished_at=datetime.now(UTC),
                metrics=metrics_text,
                timings=timings_text,
            )
            created_at = datetime.now(UTC)
            for name, blob in blobs.items():
                # One statement per artifact: a batch of several would be one message of their
                # total size (hex-encoded on PostgreSQL, so twice that). A spooled one is read
                # here, so that one artifact at a time is in memory.
                content = blob.read() if isinstance(blob, ArtifactFile) else blob
                connection.execute(
                    artifacts_table.insert().values(
                        run_id=run_id,
                        name=name,
                        content=content,
                        size_bytes=len(content),
                        created_at=created_at,
                    )
                )
            _insert_outputs(connection, run_id, prepared)
            if serve is not None:
                record = self.serve_within(connection, run_id)
                serve(connection, record)
        return record

    def add_outputs(self, run_id: int, outputs: Mapping[str, pd.DataFrame]) -> None:
        """Write outputs of a running run in a transaction of their own (see
        :meth:`data.store.Store.add_outputs`); every frame is checked before any is written."""
        prepared = {name: prepare_output(name, frame) for name, frame in outputs.items()}
        with self.engine.begin() as connection:
            # An update to the same status: it refuses a run that is not running, and locks
            # the run, so that a concurrent fail_run waits and then removes these rows too.
            self._transition(
                connection,
                run_id,
                "add outputs to",
                (RunStatus.RUNNING,),
                status=RunStatus.RUNNING.value,
            )
            _insert_outputs(connection, run_id, prepared)

    def fail_run(self, run_id: int, error: str) -> RunRecord:
        """pending or running → failed, recording why; a failed run keeps no outputs or
        artifacts."""
        with self.engine.begin() as connection:
            record = self._transition(
                connection,
                run_id,
                "fail",
                (RunStatus.PENDING, RunStatus.RUNNING),
                status=RunStatus.FAILED.value,
                finished_at=datetime.now(UTC),
                error=str(error),
            )
            for table in OUTPUT_TABLES.values():
                connection.execute(table.delete().where(table.c.run_id == run_id))
            connection.execute(artifacts_table.delete().where(artifacts_table.c.run_id == run_id))
        return record

    def set_served(self, run_id: int, *, in_transaction: InTransaction | None = None) -> RunRecord:
        """Make a succeeded run the one the API serves, unserving the previous one atomically.

        Promotions take turns: on PostgreSQL through a transaction-scoped advisory lock (two at
        once would otherwise collide, or deadlock, on the index of served runs); SQLite admits
        one writer at a time anyway. A unique partial index keeps one served run at most even
        for writes that bypass this method. ``in_transaction`` is called as in
        :meth:`create_run`.
        """
        _check_id(run_id)
        with self.engine.begin() as connection:
            record = self.serve_within(connection, run_id)
            if in_transaction is not None:
                in_transaction(connection, record)
        return record

    @staticmethod
    def serve_within(connection: sa.Connection, run_id: int) -> RunRecord:
        """Serve a succeeded run instead of the previous one, within ``connection``'s
        transaction (see :meth:`set_served`)."""
        if connection.dialect.name == "postgresql":
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_SERVE_LOCK)))
        connection.execute(
            runs_table.update()
            .where(runs_table.c.served, runs_table.c.id != run_id)
            .values(served=False)
        )
        row = connection.execute(
            runs_table.update()
            .where(
                runs_table.c.id == run_id,
                runs_table.c.status == RunStatus.SUCCEEDED.value,
            )
            .values(served=True)
            .returning(*runs_table.c)
        ).first()
        if row is None:
            current = _current(connection, run_id)
            raise StoreError(
                f"cannot serve run {run_id}: it is {current.status}; only a succeeded run "
                "can be served"
            )
        return RunRecord.from_row(row)

    def _transition(
        self,
        connection: sa.Connection,
        run_id: int,
        action: str,
        allowed: tuple[RunStatus, ...],
        **values: Any,
    ) -> RunRecord:
        _check_id(run_id)
        row = connection.execute(
            runs_table.update()
            .where(runs_table.c.id == run_id, runs_table.c.status.in_([s.value for s in allowed]))
            .values(**values)
            .returning(*runs_table.c)
        ).first()
        if row is None:
            current = _current(connection, run_id)
            expected = " or ".join(status.value for status in allowed)
            raise StoreError(
                f"cannot {action} run {run_id}: it is {current.status}, and only a {expected} "
                f"run can {action}"
            )
        return RunRecord.from_row(row)

    # -- reads ------------------------------------------------------------------------------

    def run(self, run_id: int) -> RunRecord:
        with self.engine.connect() as connection:
            return _current(connection, run_id)

    def runs(
        self, status: str | None = None, limit: int | None = None, *, offset: int = 0
    ) -> list[RunRecord]:
        """Runs, newest first, optionally of one status; ``limit`` of them after ``offset``."""
        query = _runs_where(sa.select(runs_table), status).order_by(runs_table.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        if offset:
            query = query.offset(offset)
        with self.engine.connect() as connection:
            return [RunRecord.from_row(row) for row in connection.execute(query)]

    def count_runs(self, status: str | None = None) -> int:
        query = _runs_where(sa.select(sa.func.count()).select_from(runs_table), status)
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def served_run(self) -> RunRecord | None:
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(runs_table).where(runs_table.c.served)).first()
        return RunRecord.from_row(row) if row is not None else None

    def latest_run(self, status: str | None = RunStatus.SUCCEEDED) -> RunRecord | None:
        """The newest run of ``status`` (any status with ``None``), or None if there is none."""
        found = self.runs(status=status, limit=1)
        return found[0] if found else None

    def run_output(self, run_id: int, name: str, **filters: Any) -> pd.DataFrame:
        """Rows of output ``name`` of a run, sorted by the output's key, without ``run_id``.

        ``filters`` are equality conditions on columns (``kind="hiring"``); a list, tuple or set
        means "any of these"; ``None`` means the value is missing.
        """
        spec = _spec(name)
        table = OUTPUT_TABLES[name]
        conditions = [table.c.run_id == run_id]
        for column_name, value in filters.items():
            conditions.append(_filter(name, table, column_name, value))
        query = sa.select(*(table.c[c] for c in spec.names)).where(*conditions)
        with self.engine.connect() as connection:
            _current(connection, run_id)
            frame = pd.read_sql(query, connection)
        frame = _typed(spec, frame)
        return frame.sort_values(list(spec.key), kind="stable").reset_index(drop=True)

    def run_artifact(self, run_id: int, name: str) -> bytes:
        """The content of one artifact of a run, exactly the bytes ``finish_run`` was given."""
        _check_id(run_id)
        query = sa.select(artifacts_table.c.content).where(
            artifacts_table.c.run_id == run_id, artifacts_table.c.name == name
        )
        with self.engine.connect() as connection:
            content = connection.execute(query).scalar()
            if content is None:
                _current(connection, run_id)
                names = _artifact_names(connection, run_id)
                existing = f"its artifacts are {names}" if names else "it has no artifacts"
                raise UnknownArtifact(f"run {run_id} has no artifact {name!r}; {existing}")
        # psycopg and sqlite3 answer bytes already (then this is no copy); other drivers may
        # answer a memoryview.
        return bytes(content)

    def run_artifact_names(self, run_id: int) -> list[str]:
        """Names of a run's artifacts, sorted (without reading their content)."""
        with self.engine.connect() as connection:
            _current(connection, run_id)
            return _artifact_names(connection, run_id)


# -- output frames and artifacts -------------------------------------------------------------


@dataclass(frozen=True)
class ArtifactFile:
    """An artifact's content in a file, read only when it is written to the store.

    A run of many regions serialises each region's samples as soon as they are computed; kept
    as bytes, they would add up to the whole nation's samples in memory before the run is
    stored. Spooled to files and read one at a time inside the storing transaction, memory
    holds one region's at most. A path must be wrapped explicitly: a bare path (or text) is
    still refused, so that nothing is silently stored as its name."""

    path: Path

    def read(self) -> bytes:
        return self.path.read_bytes()


def _insert_outputs(
    connection: sa.Connection, run_id: int, prepared: Mapping[str, pd.DataFrame]
) -> None:
    for name, table in OUTPUT_TABLES.items():  # a fixed order: fewer deadlocks
        if name in prepared:
            bulk_insert(connection, table, prepared[name].assign(run_id=run_id))


def prepare_artifacts(artifacts: Mapping[str, Any]) -> dict[str, bytes | ArtifactFile]:
    """Check artifacts before writing and return their contents by name.

    Names are non-empty text of at most the column's length; contents are bytes-like (``bytes``,
    ``bytearray``, ``memoryview``) or an :class:`ArtifactFile` naming an existing file, so that
    what is read back is byte-for-byte what was given. Anything else (an array, a bare path,
    text) is refused rather than silently converted.
    """
    if not isinstance(artifacts, Mapping):
        raise StoreError(f"artifacts must be a mapping of names to bytes, not {artifacts!r}")
    length: int | None = getattr(artifacts_table.c.name.type, "length", None)
    result: dict[str, bytes | ArtifactFile] = {}
    for name, content in artifacts.items():
        if not isinstance(name, str) or not name or (length is not None and len(name) > length):
            raise StoreError(
                f"artifact name {name!r}: a name is non-empty text of at most {length} characters"
            )
        if isinstance(content, ArtifactFile):
            if not content.path.is_file():
                raise StoreError(f"artifact {name!r}: its file {content.path} does not exist")
            result[name] = content
            continue
        if not isinstance(content, bytes | bytearray | memoryview):
            raise StoreError(
                f"artifact {name!r} must be bytes (e.g. the output of numpy.savez_compressed "
                f"into io.BytesIO) or an ArtifactFile, not {type(content).__name__}"
            )
        result[name] = bytes(content)
    return result


def prepare_output(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Check a frame against output ``name`` and return it with the table's dtypes.

    Refused, with the output, column and first bad row named: unknown outputs, extra or
    duplicated columns, missing required columns, values of the wrong type, missing values in
    required columns, infinite numbers (the API could not send them as JSON), text longer than
    the column, and repeated keys of outputs whose key is unique. Optional columns may be left
    out (they are stored as NULL).
    """
    spec = _spec(name)
    if not isinstance(frame, pd.DataFrame):
        raise StoreError(f"output '{name}' must be a pandas DataFrame, not {type(frame).__name__}")
    columns = [str(c) for c in frame.columns]
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise StoreError(f"output '{name}': duplicated columns {duplicated}")
    extra = [c for c in columns if c not in spec.names]
    if extra:
        note = " (the store sets run_id)" if "run_id" in extra else ""
        raise StoreError(
            f"output '{name}': unknown columns {extra}{note}; its columns are {list(spec.names)}"
        )
    missing = [c.name for c in spec.columns if not c.nullable and c.name not in columns]
    if missing:
        raise StoreError(f"output '{name}': missing required columns {missing}")
    frame = frame.set_axis(columns, axis=1)
    typed = {  # positions, not labels: a concatenated frame may repeat index labels
        column.name: _coerce(name, column, frame[column.name]).reset_index(drop=True)
        for column in spec.columns
        if column.name in columns
    }
    result = pd.DataFrame(typed)
    if spec.unique:
        repeated = result.duplicated(list(spec.key), keep=False).to_numpy()
        if repeated.any():
            first = int(np.argmax(repeated))
            key = {k: _plain_scalar(result.at[first, k]) for k in spec.key}
            raise StoreError(
                f"output '{name}': key {key} appears {int(repeated.sum())} times "
                f"(first at {_row(frame, first)}); each {tuple(spec.key)} must be unique per run"
            )
    return result


def _coerce(name: str, column: OutputColumn, values: pd.Series) -> pd.Series:
    where = f"output '{name}', column '{column.name}'"
    missing = values.isna().to_numpy()
    if not column.nullable:
        _refuse(missing, values, f"{where}: missing value (NaN/None) in a required column")
    python_type = column.type.python_type
    if python_type is str:
        _refuse(_wrong(values, missing, str), values, f"{where}: expected text")
        text = values.astype(object).where(~missing, None)
        length = getattr(column.type, "length", None)
        if length is not None:
            too_long = np.array([v is not None and len(v) > length for v in text], dtype=bool)
            _refuse(too_long, values, f"{where}: text longer than {length} characters")
        return text
    if python_type is bool:
        _refuse(_wrong(values, missing, bool | np.bool_), values, f"{where}: expected True/False")
        return values.astype("boolean")
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        numeric = int | float | np.integer | np.floating
        wrong = _wrong(values, missing, numeric) | np.array(
            [isinstance(v, bool | np.bool_) for v in values], dtype=bool
        )
        _refuse(wrong, values, f"{where}: expected a number")
    floats = pd.to_numeric(values.astype(object).where(~missing, np.nan)).astype(float)
    _refuse(~missing & ~np.isfinite(floats.to_numpy()), values, f"{where}: infinite value")
    if python_type is float:
        return floats
    fractional = ~missing & (np.mod(floats.fillna(0).to_numpy(), 1) != 0)
    _refuse(fractional, values, f"{where}: expected a whole number")
    return floats.round().astype("Int64")


def _wrong(values: pd.Series, missing: np.ndarray, accepted: Any) -> np.ndarray:
    """Rows whose value is present but not an instance of ``accepted``."""
    return np.array(
        [not (gone or isinstance(v, accepted)) for v, gone in zip(values, missing, strict=True)],
        dtype=bool,
    )


def _refuse(bad: np.ndarray, values: pd.Series, problem: str) -> None:
    if bad.any():
        first = int(np.argmax(bad))
        count = int(bad.sum())
        raise StoreError(
            f"{problem}: {count} row{'s' if count > 1 else ''}, first at "
            f"{_row(values, first)} (value {_plain_scalar(values.iloc[first])!r})"
        )


def _plain_scalar(value: Any) -> Any:
    """NumPy scalars as Python values, so that messages read ``nan`` and not ``np.float64``."""
    return value.item() if isinstance(value, np.generic) else value


def _row(data: pd.Series | pd.DataFrame, position: int) -> str:
    """Name a row by its position, and by its index label when that differs."""
    label = data.index[position]
    return f"row {position}" if label == position else f"row {position} (index {label!r})"


def _typed(spec: OutputSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """Give read frames the dtypes writes accept: float64, Int64, boolean, object text."""
    dtypes: dict[str, Any] = {}
    for column in spec.columns:
        python_type = column.type.python_type
        if python_type is float:
            dtypes[column.name] = float
        elif python_type is int:
            dtypes[column.name] = "Int64"
        elif python_type is bool:
            dtypes[column.name] = "boolean"
        else:
            dtypes[column.name] = object
    out = frame.astype(dtypes)
    text = [c.name for c in spec.columns if c.type.python_type is str]
    out[text] = out[text].where(out[text].notna(), None)
    return out


def _filter(name: str, table: sa.Table, column_name: str, value: Any) -> Any:
    spec = OUTPUT_SPECS[name]
    if column_name not in spec.names:
        raise StoreError(
            f"cannot filter output '{name}' by '{column_name}': its columns are {list(spec.names)}"
        )
    column = table.c[column_name]
    python_type = column.type.python_type
    if value is None:
        return column.is_(None)
    if isinstance(value, list | tuple | set | frozenset):
        return column.in_([_filter_value(python_type, column_name, item) for item in value])
    return column == _filter_value(python_type, column_name, value)


def _filter_value(python_type: type, column_name: str, value: Any) -> Any:
    """Check a filter value's type: PostgreSQL refuses to compare text with numbers."""
    if isinstance(value, np.generic):
        value = value.item()
    accepted: tuple[type, ...] = (int, float) if python_type is float else (python_type,)
    if not isinstance(value, accepted) or (python_type is not bool and isinstance(value, bool)):
        raise StoreError(f"filter {column_name}={value!r}: expected {python_type.__name__} values")
    return value


# -- helpers ---------------------------------------------------------------------------------


def _spec(name: str) -> OutputSpec:
    try:
        return OUTPUT_SPECS[name]
    except KeyError:
        raise StoreError(
            f"unknown run output '{name}'; outputs are {sorted(OUTPUT_SPECS)}"
        ) from None


def _status(status: str) -> RunStatus:
    try:
        return RunStatus(status)
    except ValueError:
        raise StoreError(
            f"unknown run status '{status}'; statuses are {[s.value for s in RunStatus]}"
        ) from None


def _artifact_names(connection: sa.Connection, run_id: int) -> list[str]:
    # Sorted here, not by the database: PostgreSQL's collation may order text differently.
    query = sa.select(artifacts_table.c.name).where(artifacts_table.c.run_id == run_id)
    return sorted(str(name) for name in connection.execute(query).scalars())


def _check_id(run_id: int) -> None:
    """No run has an id past the column's range, and PostgreSQL would refuse to compare one:
    say so before asking it."""
    if not 0 < run_id <= MAX_ID:
        raise UnknownRun(f"no run with id {run_id}")


def _current(connection: sa.Connection, run_id: int) -> RunRecord:
    _check_id(run_id)
    row = connection.execute(sa.select(runs_table).where(runs_table.c.id == run_id)).first()
    if row is None:
        raise UnknownRun(f"no run with id {run_id}")
    return RunRecord.from_row(row)


def _utc(value: datetime) -> datetime:
    """SQLite keeps no zone (the store always writes UTC); PostgreSQL answers in its own."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _maybe_utc(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


def _timings(timings: Mapping[str, Any]) -> dict[str, float]:
    result: dict[str, float] = {}
    for stage, seconds in timings.items():
        if isinstance(seconds, bool) or not isinstance(seconds, int | float | np.number):
            raise StoreError(f"timings['{stage}'] must be a number of seconds, not {seconds!r}")
        result[str(stage)] = float(seconds)
    return result


def _json_text(value: Mapping[str, Any], what: str) -> str:
    """JSON of a config, metrics or timings mapping, refused with the path of a bad value.

    NaN and infinity are refused rather than written as the non-standard ``NaN`` that the API
    could not return as JSON.
    """
    if not isinstance(value, Mapping):
        raise StoreError(f"{what} must be a mapping, not {type(value).__name__}")
    return json.dumps(_plain(value, what), sort_keys=True, ensure_ascii=False, allow_nan=False)


def _plain(value: Any, path: str) -> Any:
    """Plain JSON values from what pipelines produce (NumPy scalars, tuples)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise StoreError(f"{path} is {value}: only finite numbers can be stored")
        return value
    if isinstance(value, Mapping):
        plain: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise StoreError(f"{path} has a key {key!r}: keys must be text")
            plain[key] = _plain(item, f"{path}[{key!r}]")
        return plain
    if isinstance(value, Sequence | np.ndarray) and not isinstance(value, bytes | bytearray):
        items: Iterable[Any] = value.tolist() if isinstance(value, np.ndarray) else value
        return [_plain(item, f"{path}[{i}]") for i, item in enumerate(items)]
    raise StoreError(f"{path} is a {type(value).__name__}, which cannot be stored as JSON")


def _runs_where(query: sa.Select[Any], status: str | None) -> sa.Select[Any]:
    if status is not None:
        query = query.where(runs_table.c.status == _status(status).value)
    return query
