"""The talent data of one data watermark, in the shapes the balance works with.

The store holds uploads row by row (per institution, district, month). The balance needs city
totals per programme and year, annual hiring per field and level, and the surveys with their
source. :class:`TalentData` assembles those once, from the store "as of" an upload or from
frames (the demo generator, tests), and can be cut back to what was known at the end of an
earlier year, which is how the balance backtest replays history.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

import numpy as np
import pandas as pd

from data.catalog import Catalog
from data.vocabulary import ALL_LEVELS, DEFAULT_CITY_REGION, LEVELS, Kind
from features.panel import Panel

#: Programme series are identified as ``code|level`` (a code can exist at several levels).
KEY_SEPARATOR: Final = "|"


#: One region's GB/T 2260 code, or the codes of several regions read as their sum.
Regions = str | tuple[str, ...]


def region_codes(regions: Regions) -> tuple[str, ...]:
    return (regions,) if isinstance(regions, str) else tuple(regions)


def programme_key(code: str, level: str) -> str:
    return f"{code}{KEY_SEPARATOR}{level}"


def programme_keys(frame: pd.DataFrame) -> list[str]:
    """``code|level`` for every row of a frame with programme_code and level columns."""
    return [
        programme_key(code, level)
        for code, level in zip(frame["programme_code"], frame["level"], strict=True)
    ]


def split_key(key: str) -> tuple[str, str]:
    code, level = key.split(KEY_SEPARATOR)
    return code, level


@dataclass(frozen=True)
class TalentData:
    """City-level (or region-level) observations known at one data watermark.

    ``enrollment`` and ``graduates``: programme_code, level, year, count (summed over
    institutions); ``outcomes``: programme_code, level, year, graduates, placed,
    employed_in_field, employed_locally (nullable); ``hiring``: field_code, level, period,
    postings, hires (nullable: not every source reports hires) (monthly, quarterly or yearly
    rows as uploaded); ``surveys``: source,
    survey_year, target_year, field_code, level, headcount.
    """

    catalog: Catalog
    enrollment: pd.DataFrame
    graduates: pd.DataFrame
    outcomes: pd.DataFrame
    hiring: pd.DataFrame
    surveys: pd.DataFrame

    # -- construction -----------------------------------------------------------------------

    @classmethod
    def from_store(
        cls, store: Any, as_of: int | None = None, city_region: Regions = DEFAULT_CITY_REGION
    ) -> TalentData:
        """Everything the store held at upload ``as_of`` (default: now) for one region (or the
        sum of several), read from the store one region at a time: the sum of a province's
        cities is added up city by city, so that memory holds the running total and one city's
        rows, never the rows of every city at once."""
        codes = region_codes(city_region)
        frames: dict[Kind, pd.DataFrame] = {}
        for kind in Kind:
            for code in codes:
                rows = _totals(kind, store.observations(kind, as_of=as_of, regions=[code]))
                frames[kind] = (
                    rows if kind not in frames else _totals(kind, _concat(frames[kind], rows))
                )
        return cls.from_observations(store.catalog(as_of=as_of), frames, city_region)

    @classmethod
    def from_observations(
        cls,
        catalog: Catalog,
        frames: Mapping[Kind, pd.DataFrame] | Mapping[str, pd.DataFrame],
        city_region: Regions = DEFAULT_CITY_REGION,
    ) -> TalentData:
        """Aggregate validated observation frames (as the store returns them): the rows of one
        region, or of several summed (a province as the total of its cities)."""

        by_name = {str(name): frame for name, frame in frames.items()}
        codes = region_codes(city_region)

        def city(kind: Kind) -> pd.DataFrame:
            frame = by_name.get(kind.value, pd.DataFrame())
            if "region" in frame.columns:
                frame = frame[frame["region"].isin(codes)]
            return frame

        totals = {kind: _totals(kind, city(kind)) for kind in Kind}
        return cls(
            catalog,
            enrollment=totals[Kind.ENROLLMENT],
            graduates=totals[Kind.GRADUATES],
            outcomes=totals[Kind.OUTCOMES],
            hiring=totals[Kind.HIRING],
            surveys=totals[Kind.DEMAND_SURVEY],
        )

    def cut(self, year: int) -> TalentData:
        """The data as known at the end of ``year`` (later observations and surveys dropped)."""
        return replace(
            self,
            enrollment=self.enrollment[self.enrollment["year"] <= year],
            graduates=self.graduates[self.graduates["year"] <= year],
            outcomes=self.outcomes[self.outcomes["year"] <= year],
            hiring=self.hiring[self.hiring["period"].str[:4].astype(int) <= year],
            surveys=self.surveys[self.surveys["survey_year"] <= year],
        )

    # -- derived views ----------------------------------------------------------------------

    @property
    def last_year(self) -> int:
        """The last year with enrollment data: the forecast starts the year after."""
        if self.enrollment.empty:
            raise ValueError("no enrollment data: nothing to forecast supply from")
        return int(self.enrollment["year"].max())

    def programme_panel(self, kind: str = "enrollment") -> Panel:
        """Yearly series per programme (``code|level``) of ``enrollment`` or ``graduates``."""
        frame = self.enrollment if kind == "enrollment" else self.graduates
        column = "enrolled" if kind == "enrollment" else "graduates"
        long = pd.DataFrame(
            {
                "series_id": programme_keys(frame),
                "period": frame["year"].astype(int).astype(str),
                "value": frame[column].astype(float),
            }
        )
        return Panel.from_frame(long, gaps="interpolate")

    def annual_hiring(self) -> pd.DataFrame:
        """Postings and hires per field, level and calendar year, complete years only.

        Monthly (quarterly) rows are summed per year after interpolating missing months
        (quarters) inside each series; a year counts only when all its periods are present
        or interpolated. Hires are summed only over years whose every period reports them
        (NaN otherwise: a partial sum would look like a slump). Rows without a level ("all")
        are spread over the field's levels in proportion to that year's level-specific
        postings.
        """
        columns = ["field_code", "level", "year", "postings", "hires"]
        if self.hiring.empty:
            return pd.DataFrame(columns=columns)
        period = self.hiring["period"]
        yearly = self.hiring[period.str.len() == 4]
        frames = [yearly.assign(year=yearly["period"].astype(int)).loc[:, columns]]
        for mask in (period.str.contains("Q"), (period.str.len() == 7) & ~period.str.contains("Q")):
            if mask.any():
                frames.append(_sub_annual_totals(self.hiring[mask]))
        annual = pd.concat([f for f in frames if not f.empty], ignore_index=True)
        annual = annual.groupby(["field_code", "level", "year"], as_index=False)[
            ["postings", "hires"]
        ].sum(min_count=1)
        return _spread_all_levels(annual)

    def hiring_panel(self, monthly: bool = False) -> Panel:
        """Hiring series per ``field|level``: annual totals, or the monthly postings."""
        if monthly:
            months = self.hiring[self.hiring["period"].str.len() == 7]
            long = pd.DataFrame(
                {
                    "series_id": months["field_code"] + KEY_SEPARATOR + months["level"],
                    "period": months["period"],
                    "value": months["postings"].astype(float),
                }
            )
        else:
            annual = self.annual_hiring()
            long = pd.DataFrame(
                {
                    "series_id": annual["field_code"] + KEY_SEPARATOR + annual["level"],
                    "period": annual["year"].astype(int).astype(str),
                    "value": annual["postings"].astype(float),
                }
            )
        return Panel.from_frame(long, gaps="interpolate")


#: How each kind's rows add up over institutions and regions: the key kept, the counts summed.
_TOTALS: Final[dict[Kind, tuple[list[str], list[str]]]] = {
    Kind.ENROLLMENT: (["programme_code", "level", "year"], ["enrolled"]),
    Kind.GRADUATES: (["programme_code", "level", "year"], ["graduates"]),
    Kind.OUTCOMES: (
        ["programme_code", "level", "year"],
        ["graduates", "placed", "employed_in_field", "employed_locally"],
    ),
    Kind.HIRING: (["field_code", "level", "period"], ["postings", "hires"]),
    Kind.DEMAND_SURVEY: (
        ["source", "survey_year", "target_year", "field_code", "level"],
        ["headcount"],
    ),
}


def _totals(kind: Kind, frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``kind`` summed to its key (:data:`_TOTALS`); hiring rows without a
    ``hires`` column have their hires missing, not zero."""
    key, values = _TOTALS[kind]
    if kind is Kind.HIRING and not frame.empty and "hires" not in frame.columns:
        frame = frame.assign(hires=np.nan)
    return _sum(frame, key, values)


def _concat(total: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """A running total and one more region's totals, as one frame to sum again."""
    if rows.empty:
        return total
    return rows if total.empty else pd.concat([total, rows], ignore_index=True)


def _sum(frame: pd.DataFrame, key: list[str], values: list[str]) -> pd.DataFrame:
    """Totals over institutions (and anything else outside ``key``); all-missing stays NA."""
    if frame.empty:
        return pd.DataFrame(columns=[*key, *values])
    grouped = frame.groupby(key, as_index=False, dropna=False)[values].sum(min_count=1)
    return grouped.sort_values(key).reset_index(drop=True)


def _sub_annual_totals(part: pd.DataFrame) -> pd.DataFrame:
    """Calendar-year sums of monthly (or quarterly) rows of one frequency."""
    long = pd.DataFrame(
        {
            "series_id": part["field_code"] + KEY_SEPARATOR + part["level"],
            "period": part["period"],
            "value": part["postings"].astype(float),
        }
    )
    panel = Panel.from_frame(long, gaps="interpolate")
    filled = panel.to_frame()
    periods_per_year = panel.season_length
    filled["year"] = filled["period"].str[:4].astype(int)
    totals = filled.groupby(["series_id", "year"])["value"].agg(["sum", "size"]).reset_index()
    totals = totals[totals["size"] == periods_per_year]
    hires = (
        part.assign(
            series_id=long["series_id"].to_numpy(),
            year=part["period"].str[:4].astype(int).to_numpy(),
        )
        .groupby(["series_id", "year"])["hires"]
        .agg(["sum", "count"])
    )
    complete = hires[hires["count"] == periods_per_year]["sum"]
    field_level = totals["series_id"].str.split(KEY_SEPARATOR, expand=True)
    return pd.DataFrame(
        {
            "field_code": field_level[0],
            "level": field_level[1],
            "year": totals["year"].astype(int),
            "postings": totals["sum"],
            "hires": [
                complete.get((s, y), np.nan)
                for s, y in zip(totals["series_id"], totals["year"], strict=True)
            ],
        }
    )


def _spread_all_levels(annual: pd.DataFrame) -> pd.DataFrame:
    """Allocate level-less ("all") postings to the field's levels by that year's shares."""
    unspecified = annual[annual["level"] == ALL_LEVELS]
    specific = annual[annual["level"].isin(LEVELS)].copy()
    if unspecified.empty:
        return specific.reset_index(drop=True)
    shares = specific.assign(
        share=specific["postings"]
        / specific.groupby(["field_code", "year"])["postings"].transform("sum")
    )
    spread = unspecified.drop(columns="level").merge(
        shares.loc[:, ["field_code", "year", "level", "share"]], on=["field_code", "year"]
    )
    spread["postings"] = spread["postings"] * spread["share"]
    spread["hires"] = spread["hires"] * spread["share"]
    combined = pd.concat([specific, spread.drop(columns="share")], ignore_index=True)
    result = combined.groupby(["field_code", "level", "year"], as_index=False)[
        ["postings", "hires"]
    ].sum(min_count=1)
    return result.sort_values(["field_code", "level", "year"]).reset_index(drop=True)


def logit(p: np.ndarray | float, eps: float = 1e-4) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=float), eps, 1 - eps)
    return np.log(q / (1 - q))


def expit(x: np.ndarray | float) -> np.ndarray:
    return 1 / (1 + np.exp(-np.asarray(x, dtype=float)))
