"""City totals per level: real calibration targets plus the documented assumptions between them.

The demo city must look like Tianjin where Tianjin's figures are public, so every published
entrant and graduate total (``calibration_targets.csv``, copied from the shared reference so the
package never reads outside itself) is an *anchor* the generated totals pass through. Where the
statistics are silent the gaps are filled by explicit, named assumptions (splits of aggregates,
cohort back-casts, growth rates); ``README.md`` lists each one beside its source.
"""

from __future__ import annotations

import io
from importlib import resources
from typing import Final

import numpy as np
import pandas as pd

from data.vocabulary import Level

TARGETS_FILE: Final = "calibration_targets.csv"

#: Latent history starts early enough for the longest pipeline (doctor: 4 years + 2 late years)
#: to produce the first emitted graduates.
FIRST_LATENT_YEAR: Final = 2004
FIRST_YEAR: Final = 2010
LAST_YEAR: Final = 2025
LATENT_YEARS: Final = tuple(range(FIRST_LATENT_YEAR, LAST_YEAR + 1))
EMITTED_YEARS: Final = tuple(range(FIRST_YEAR, LAST_YEAR + 1))
#: Programme sizes and the priority share are stated for this year (last year before COVID).
REFERENCE_YEAR: Final = 2019
METRICS: Final = ("entrants", "graduates")
PERSONS_PER_UNIT: Final = 10_000

#: Published aggregates and the levels they add up.
AGGREGATE_LEVELS: Final[dict[str, tuple[str, ...]]] = {
    "postgraduate": (Level.MASTER, Level.DOCTOR),
    "undergraduate_total": (Level.BACHELOR, Level.HIGHER_VOCATIONAL),
}

# -- assumptions that split published aggregates ------------------------------------------------

#: 2022 bachelor entrants (10k). The bulletin only gives bachelor + higher vocational (17.07);
#: bachelor intake grew about 1.2 %/yr from 2019 (9.02), the rest is the 高职扩招 expansion.
BACHELOR_ENTRANTS_2022: Final = 9.35
#: Bachelor graduates / bachelor entrants four years earlier: 0.958-0.979 in the real 2014-2019
#: data (mean 0.966). Used to split 2022 graduates and to back-cast 2006-2009 entrants.
BACHELOR_GRADUATION_RATIO: Final = 0.965
#: Master share of postgraduate entrants (real 2017: 0.896, 2018: 0.891).
MASTER_SHARE_OF_ENTRANTS: Final = 0.89
#: Master share of postgraduate graduates (real 2017: 0.902, 2018: 0.899).
MASTER_SHARE_OF_GRADUATES: Final = 0.90

#: Cohort back-cast of entrants before the first published entrant figure: entrants(y) =
#: graduates(y + lag) / ratio, for levels whose graduates are published earlier than their
#: entrants would need. Doctor is left out (graduation spreads over three years).
COHORT_BACKCAST: Final[dict[str, tuple[int, float]]] = {
    Level.BACHELOR: (4, BACHELOR_GRADUATION_RATIO),
    # Real HV graduates / entrants three years earlier: 0.95-1.07 in 2013-2019 (mean ~1.03):
    # other entry routes (3+2 transfers, social applicants) add graduates without entrants.
    Level.HIGHER_VOCATIONAL: (3, 1.03),
    # Master graduates 2017-2019 / entrants 2014-2016 (mixed 2- and 3-year programmes).
    Level.MASTER: (3, 0.93),
    # SV 2019 graduates (3.67) exceed 2019 entrants (3.21): intake was falling.
    Level.SECONDARY_VOCATIONAL: (3, 0.95),
}

#: Yearly growth used before the first anchor of a series (so earlier years are smaller when
#: positive). Bachelor 6 %/yr continues the 2006-2009 cohort back-cast slope; SV was shrinking.
BACKCAST_GROWTH: Final[dict[str, float]] = {
    Level.BACHELOR: 0.06,
    Level.HIGHER_VOCATIONAL: 0.03,
    Level.MASTER: 0.05,
    Level.DOCTOR: 0.05,
    Level.SECONDARY_VOCATIONAL: -0.02,
}

#: Yearly growth after the last anchor (2022), entrants and graduates alike.
FORWARD_GROWTH: Final[dict[str, float]] = {
    Level.BACHELOR: 0.01,
    Level.HIGHER_VOCATIONAL: -0.01,
    Level.MASTER: 0.04,
    Level.DOCTOR: 0.05,
    Level.SECONDARY_VOCATIONAL: -0.02,
}


def load_targets() -> pd.DataFrame:
    """The real calibration targets shipped with the package, with a ``persons`` column."""
    content = resources.files("data.demo").joinpath(TARGETS_FILE).read_bytes()
    frame = pd.read_csv(io.BytesIO(content), dtype={"level": str, "metric": str, "source": str})
    frame["persons"] = frame["value_10k_persons"] * PERSONS_PER_UNIT
    return frame


Anchors = dict[tuple[str, str], dict[int, float]]


def anchors(targets: pd.DataFrame) -> tuple[Anchors, pd.DataFrame]:
    """Anchor values (persons) per (level, metric), and a table saying where each came from.

    Real per-level figures are used as they are; aggregates are split with the assumptions
    above; cohort back-casts add early entrant anchors consistent with published graduates.
    """
    points: Anchors = {(str(lv), m): {} for lv in Level for m in METRICS}
    origin: list[dict[str, object]] = []

    def put(level: str, metric: str, year: int, value: float, how: str) -> None:
        points[(level, metric)][year] = value
        origin.append(
            {"level": level, "metric": metric, "year": year, "persons": value, "origin": how}
        )

    per_level = targets[targets["level"].isin([str(lv) for lv in Level])]
    for row in per_level.to_dict("records"):
        put(str(row["level"]), str(row["metric"]), int(row["year"]), float(row["persons"]), "real")
    aggregates = targets[targets["level"].isin(list(AGGREGATE_LEVELS))].sort_values("year")
    for row in aggregates.to_dict("records"):
        year, metric, value = int(row["year"]), str(row["metric"]), float(row["persons"])
        if row["level"] == "postgraduate":
            share = MASTER_SHARE_OF_ENTRANTS if metric == "entrants" else MASTER_SHARE_OF_GRADUATES
            put(Level.MASTER, metric, year, value * share, "split of postgraduate total")
            put(Level.DOCTOR, metric, year, value * (1 - share), "split of postgraduate total")
        elif metric == "entrants":
            bachelor = BACHELOR_ENTRANTS_2022 * PERSONS_PER_UNIT
            put(Level.BACHELOR, metric, year, bachelor, "assumed split of undergraduate total")
            put(Level.HIGHER_VOCATIONAL, metric, year, value - bachelor, "rest of undergraduate")
        else:
            entrants = _series(points[(Level.BACHELOR, "entrants")], Level.BACHELOR)
            bachelor = entrants[year - 4] * BACHELOR_GRADUATION_RATIO
            put(Level.BACHELOR, metric, year, bachelor, "bachelor entrants(y-4) x 0.965")
            put(Level.HIGHER_VOCATIONAL, metric, year, value - bachelor, "rest of undergraduate")
    for level, (lag, ratio) in COHORT_BACKCAST.items():
        entrants = points[(level, "entrants")]
        first = min(entrants)
        for year, value in sorted(points[(level, "graduates")].items()):
            cohort = year - lag
            if cohort < first and cohort >= FIRST_LATENT_YEAR and cohort not in entrants:
                put(level, "entrants", cohort, value / ratio, f"graduates(y+{lag}) / {ratio}")
    return points, pd.DataFrame(origin)


def city_totals(targets: pd.DataFrame | None = None) -> pd.DataFrame:
    """Latent city totals (persons, float) per level and year, 2004-2025.

    Piecewise log-linear between anchors, constant growth outside them.
    """
    points, _ = anchors(load_targets() if targets is None else targets)
    rows = []
    for level in Level:
        entrants = _series(points[(level, "entrants")], level)
        graduates = _series(points[(level, "graduates")], level)
        for year in LATENT_YEARS:
            rows.append(
                {
                    "level": str(level),
                    "year": year,
                    "entrants": entrants[year],
                    "graduates": graduates[year],
                }
            )
    return pd.DataFrame(rows)


def _series(points: dict[int, float], level: str) -> dict[int, float]:
    """Log-linear interpolation through ``points``; documented growth before and after."""
    years = sorted(points)
    logs = np.log([points[y] for y in years])
    out: dict[int, float] = {}
    first, last = years[0], years[-1]
    for year in LATENT_YEARS:
        if year < first:
            out[year] = points[first] * (1 + BACKCAST_GROWTH[level]) ** (year - first)
        elif year > last:
            out[year] = points[last] * (1 + FORWARD_GROWTH[level]) ** (year - last)
        else:
            out[year] = float(np.exp(np.interp(year, years, logs)))
    return out


def target_comparison(totals: pd.DataFrame, targets: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each real target beside the generated value (``totals``: level, year, entrants, graduates).

    Aggregate targets (postgraduate, undergraduate_total) are compared with the sum of their
    levels, which is how the statistical bulletins define them.
    """
    targets = load_targets() if targets is None else targets
    values: dict[tuple[str, int, str], float] = {}
    for row in totals.to_dict("records"):
        for metric in METRICS:
            values[(str(row["level"]), int(row["year"]), metric)] = float(row[metric])
    rows = []
    for row in targets.to_dict("records"):
        year, metric, target = int(row["year"]), str(row["metric"]), float(row["persons"])
        levels = AGGREGATE_LEVELS.get(str(row["level"]), (str(row["level"]),))
        generated = sum(values[(str(lv), year, metric)] for lv in levels)
        rows.append(
            {
                "year": year,
                "level": row["level"],
                "metric": metric,
                "target": target,
                "generated": generated,
                "relative_error": generated / target - 1,
                "source": row["source"],
            }
        )
    return pd.DataFrame(rows)
