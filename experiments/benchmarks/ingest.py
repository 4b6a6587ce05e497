"""Ingestion throughput for a million-row upload, on SQLite and PostgreSQL.

Measures, per backend, the full path a user's file takes (read → validate → hash → store in one
transaction) and the store write alone, and compares the write with two baselines measured in
the same run on the same rows: pandas ``DataFrame.to_sql`` (what an analyst would write) and
row-by-row INSERTs through SQLAlchemy (what a naive ORM loop does). Baselines run on a slice
and are reported as rows/second, so the ratio is independent of the slice size.

    python experiments/benchmarks/ingest.py --rows 1000000 \
        --postgres postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from data.ingest import IngestOptions, ingest_file, open_store
from data.readers import read_table
from data.store import Store
from data.store.engine import normalise_url
from data.store.tables import observations, uploads
from data.validation import ValidationContext, validate
from data.vocabulary import Kind
from experiments.benchmarks.recording import command_line, record

DISTRICTS = [f"1201{n:02d}" for n in (1, 2, 3, 4, 5, 6, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19)]
LEVELS = ["secondary_vocational", "higher_vocational", "bachelor", "master", "doctor", "all"]


def hiring_file(rows: int, fields: list[str], seed: int = 7) -> bytes:
    """A monthly hiring CSV with ``rows`` distinct keys (periods × fields × levels × regions)."""
    rng = np.random.default_rng(seed)
    regions = ["120000", *DISTRICTS]
    per_month = len(fields) * len(LEVELS) * len(regions)
    months = -(-rows // per_month)
    periods = pd.period_range(end="2025-12", periods=months, freq="M").strftime("%Y-%m")
    grid = pd.MultiIndex.from_product(
        [periods, fields, LEVELS, regions], names=["period", "field_code", "level", "region"]
    ).to_frame(index=False)
    grid = grid.iloc[:rows]
    grid["postings"] = rng.poisson(200, size=len(grid))
    grid["job_seekers"] = rng.poisson(150, size=len(grid))
    return grid.to_csv(index=False).encode()


@contextmanager
def backend(name: str, postgres: str | None, folder: Path) -> Iterator[str]:
    """A URL of an empty database; PostgreSQL gets a throw-away schema."""
    if name == "sqlite":
        yield f"sqlite:///{folder / f'bench-{uuid.uuid4().hex[:6]}.db'}"
        return
    assert postgres is not None
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(normalise_url(postgres))
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = normalise_url(postgres).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def baseline_rates(store: Store, typed: pd.DataFrame, rows: int) -> dict[str, float]:
    """Rows/second of two common alternatives, on a fresh copy of the observation table."""
    sample = typed.head(rows).rename(columns={"_row": "row_number"}).assign(freq="M")
    table = observations[Kind.HIRING]
    rates: dict[str, float] = {}
    with store.engine.begin() as connection:
        upload_id = connection.execute(
            uploads.insert()
            .values(
                kind="bench",
                uploader="bench",
                content_sha256=uuid.uuid4().hex,
                row_count=0,
                replaced_rows=0,
                status="accepted",
                created_at=datetime.now(UTC),
            )
            .returning(uploads.c.id)
        ).scalar_one()
    sample = sample.assign(upload_id=upload_id)
    columns = [c.name for c in table.columns if c.name in sample.columns]

    def to_sql() -> None:
        with store.engine.begin() as connection:
            sample.loc[:, columns].to_sql(
                table.name, connection, if_exists="append", index=False, chunksize=10_000
            )

    rates["pandas to_sql"] = len(sample) / timed(to_sql)
    records = sample.loc[:, columns].astype(object).where(sample.notna(), None).to_dict("records")
    few = records[: max(1, len(records) // 5)]
    with store.engine.begin() as connection:
        connection.execute(table.delete().where(table.c.upload_id == upload_id))

    def row_by_row() -> None:
        with store.engine.begin() as connection:
            for record_ in few:
                connection.execute(table.insert().values(**record_))

    rates["row-by-row INSERT"] = len(few) / timed(row_by_row)
    return rates


def run(rows: int, postgres: str | None, baseline_rows: int) -> dict[str, pd.DataFrame]:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        backends = ["sqlite"] + (["postgresql"] if postgres else [])
        for name in backends:
            with backend(name, postgres, folder) as url:
                store = open_store(url)
                catalog = store.catalog()
                fields = list(catalog.field_codes)
                content = hiring_file(rows, fields)
                options = IngestOptions(max_bytes=len(content) + 1)

                start = time.perf_counter()
                table = read_table(content, "hiring.csv", max_bytes=options.max_bytes)
                t_read = time.perf_counter() - start
                typed = validate(table, Kind.HIRING, ValidationContext(catalog))
                t_validate = time.perf_counter() - start - t_read

                start = time.perf_counter()
                stored = ingest_file(
                    store,
                    Kind.HIRING,
                    content,
                    filename="hiring.csv",
                    uploader="bench",
                    options=options,
                )
                t_full = time.perf_counter() - start
                assert stored.created
                assert stored.upload.row_count == rows

                # The write alone: the same rows as a second upload (different content hash).
                shifted = typed.assign(postings=typed["postings"] + 1)
                start = time.perf_counter()
                store.add_observations(Kind.HIRING, shifted, uploader="b")
                t_write = time.perf_counter() - start
                rates = baseline_rates(store, typed, baseline_rows)
                write_rate = rows / t_write
                results.append(
                    {
                        "backend": name,
                        "rows": rows,
                        "file MB": round(len(content) / 1e6, 1),
                        "read s": round(t_read, 2),
                        "validate s": round(t_validate, 2),
                        "full ingest s": round(t_full, 2),
                        "full ingest rows/s": int(rows / t_full),
                        "store write s": round(t_write, 2),
                        "store write rows/s": int(write_rate),
                        "to_sql rows/s": int(rates["pandas to_sql"]),
                        "row-by-row rows/s": int(rates["row-by-row INSERT"]),
                        "write vs to_sql": round(write_rate / rates["pandas to_sql"], 1),
                        "write vs row-by-row": round(write_rate / rates["row-by-row INSERT"], 1),
                    }
                )
                store.dispose()
    return {"Ingestion of a monthly hiring file": pd.DataFrame(results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--baseline-rows", type=int, default=100_000)
    parser.add_argument("--postgres", default=None, help="PostgreSQL URL (omit to skip)")
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args()
    tables = run(args.rows, args.postgres, args.baseline_rows)
    for title, table in tables.items():
        print(f"\n{title}\n")
        print(table.to_markdown(index=False))
    if not args.no_record:
        notes = (
            "full ingest = read + validate + content hash + one-transaction write (COPY on "
            "PostgreSQL, executemany on SQLite); baselines on the first "
            f"{args.baseline_rows:,} rows (row-by-row on a fifth of them), same run"
        )
        print("\nrecorded in", record("ingest", command_line(), tables, notes))


if __name__ == "__main__":
    main()
