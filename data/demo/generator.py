"""Deterministic generator of the embedded demo dataset: a realistic Tianjin.

``generate(catalog)`` builds every upload of the demo as a canonical frame, plus the latent
truth behind it (city totals, programme lives, outcome rates, the supply-demand balance), so
that later backtests can score the product against what really happened in the demo city.
``write_files`` writes the uploads in their deliberately messy file shapes; the committed copy
under ``data/demo/files`` is regenerated with::

    python -m data.demo.generator --out data/demo/files

See ``data/demo/README.md`` for every assumption, calibration target and planted case.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from data.catalog import OTHER, Catalog, load_default_catalog
from data.demo.calibration import target_comparison
from data.demo.demand import build_demand
from data.demo.files import render
from data.demo.manifest import (
    ENROLLMENT,
    ENROLLMENT_CORRECTION,
    GRADUATES,
    HIRING,
    HIRING_CORRECTION,
    MANIFEST_FILE,
    OUTCOMES,
    FileSpec,
    survey_spec,
    upload_specs,
)
from data.demo.streams import stream
from data.demo.supply import build_supply
from data.schemas import SCHEMAS
from data.vocabulary import Kind

DEFAULT_SEED: Final = 20261129
CORRECTED_ENROLLMENT_YEAR: Final = 2024
CORRECTED_ENROLLMENT_ROWS: Final = 5
#: Latent truth written beside the uploads: truth table -> (file name, decimals kept).
TRUTH_FILES: Final[dict[str, tuple[str, int]]] = {
    "balance": ("truth_balance.csv", 1),
    "programmes": ("truth_programmes.csv", 4),
    "city_totals": ("truth_city_totals.csv", 1),
}


@dataclass(frozen=True)
class Upload:
    """One demo upload: how its file is written, and its rows in canonical form."""

    spec: FileSpec
    frame: pd.DataFrame

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def filename(self) -> str:
        return self.spec.filename

    @property
    def uploader(self) -> str:
        return self.spec.uploader


@dataclass(frozen=True)
class DemoData:
    """The demo: uploads in order, the latent truth, and what the writer needs to render them."""

    seed: int
    uploads: tuple[Upload, ...]
    truth: dict[str, pd.DataFrame]
    field_names_zh: dict[str, str]

    def upload(self, filename: str) -> Upload:
        return next(u for u in self.uploads if u.filename == filename)

    def observations(self, kind: Kind | str) -> pd.DataFrame:
        """What the store holds for ``kind`` after loading every upload (later ones supersede).

        Survey rows carry their ``source`` (the uploader), which is part of the stored key.
        """
        kind = Kind(kind)
        parts = []
        for order, upload in enumerate(self.uploads):
            if upload.kind != kind:
                continue
            frame = upload.frame.copy()
            if kind is Kind.DEMAND_SURVEY:
                frame["source"] = upload.uploader
            parts.append(frame.assign(_order=order))
        combined = pd.concat(parts, ignore_index=True)
        key = [k for k in SCHEMAS[kind].key if k in combined.columns]
        if kind is Kind.DEMAND_SURVEY:
            key.append("source")
        latest = combined.sort_values("_order", kind="stable").drop_duplicates(key, keep="last")
        return latest.drop(columns="_order").sort_values(key).reset_index(drop=True)


def generate(catalog: Catalog, seed: int = DEFAULT_SEED) -> DemoData:
    """Generate the whole demo for ``catalog`` (any valid catalog) from ``seed``."""
    supply = build_supply(catalog, seed)
    demand = build_demand(catalog, supply.rates, seed)
    enrollment_initial, enrollment_correction, corrected = _enrollment_correction(
        supply.enrollment, seed
    )
    frames: dict[str, pd.DataFrame] = {
        ENROLLMENT.filename: enrollment_initial,
        GRADUATES.filename: supply.graduates,
        OUTCOMES.filename: supply.outcomes,
        HIRING.filename: demand.hiring_initial,
        HIRING_CORRECTION.filename: demand.hiring_correction,
        ENROLLMENT_CORRECTION.filename: enrollment_correction,
    }
    for association_id, survey in demand.surveys.items():
        frames[survey_spec(association_id).filename] = survey
    # A small catalog may leave a correction or a survey without rows: no file is better than
    # a file that ingestion must reject as empty.
    uploads = tuple(
        Upload(spec, frames[spec.filename])
        for spec in upload_specs(list(demand.surveys))
        if not frames[spec.filename].empty
    )
    totals = supply.totals
    generated = totals.dropna(subset=["generated_entrants"]).assign(
        entrants=lambda t: t["generated_entrants"], graduates=lambda t: t["generated_graduates"]
    )
    messy = pd.concat(
        [
            demand.messy,
            corrected,
            pd.DataFrame(
                [
                    {
                        "record": "postings inflated by duplicates, restated by the correction",
                        "field_code": "ic",
                        "level": "all",
                        "detail": " ".join(sorted(set(demand.hiring_correction["period"]))),
                    }
                ]
            ),
        ],
        ignore_index=True,
    )
    truth = {
        "city_totals": totals,
        "calibration": target_comparison(generated),
        "programmes": supply.programmes,
        "outcome_rates": supply.rates,
        "balance": demand.balance,
        "planted": supply.planted,
        "level_scale": supply.level_scale,
        "messy_records": messy,
    }
    names = dict(zip(catalog.fields["field_code"], catalog.fields["name_zh"], strict=True))
    return DemoData(seed=seed, uploads=uploads, truth=truth, field_names_zh=names)


def _enrollment_correction(
    enrollment: pd.DataFrame, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """First-reported 2024 intake of a few programmes was the planned quota, not the count.

    Returns the first upload (with those rows inflated), the correction (true rows) and a
    log of what was changed; the true values stay in the generated enrollment.
    """
    rng = stream(seed, "messy", "enrollment_correction")
    candidates = enrollment[
        (enrollment["year"] == CORRECTED_ENROLLMENT_YEAR)
        & (enrollment["programme_code"] != OTHER)
        & (enrollment["enrolled"] >= 100)
    ].sort_values(["programme_code", "level"])
    count = min(CORRECTED_ENROLLMENT_ROWS, len(candidates))
    chosen = candidates.iloc[np.sort(rng.choice(len(candidates), size=count, replace=False))]
    initial = enrollment.copy()
    factors = rng.uniform(1.03, 1.08, count)
    initial.loc[chosen.index, "enrolled"] = np.round(
        chosen["enrolled"].to_numpy() * factors
    ).astype("int64")
    log = pd.DataFrame(
        {
            "record": "2024 intake first reported as the planned quota, restated by the correction",
            "field_code": "",
            "level": chosen["level"].to_numpy(),
            "detail": [
                f"{code} {CORRECTED_ENROLLMENT_YEAR}: {first} -> {true}"
                for code, first, true in zip(
                    chosen["programme_code"],
                    initial.loc[chosen.index, "enrolled"],
                    chosen["enrolled"],
                    strict=True,
                )
            ],
        }
    )
    return initial, chosen.reset_index(drop=True), log


def write_files(data: DemoData, folder: Path | str) -> list[Path]:
    """Write every upload, the truth tables and ``manifest.json``; returns the paths written."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for upload in data.uploads:
        path = target / upload.filename
        path.write_bytes(render(upload.spec, upload.frame, data.field_names_zh))
        written.append(path)
    for name, (filename, decimals) in TRUTH_FILES.items():
        path = target / filename
        frame = data.truth[name].round(decimals)
        path.write_bytes(frame.to_csv(index=False, lineterminator="\n").encode("utf-8"))
        written.append(path)
    manifest = {
        "seed": data.seed,
        "uploads": [
            {"kind": str(u.kind), "file": u.filename, "uploader": u.uploader} for u in data.uploads
        ],
        "truth": [filename for filename, _ in TRUTH_FILES.values()],
    }
    path = target / MANIFEST_FILE
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate the demo files with the shipped catalog."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("data/demo/files"))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    data = generate(load_default_catalog(), seed=args.seed)
    paths = write_files(data, args.out)
    calibration = data.truth["calibration"]
    worst = float(calibration["relative_error"].abs().max())
    print(f"wrote {len(paths)} files to {args.out} (seed {args.seed})")
    for path in paths:
        print(f"  {path.name:45s} {path.stat().st_size:>9,d} bytes")
    print(f"calibration: {len(calibration)} targets, worst relative error {worst:.2%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
