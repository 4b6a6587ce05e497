"""Fast bulk inserts inside an open transaction.

PostgreSQL gets ``COPY ... FROM STDIN`` through psycopg (an order of magnitude faster than
INSERTs); SQLite gets one prepared statement executed over all rows. Both run on the DBAPI
connection of the caller's SQLAlchemy transaction, so a failure rolls back with everything else.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa

_BATCH_ROWS = 50_000


def python_rows(frame: pd.DataFrame, columns: Sequence[str]) -> Iterator[tuple[Any, ...]]:
    """Rows as tuples of plain Python values with ``None`` for missing ones.

    Database drivers do not adapt NumPy scalars or ``pd.NA``; converting column by column with
    ``tolist`` is much faster than converting cell by cell.
    """
    values: list[list[Any]] = []
    for column in columns:
        series = frame[column]
        items = series.astype(object).tolist()
        if series.hasnans:
            missing = series.isna().tolist()
            items = [None if gone else item for item, gone in zip(items, missing, strict=True)]
        values.append(items)
    return zip(*values, strict=True)


def bulk_insert(connection: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> int:
    """Insert every row of ``frame`` (columns named as in ``table``) and return the count."""
    if frame.empty:
        return 0
    columns = [c.name for c in table.columns if c.name in frame.columns]
    rows = python_rows(frame, columns)
    dbapi = connection.connection.dbapi_connection
    if dbapi is None:  # pragma: no cover - a live transaction always has one
        raise RuntimeError("bulk_insert needs a connection inside a transaction")
    dbapi_error = connection.dialect.loaded_dbapi.Error
    try:
        if connection.dialect.name == "postgresql":
            _copy_rows(connection, dbapi, table, columns, rows)
        else:
            _execute_many(connection, dbapi, table, columns, rows)
    except dbapi_error as error:
        # Same exception types as statements run through SQLAlchemy (IntegrityError, ...).
        raise sa.exc.DBAPIError.instance(
            f"bulk insert into {table.name}", None, error, dbapi_error, dialect=connection.dialect
        ) from error
    return len(frame)


def _copy_rows(
    connection: sa.Connection,
    dbapi: Any,
    table: sa.Table,
    columns: list[str],
    rows: Iterator[tuple[Any, ...]],
) -> None:
    preparer = connection.dialect.identifier_preparer
    quoted = ", ".join(preparer.quote(c) for c in columns)
    statement = f"COPY {preparer.format_table(table)} ({quoted}) FROM STDIN"
    with dbapi.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def _execute_many(
    connection: sa.Connection,
    dbapi: Any,
    table: sa.Table,
    columns: list[str],
    rows: Iterator[tuple[Any, ...]],
) -> None:
    statement = str(table.insert().compile(dialect=connection.dialect, column_keys=columns))
    cursor = dbapi.cursor()
    try:
        batch: list[tuple[Any, ...]] = []
        for row in rows:
            batch.append(row)
            if len(batch) == _BATCH_ROWS:
                cursor.executemany(statement, batch)
                batch = []
        if batch:
            cursor.executemany(statement, batch)
    finally:
        cursor.close()
