"""Database engines for the store: an SQLite file by default, PostgreSQL by URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url


def normalise_url(url: str | URL) -> URL:
    """Accept the URLs people write (``postgresql://...``) and pick the driver we ship.

    psycopg 3 is the PostgreSQL driver (it has COPY for bulk loads); a URL that already names a
    driver is left alone.
    """
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def is_postgresql(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def create_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine with the settings the store relies on for each backend.

    SQLite gets WAL journalling (API readers are not blocked by a retrain writing), a busy
    timeout instead of immediate "database is locked" errors, and foreign keys switched on;
    the parent folder of the database file is created so the default ``var/`` works on a
    fresh checkout.
    """
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, connect_args={"timeout": 30}, **kwargs)
        sa.event.listen(engine, "connect", _sqlite_on_connect)
        return engine
    return sa.create_engine(parsed, pool_pre_ping=True, **kwargs)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()
