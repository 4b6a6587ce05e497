"""The rows behind the dashboard's tables, cut from a run's outputs and the catalog.

Pure functions on DataFrames (no requests, no store), so each table can be tested on its own
and the pages stay thin. Names come from the catalog in the page's language.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pandas as pd

from data.catalog import Catalog
from data.vocabulary import ALL_LEVELS, LEVELS
from forecasting.balance import TOTAL, shortage_ranking
from serving.dashboard.i18n import tier_name

DRIVER_COLUMNS: Final = (
    "base_gap",
    "demand_growth",
    "survey_adjustment",
    "cohort_pipeline",
    "rates",
    "gap",
)
#: Columns of the recommendations export, after the names added in the page's language.
EXPORT_COLUMNS: Final = (
    "programme_code",
    "programme_name",
    "level",
    "field_code",
    "field_name",
    "intake_year",
    "graduation_year",
    "current_quota",
    "recommended_quota",
    "change",
    "change_pct",
    "quota_p10",
    "quota_p90",
    "gap_before",
    "gap_after",
    "p_shortage_before",
    "p_shortage_after",
    "binding",
    "reasons",
    "reason",
)
#: Years of graduates shown for the programmes feeding a field.
FEEDING_YEARS: Final = 5


@dataclass(frozen=True)
class FieldInfo:
    code: str
    name: str
    tier: str  # as planners read it (see tier_name)


def plan_fields(catalog: Catalog, lang: str) -> list[FieldInfo]:
    """The catalog's fields in the plan's order, named in ``lang``."""
    ordered = catalog.fields.sort_values("sort_order")
    return [
        FieldInfo(
            str(row.field_code), str(getattr(row, f"name_{lang}")), tier_name(str(row.tier), lang)
        )
        for row in ordered.itertuples(index=False)
    ]


def forecast_years(balance: pd.DataFrame, last_observed_year: int) -> list[int]:
    return sorted(int(y) for y in balance["year"].unique() if y > last_observed_year)


def levels_of(balance: pd.DataFrame, field_code: str | None = None) -> list[str]:
    """Levels with rows (for one field, if given), in the vocabulary's order, then ``all``."""
    rows = balance if field_code is None else balance[balance["field_code"] == field_code]
    present = set(rows["level"])
    return [level for level in (ALL_LEVELS, *LEVELS) if level in present]


def shortage_matrix(
    balance: pd.DataFrame, level: str, field_order: Sequence[str], years: Sequence[int]
) -> pd.DataFrame:
    """P(shortage) per field (rows, in ``field_order``, only those with rows) × year."""
    rows = balance[
        (balance["level"] == level)
        & (balance["field_code"] != TOTAL)
        & (balance["year"].isin(years))
    ]
    matrix = rows.pivot(index="field_code", columns="year", values="p_shortage")
    present = [code for code in field_order if code in matrix.index]
    return matrix.reindex(index=present, columns=list(years))


def ranking_rows(
    balance: pd.DataFrame, year: int, level: str, visible: Collection[str] | None
) -> list[dict[str, Any]]:
    """The shortage ranking of ``year`` and ``level``; ``visible`` keeps only those fields
    (an association's), each with its rank among all fields."""
    ranked = shortage_ranking(balance, year, level)
    if visible is not None:
        ranked = ranked[ranked["field_code"].isin(visible)]
    columns = ["rank", "field_code", "supply_p50", "demand_p50", "gap_p50", "gap_p10"]
    columns += ["gap_p90", "p_shortage"]
    return ranked.loc[:, columns].to_dict("records")


def balance_rows(balance: pd.DataFrame, field_code: str, level: str) -> pd.DataFrame:
    rows = balance[(balance["field_code"] == field_code) & (balance["level"] == level)]
    return rows.sort_values("year")


def driver_rows(drivers: pd.DataFrame, field_code: str, level: str) -> list[dict[str, Any]]:
    """The drivers of one field's gap per forecast year. For all levels the parts are summed:
    they are expected values, so the sums are the total's drivers."""
    rows = drivers[drivers["field_code"] == field_code]
    if level != ALL_LEVELS:
        rows = rows[rows["level"] == level]
    if rows.empty:
        return []
    summed = rows.groupby("year", as_index=False).agg(
        base_year=("base_year", "min"), **{column: (column, "sum") for column in DRIVER_COLUMNS}
    )
    return summed.sort_values("year").to_dict("records")


def feeding_programmes(
    catalog: Catalog,
    programme_supply: pd.DataFrame,
    field_code: str,
    level: str,
    years: Sequence[int],
    lang: str,
) -> list[dict[str, Any]]:
    """Programmes whose graduates count toward the field (crosswalk weight > 0), heaviest first,
    with their forecast graduates (median) in ``years``."""
    links = catalog.crosswalk[
        (catalog.crosswalk["field_code"] == field_code) & (catalog.crosswalk["weight"] > 0)
    ]
    if level != ALL_LEVELS:
        links = links[links["level"] == level]
    named = links.merge(catalog.programmes, on=["programme_code", "level"], how="left")
    supply = programme_supply[programme_supply["year"].isin(years)]
    graduates = supply.pivot_table(
        index=["programme_code", "level"], columns="year", values="graduates_p50", aggfunc="sum"
    )
    rows: list[dict[str, Any]] = []
    ordered = named.sort_values(
        ["weight", "level", "programme_code"], ascending=[False, True, True]
    )
    for row in ordered.itertuples(index=False):
        key = (row.programme_code, row.level)
        per_year = graduates.loc[key] if key in graduates.index else None
        rows.append(
            {
                "programme_code": row.programme_code,
                "level": row.level,
                "name": getattr(row, f"name_{lang}"),
                "weight": float(row.weight),
                "graduates": [
                    None if per_year is None else _float(per_year.get(year)) for year in years
                ],
            }
        )
    return rows


def _float(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _programme_names(catalog: Catalog, lang: str) -> pd.DataFrame:
    names = catalog.programmes.loc[:, ["programme_code", "level", "name_zh", "name_en"]]
    return names.assign(programme_name=names[f"name_{lang}"])


def _matches(frame: pd.DataFrame, query: str) -> pd.Series:
    """Rows whose programme code or name (in either language) contains ``query``."""
    needle = query.strip().lower()
    found = pd.Series(False, index=frame.index)
    for column in ("programme_code", "name_zh", "name_en"):
        found |= frame[column].fillna("").str.lower().str.contains(needle, regex=False)
    return found


def filter_recommendations(
    recommendations: pd.DataFrame,
    catalog: Catalog,
    lang: str,
    *,
    level: str | None,
    field_code: str | None,
    query: str | None,
) -> pd.DataFrame:
    """Recommendations with programme and field names, filtered as the page's form says."""
    frame = recommendations.merge(
        _programme_names(catalog, lang), on=["programme_code", "level"], how="left"
    )
    fields = catalog.fields.set_index("field_code")[f"name_{lang}"]
    frame["field_name"] = frame["field_code"].map(fields)
    frame["reason"] = frame[f"reason_{lang}"]
    if level:
        frame = frame[frame["level"] == level]
    if field_code:
        frame = frame[frame["field_code"] == field_code]
    if query and query.strip():
        frame = frame[_matches(frame, query)]
    return frame.sort_values(["level", "programme_code"]).reset_index(drop=True)


def filter_warnings(
    warnings: pd.DataFrame,
    recommendations: pd.DataFrame,
    catalog: Catalog,
    lang: str,
    *,
    level: str | None,
    field_code: str | None,
    query: str | None,
) -> pd.DataFrame:
    """Warnings with names, filtered like the recommendations (the field is the programme's
    main field, as the recommendations name it)."""
    main_field = recommendations.loc[:, ["programme_code", "level", "field_code"]]
    frame = warnings.merge(
        _programme_names(catalog, lang), on=["programme_code", "level"], how="left"
    )
    frame = frame.merge(main_field, on=["programme_code", "level"], how="left")
    frame["message"] = frame[f"message_{lang}"]
    if level:
        frame = frame[frame["level"] == level]
    if field_code:
        frame = frame[frame["field_code"] == field_code]
    if query and query.strip():
        frame = frame[_matches(frame, query)]
    return frame.sort_values(["programme_code", "level", "rule"]).reset_index(drop=True)


#: A text cell starting with one of these is a formula to Excel and LibreOffice.
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


def export_frame(filtered: pd.DataFrame) -> pd.DataFrame:
    """The columns of the recommendations export (codes as headers, for re-use in scripts).

    Text cells that a spreadsheet would run as a formula (programme names and messages come
    from uploads) are prefixed with an apostrophe, which spreadsheets show as text; numbers
    stay numbers, negative ones included."""
    frame = filtered.loc[:, list(EXPORT_COLUMNS)].copy()
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].map(neutralise_formula)
    return frame


def neutralise_formula(value: object) -> object:
    """``value`` with a leading apostrophe if it is text that starts like a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
