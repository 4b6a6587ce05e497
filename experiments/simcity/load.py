"""Loading a simulated city into a store as a sequence of yearly vintages.

The catalog comes first, then, year by year, one upload per kind with what became known that
year: the commission's enrollment, graduates and outcomes of the year, the HR bureau's hiring
periods of the year, each association's survey filed that year. "The store as of upload N" is
then the data known at some date, as it is in a real deployment, so a benchmark can train as
of any earlier year. Every file goes through :func:`data.ingest.ingest_file` (CSV bytes, full
validation), exactly the path of a real upload; file names carry the year (``hiring_2024.csv``).
"""

from __future__ import annotations

from typing import Final

import pandas as pd

from data.ingest import IngestOptions, ingest_catalog, ingest_file
from data.store import Store, StoredUpload
from data.vocabulary import Kind
from experiments.simcity.simulate import SimulatedCity

COMMISSION: Final = "sim_commission"
HR_BUREAU: Final = "sim_hr_bureau"
EDUCATION_KINDS: Final = (Kind.ENROLLMENT, Kind.GRADUATES, Kind.OUTCOMES)


def load_into_store(city: SimulatedCity, store: Store) -> list[StoredUpload]:
    """Ingest the city's catalog and then its observations, year by year (oldest first)."""
    catalog = city.catalog
    stored = [
        ingest_catalog(
            store,
            _csv(catalog.to_long_programmes()),
            fields=_csv(catalog.fields),
            uploader=COMMISSION,
            filename="programmes.csv",
        )
    ]
    # Validation bounds years by the clock unless told otherwise; the city's clock is its own.
    options = IngestOptions(max_year=city.last_year + 1)
    observations = city.observations
    years = sorted({int(y) for kind in EDUCATION_KINDS for y in observations[kind]["year"]})
    for year in years:
        for kind, part, uploader, name in vintage(city, year):
            stored.append(
                ingest_file(
                    store,
                    kind,
                    _csv(part),
                    filename=f"{name}_{year}.csv",
                    uploader=uploader,
                    options=options,
                )
            )
    return stored


def vintage(city: SimulatedCity, year: int) -> list[tuple[Kind, pd.DataFrame, str, str]]:
    """The uploads of one year: (kind, rows, uploader, file name stem), empty ones left out."""
    observations = city.observations
    parts: list[tuple[Kind, pd.DataFrame, str, str]] = []
    for kind in EDUCATION_KINDS:
        frame = observations[kind]
        parts.append((kind, frame[frame["year"] == year], COMMISSION, kind.value))
    hiring = observations[Kind.HIRING]
    in_year = hiring["period"].str[:4].astype(int) == year
    parts.append((Kind.HIRING, hiring[in_year], HR_BUREAU, "hiring"))
    surveys = observations[Kind.DEMAND_SURVEY]
    filed = surveys[surveys["survey_year"] == year]
    for source, rows in filed.groupby("source", sort=True):
        name = f"survey_{source}"
        parts.append((Kind.DEMAND_SURVEY, rows.drop(columns="source"), str(source), name))
    return [part for part in parts if not part[1].empty]


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode("utf-8")
