"""The demo as it was known at the end of a year: for replaying a past training run and then
loading what happened afterwards (``GET /accuracy`` scores such vintages)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from data.catalog import load_default_catalog
from data.demo.generator import generate
from data.ingest import IngestOptions, ensure_catalog, ingest_file
from data.store import Store, StoredUpload
from data.vocabulary import Kind


def load_demo_until(
    store: Store, year: int | None, options: IngestOptions | None = None
) -> list[StoredUpload]:
    """Ingest every demo upload keeping only the rows known at the end of ``year`` (observed
    in or before it; surveys filed by then); ``None`` loads everything. Later calls with a later
    year (or None) add what arrived since: rows already stored are identical, not duplicated.
    Tianjin's catalog is loaded first if the store has none."""
    catalog = load_default_catalog()
    ensure_catalog(store, catalog)
    stored = []
    for upload in generate(catalog).uploads:
        kind = Kind(upload.kind)
        frame = upload.frame if year is None else known_by(upload.frame, kind, year)
        if frame.empty:
            continue
        name = Path(upload.filename).with_suffix(".csv").name
        content = frame.to_csv(index=False).encode("utf-8")
        stored.append(
            ingest_file(
                store, kind, content, filename=name, uploader=upload.uploader, options=options
            )
        )
    return stored


def known_by(frame: pd.DataFrame, kind: Kind, year: int) -> pd.DataFrame:
    """The rows of one upload that were known at the end of ``year``."""
    if kind is Kind.HIRING:
        return frame[frame["period"].astype(str).str[:4].astype(int) <= year]
    if kind is Kind.DEMAND_SURVEY:
        return frame[frame["survey_year"].astype(int) <= year]
    return frame[frame["year"].astype(int) <= year]
