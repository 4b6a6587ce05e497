"""The regions a deployment serves: one city, or the cities of a province, or the provinces.

Regions are GB/T 2260 codes: ``xx0000`` is a province (or a province-level city such as
Tianjin, 120000), ``xxyy00`` a city of province ``xx``. A deployment forecasts each region it
names and, when it names several, their total: the region above them (the province of its
cities, or the nation of its provinces). The total is never forecast on its own; it is the sum
of its regions, sample by sample, so that it always agrees with them.

A single region needs no configuration (the city the deployment is for). Uploads carry one of
the configured regions in every row (a blank is the single region's, when there is one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

#: The nation, as the parent of provinces. GB/T 2260 itself has no code for the whole country;
#: 100000 is the one common GB/T 2260-based atlases use, and no province has code 10.
NATION_REGION: Final = "100000"

_CODE: Final = re.compile(r"\d{6}")


class RegionError(ValueError):
    """A configuration of regions that cannot be served, with what to set instead."""


def is_province(code: str) -> bool:
    return code.endswith("0000") and code != NATION_REGION


def is_city(code: str) -> bool:
    return code.endswith("00") and not code.endswith("0000")


def parent_of(code: str) -> str:
    """The region directly above ``code`` (a city's province, a province's nation)."""
    if is_city(code):
        return f"{code[:2]}0000"
    if is_province(code):
        return NATION_REGION
    raise RegionError(f"region {code} is neither a province (xx0000) nor a city (xxyy00)")


@dataclass(frozen=True)
class RegionPlan:
    """The regions a deployment forecasts (``regions``, in the order configured) and the
    region that is their total (``top``): the single region itself, or the parent of several.
    """

    top: str
    regions: tuple[str, ...]

    @classmethod
    def of(cls, top: str, regions: tuple[str, ...] | list[str] = ()) -> RegionPlan:
        """The plan of a deployment for region ``top`` that names ``regions`` (none: just
        ``top``), checked so that every mistake is reported with the setting to change."""
        codes = tuple(regions) or (top,)
        for code in (top, *codes):
            if not _CODE.fullmatch(code):
                raise RegionError(f"{code!r} is not a 6-digit GB/T 2260 region code")
        repeated = sorted({c for c in codes if codes.count(c) > 1})
        if repeated:
            raise RegionError(f"regions {', '.join(repeated)} are named more than once")
        if len(codes) == 1:
            if codes[0] != top:
                raise RegionError(
                    f"a single region {codes[0]} must be the deployment's own region {top}; "
                    f"set TALENTCAST_CITY_REGION={codes[0]} and leave TALENTCAST_REGIONS empty"
                )
            return cls(top, codes)
        if not all(is_city(c) or is_province(c) for c in codes):
            odd = [c for c in codes if not (is_city(c) or is_province(c))]
            raise RegionError(
                f"regions {', '.join(odd)} are neither provinces (xx0000) nor cities (xxyy00)"
            )
        parents = sorted({parent_of(c) for c in codes})
        if len(parents) > 1:
            raise RegionError(
                f"regions {', '.join(codes)} do not share one parent (they belong to "
                f"{', '.join(parents)}): name the cities of one province or the provinces "
                "of the nation"
            )
        if parents[0] != top:
            raise RegionError(
                f"regions {', '.join(codes)} belong to {parents[0]}, not to the deployment's "
                f"region {top}; set TALENTCAST_CITY_REGION={parents[0]}"
            )
        return cls(top, codes)

    @property
    def single(self) -> bool:
        """Whether the deployment serves one region (no total above it)."""
        return len(self.regions) == 1

    @property
    def servable(self) -> tuple[str, ...]:
        """Every region results exist for: the top first, then its regions."""
        return self.regions if self.single else (self.top, *self.regions)

    @property
    def default_region(self) -> str | None:
        """The region a row without one belongs to: the single region, else none."""
        return self.regions[0] if self.single else None
