"""The demo scaled to many cities: N perturbed copies of Tianjin, for a province or the nation.

A deployment that serves the cities of a province (or the provinces of the nation) is sized by
how many regions it forecasts; this module makes such a deployment's data from the demo, so
that its cost can be measured (and its coherence checked) at any N with one seed.

``national_demo(n_cities, seed)`` takes the demo's observations (every upload applied, as the
store holds them after loading the demo) and writes one copy per city, each perturbed by a
profile drawn from the seed:

- a **size** factor (log-normal, sd 0.5, kept within 0.2-5): a city of a fifth to five times
  Tianjin's intake, graduates, outcomes, postings and surveyed needs;
- a **field mix**: one factor per field (log-normal, sd 0.3), applied to the field's postings
  and surveys and to the programmes whose main field it is (a city strong in one industry
  trains and hires for it);
- **shocks**: one to three fields whose postings jump or slump (factor 0.6-1.5) from a year
  between 2016 and 2023 on (a plant opens, an industry moves away);
- row noise of 3% (2% on programmes, kept over a programme's years so that cohorts stay
  cohorts).

Outcome rows stay consistent (placed ≤ graduates, in field and local ≤ placed). Regions are
``xxyy00`` codes of the cities of ``parent`` (default Hebei, 130000: 130100, 130200, ...; at
most 99), or, with ``parent="100000"`` (the nation), the codes of the first N province-level
regions; one city is ``parent`` itself (a single-city deployment). The codes are only labels:
the data are Tianjin's, perturbed.

``load_national(store, demo)`` ingests the cities through the ordinary upload path (one upload
per kind and uploader, every city's rows in it), after Tianjin's catalog; a store configured
with ``TALENTCAST_CITY_REGION`` = ``demo.plan.top`` and ``TALENTCAST_REGIONS`` =
``demo.plan.regions`` trains on it. From the command line::

    python -m experiments.national --cities 20 --seed 7 --out var/national
    python -m experiments.national --cities 20 --seed 7 --database-url sqlite:///var/national.db

writes the uploads as CSV files (one folder per city) and/or loads them into a store, and
prints the settings to serve it with.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from data.catalog import Catalog, load_default_catalog
from data.demo.generator import DemoData, generate
from data.ingest import IngestOptions, ensure_catalog, ingest_file
from data.regions import NATION_REGION, RegionPlan
from data.store import Store, StoredUpload
from data.vocabulary import Kind
from features.rates import primary_fields

#: Province-level regions of GB/T 2260, in code order (the nation's regions).
PROVINCES: Final = tuple(
    f"{code}0000"
    for code in (
        *(11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37),
        *(41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65),
    )
)
DEFAULT_PARENT: Final = "130000"
SHOCK_YEARS: Final = (2016, 2023)
#: Who uploads what (surveys keep their association: it is part of their key).
COMMISSION: Final = "education_commission"
HR_BUREAU: Final = "hr_bureau"


@dataclass(frozen=True)
class CityProfile:
    """How one city differs from the demo: its size, field mix and postings shocks
    (field → (first year, factor))."""

    region: str
    size: float
    field_mix: dict[str, float]
    shocks: dict[str, tuple[int, float]]


@dataclass(frozen=True)
class NationalDemo:
    """The cities' profiles and their observations per kind (with a ``region`` column;
    surveys with their ``source``)."""

    seed: int
    plan: RegionPlan
    profiles: tuple[CityProfile, ...]
    observations: dict[Kind, pd.DataFrame]


def region_codes(n_cities: int, parent: str = DEFAULT_PARENT) -> tuple[str, ...]:
    """The codes of ``n_cities`` regions under ``parent`` (cities of a province, or
    provinces of the nation)."""
    if parent == NATION_REGION:
        if not 1 <= n_cities <= len(PROVINCES):
            raise ValueError(f"the nation has {len(PROVINCES)} provinces, asked for {n_cities}")
        return PROVINCES[:n_cities]
    if not 1 <= n_cities <= 99:
        raise ValueError(f"a province has at most 99 city codes, asked for {n_cities}")
    return tuple(f"{parent[:2]}{index:02d}00" for index in range(1, n_cities + 1))


def national_demo(
    n_cities: int,
    seed: int,
    *,
    parent: str = DEFAULT_PARENT,
    demo: DemoData | None = None,
    catalog: Catalog | None = None,
) -> NationalDemo:
    """``n_cities`` perturbed copies of the demo (``demo``: generated from Tianjin's catalog
    when not given), the same for the same seed."""
    regions = region_codes(n_cities, parent) if n_cities > 1 else (parent,)
    plan = RegionPlan.of(parent, regions)
    catalog = catalog if catalog is not None else load_default_catalog()
    demo = demo if demo is not None else generate(catalog)
    main_field = primary_fields(catalog).to_dict()
    fields = sorted(catalog.fields["field_code"])
    profiles = []
    parts: dict[Kind, list[pd.DataFrame]] = {kind: [] for kind in Kind}
    for index, region in enumerate(regions):
        rng = np.random.default_rng((seed, index))
        profile = _profile(region, fields, rng)
        profiles.append(profile)
        for kind in Kind:
            city = _perturb(kind, demo.observations(kind), profile, main_field, rng)
            parts[kind].append(city.assign(region=region))
    observations = {kind: pd.concat(frames, ignore_index=True) for kind, frames in parts.items()}
    return NationalDemo(seed, plan, tuple(profiles), observations)


def _profile(region: str, fields: list[str], rng: np.random.Generator) -> CityProfile:
    size = float(np.clip(rng.lognormal(0.0, 0.5), 0.2, 5.0))
    mix = {
        field: float(factor)
        for field, factor in zip(fields, rng.lognormal(0, 0.3, len(fields)), strict=True)
    }
    shocked = rng.choice(fields, size=int(rng.integers(1, 4)), replace=False)
    shocks = {
        str(field): (
            int(rng.integers(SHOCK_YEARS[0], SHOCK_YEARS[1] + 1)),
            float(rng.uniform(0.6, 1.5)),
        )
        for field in sorted(shocked)
    }
    return CityProfile(region, size, mix, shocks)


def _perturb(
    kind: Kind,
    frame: pd.DataFrame,
    profile: CityProfile,
    main_field: dict[str, str],
    rng: np.random.Generator,
) -> pd.DataFrame:
    """One city's copy of the demo's rows of ``kind`` (a new frame)."""
    out = frame.copy()
    if kind in (Kind.ENROLLMENT, Kind.GRADUATES, Kind.OUTCOMES):
        fields = out["programme_code"].map(main_field)
        mix = fields.map(profile.field_mix).fillna(1.0).to_numpy()
        # One factor per programme over its years: cohorts stay cohorts.
        keys = out["programme_code"] + "|" + out["level"]
        codes, position = np.unique(keys.to_numpy(dtype=str), return_inverse=True)
        noise = rng.normal(1.0, 0.02, codes.size)[position]
        factor = profile.size * mix * noise
        return _scaled(out, _COUNTS[kind], factor)
    mix = out["field_code"].map(profile.field_mix).fillna(1.0).to_numpy()
    factor = profile.size * mix * rng.normal(1.0, 0.03, len(out))
    if kind is Kind.HIRING:
        year = out["period"].str[:4].astype(int).to_numpy()
        for field, (start, shock) in profile.shocks.items():
            factor = np.where(
                (out["field_code"].to_numpy() == field) & (year >= start), factor * shock, factor
            )
    return _scaled(out, _COUNTS[kind], factor)


#: The count columns of each kind, parents before the parts that may not exceed them.
_COUNTS: Final[dict[Kind, tuple[str, ...]]] = {
    Kind.ENROLLMENT: ("enrolled",),
    Kind.GRADUATES: ("graduates",),
    Kind.OUTCOMES: ("graduates", "placed", "employed_in_field", "employed_locally"),
    Kind.HIRING: ("postings", "hires", "job_seekers"),
    Kind.DEMAND_SURVEY: ("headcount",),
}
#: Parts that may not exceed another column of the same row.
_BOUNDS: Final = {
    "placed": "graduates",
    "employed_in_field": "placed",
    "employed_locally": "placed",
}


def _scaled(frame: pd.DataFrame, columns: tuple[str, ...], factor: np.ndarray) -> pd.DataFrame:
    for column in columns:
        if column not in frame.columns:
            continue
        values = pd.to_numeric(frame[column]).astype(float) * factor
        rounded = values.round()
        bound = _BOUNDS.get(column)
        if bound is not None:
            rounded = np.minimum(rounded, frame[bound].astype(float))
        frame[column] = rounded.astype("Int64")
    return frame


def uploads(demo: NationalDemo) -> list[tuple[Kind, str, pd.DataFrame]]:
    """The national data as uploads: (kind, uploader, rows of every city)."""
    found: list[tuple[Kind, str, pd.DataFrame]] = []
    for kind, frame in demo.observations.items():
        if kind is Kind.DEMAND_SURVEY:
            for source, rows in frame.groupby("source", sort=True):
                found.append((kind, str(source), rows.drop(columns="source")))
        else:
            uploader = HR_BUREAU if kind is Kind.HIRING else COMMISSION
            found.append((kind, uploader, frame))
    return found


def options(demo: NationalDemo) -> IngestOptions:
    """The ingest options of a deployment serving ``demo``'s regions."""
    return IngestOptions(
        city_region=demo.plan.top, regions=() if demo.plan.single else demo.plan.regions
    )


def load_national(store: Store, demo: NationalDemo) -> list[StoredUpload]:
    """Ingest the national data (after Tianjin's catalog, if the store has none)."""
    ensure_catalog(store, load_default_catalog())
    stored = []
    for kind, uploader, frame in uploads(demo):
        content = frame.to_csv(index=False).encode("utf-8")
        name = f"national_{kind.value}_{uploader}.csv"
        stored.append(
            ingest_file(
                store, kind, content, filename=name, uploader=uploader, options=options(demo)
            )
        )
    return stored


def write_national(demo: NationalDemo, folder: Path | str) -> list[Path]:
    """One folder per city with its uploads as CSV files; the paths written."""
    written = []
    for kind, uploader, frame in uploads(demo):
        for region, rows in frame.groupby("region", sort=True):
            path = Path(folder) / str(region) / f"{kind.value}_{uploader}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(rows.to_csv(index=False, lineterminator="\n").encode("utf-8"))
            written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cities", type=int, required=True, help="how many regions")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--parent", default=DEFAULT_PARENT, help="province code, or 100000 for the nation"
    )
    parser.add_argument("--out", type=Path, help="folder to write the CSV files to")
    parser.add_argument("--database-url", help="store to load the uploads into")
    args = parser.parse_args(argv)
    demo = national_demo(args.cities, args.seed, parent=args.parent)
    if args.out is not None:
        print(f"wrote {len(write_national(demo, args.out))} files to {args.out}")
    if args.database_url:
        from data.ingest import open_store

        store = open_store(args.database_url)
        try:
            print(f"loaded {len(load_national(store, demo))} uploads into {args.database_url}")
        finally:
            store.dispose()
    regions = ",".join(demo.plan.regions) if not demo.plan.single else ""
    print(f"TALENTCAST_CITY_REGION={demo.plan.top} TALENTCAST_REGIONS={regions}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
