"""The rows behind the dashboard's tables, cut from a run's outputs and the catalog.

Pure functions on DataFrames (no requests, no store), so each table can be tested on its own
and the pages stay thin. Names come from the catalog in the page's language.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

from data.catalog import Catalog
from data.store.persons import round_persons
from data.vocabulary import ALL_LEVELS, LEVELS
from forecasting.balance import TOTAL, shortage_ranking
from forecasting.scenarios import BalanceSamples
from serving.dashboard.i18n import EXPORT_HEADERS_ZH, code_name, level_name, tier_name

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
    "urgency",
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
    "own_before",
    "own_after",
    "binding",
    "warning_actions",
    "stopped_since",
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


def ranking_rule(balance: pd.DataFrame) -> str:
    """How the page ranks shortages: by expected shortfall in persons when the run stored it
    (it weighs how short as well as how likely), else — runs stored before it was kept — by
    P(shortage), and the page says so."""
    if "shortfall_w90" in balance.columns and balance["shortfall_w90"].notna().any():
        return "shortfall"
    return "probability"


def ranking_rows(
    balance: pd.DataFrame, year: int, level: str, visible: Collection[str] | None
) -> list[dict[str, Any]]:
    """The shortage ranking of ``year`` and ``level`` (see :func:`ranking_rule`); ``visible``
    keeps only those fields (an association's), each with its rank among all fields."""
    ranked = shortage_ranking(balance, year, level, by=ranking_rule(balance))
    if visible is not None:
        ranked = ranked[ranked["field_code"].isin(visible)]
    columns = ["rank", "field_code", "supply_p50", "demand_p50", "gap_p50", "gap_p10"]
    columns += ["gap_p90", "p_shortage"]
    rows = ranked.loc[:, columns]
    rows["shortfall_w90"] = ranked.get("shortfall_w90", pd.Series(float("nan"), ranked.index))
    return rows.to_dict("records")


def city_totals(balance: pd.DataFrame, years: Sequence[int]) -> list[dict[str, Any]]:
    """All fields together (the balance's ``all`` rows, sums of the same samples), per level
    and overall, for each forecast year: the net gap, where one field's surplus offsets
    another's shortage, with its 80% interval and P(net shortage)."""
    rows = balance[(balance["field_code"] == TOTAL) & (balance["year"].isin(years))]
    totals = rows.set_index(["level", "year"])
    out: list[dict[str, Any]] = []
    for level in (*LEVELS, ALL_LEVELS):
        cells: list[dict[str, float] | None] = []
        for year in years:
            if (level, year) not in totals.index:
                cells.append(None)
                continue
            total = totals.loc[(level, year)]
            cells.append(
                {
                    name: float(total[name])
                    for name in ("supply_p50", "demand_p50", "gap_p50", "gap_p10", "gap_p90")
                }
                | {"p_shortage": float(total["p_shortage"])}
            )
        if any(cell is not None for cell in cells):
            out.append({"level": level, "cells": cells})
    return out


def balance_rows(balance: pd.DataFrame, field_code: str, level: str) -> pd.DataFrame:
    """One field and level's balance by year, persons rounded as the API serves them (the fan
    charts' hover texts show these numbers)."""
    rows = balance[(balance["field_code"] == field_code) & (balance["level"] == level)]
    return round_persons(rows.sort_values("year"))


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
    # Runs stored before stopped programmes were kept have no such column.
    stopped = frame["stopped_since"] if "stopped_since" in frame else pd.Series(None, frame.index)
    frame["stopped_since"] = pd.Series(
        [None if pd.isna(year) else int(year) for year in stopped], index=frame.index, dtype=object
    )
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


#: Warning actions, most pressing first: the order of :func:`urgency_order`.
WARNING_ACTIONS: Final = (
    "stop",
    "alternate_years",
    "cap_at_placed",
    "reduce",
    "review_duplicates",
    "no_new_points",
)
#: The warning filter: any warning, none, or one action.
WARNING_FILTERS: Final = ("any", "none", *WARNING_ACTIONS)
#: Sortable columns of the recommendations table: the page's ``sort`` parameter, with ``-`` in
#: front for descending. ``urgency`` is the default.
SORT_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "urgency": ("urgency",),
    "programme": ("programme_code", "level_order"),
    "level": ("level_order", "programme_code"),
    "field": ("field_name", "level_order", "programme_code"),
    "current": ("current_quota", "level_order", "programme_code"),
    "recommended": ("recommended_quota", "level_order", "programme_code"),
    "change": ("change", "level_order", "programme_code"),
    "effect": ("own_change", "level_order", "programme_code"),
}
#: Rows of the recommendations table per page.
PAGE_SIZE: Final = 50
#: Bounds of a programme itself (not of its level's total) that can hold its quota in place.
PROGRAMME_BOUNDS: Final = ("change_up", "change_down", "capacity", "rule")


def warning_actions(warnings: pd.DataFrame) -> pd.DataFrame:
    """Per programme, the actions of its warnings, most pressing first, and the position of
    the most pressing one in :data:`WARNING_ACTIONS` (``severity``)."""
    rank = {action: i for i, action in enumerate(WARNING_ACTIONS)}
    frame = warnings.loc[:, ["programme_code", "level", "action"]].copy()
    frame["severity"] = frame["action"].map(rank).fillna(len(WARNING_ACTIONS)).astype(int)
    frame = frame.sort_values("severity")
    grouped = frame.groupby(["programme_code", "level"], sort=False)
    return pd.DataFrame(
        {
            "warning_actions": grouped["action"].agg(lambda a: ",".join(dict.fromkeys(a))),
            "severity": grouped["severity"].min(),
        }
    ).reset_index()


def with_urgency(recommendations: pd.DataFrame, warnings: pd.DataFrame) -> pd.DataFrame:
    """The recommendations with their warnings and ``urgency`` (1 = most urgent).

    The rule, stated on the page: programmes with an employment warning first, the most
    pressing action first (stop, alternate years, cap at the placed, reduce, review duplicates,
    no new points); then by the size of the recommended change in seats, largest first."""
    order = {level: i for i, level in enumerate(LEVELS)}
    frame = recommendations.merge(
        warning_actions(warnings), on=["programme_code", "level"], how="left"
    )
    frame["warning_actions"] = frame["warning_actions"].fillna("")
    frame["severity"] = frame["severity"].fillna(len(WARNING_ACTIONS)).astype(int)
    frame["level_order"] = frame["level"].map(order).fillna(len(order)).astype(int)
    frame["abs_change"] = frame["change"].abs().fillna(0.0)
    ranked = frame.sort_values(
        ["severity", "abs_change", "level_order", "programme_code"],
        ascending=[True, False, True, True],
    )
    ranked["urgency"] = np.arange(1, len(ranked) + 1)
    return ranked.reset_index(drop=True)


def keep_warning(frame: pd.DataFrame, warning: str) -> pd.DataFrame:
    """Rows whose programme has any warning, none, or one of the given action
    (``warning_actions`` as :func:`with_urgency` adds it); ``""`` keeps all."""
    if not warning:
        return frame
    actions = frame["warning_actions"].str.split(",")
    if warning == "any":
        return frame[frame["warning_actions"] != ""]
    if warning == "none":
        return frame[frame["warning_actions"] == ""]
    return frame[actions.map(lambda listed: warning in listed)]


def keep_action(warnings: pd.DataFrame, warning: str) -> pd.DataFrame:
    """The warnings table under the warning filter: every warning for ``""`` and ``any``, none
    for ``none``, else those calling for that action."""
    if warning in ("", "any"):
        return warnings
    return warnings[warnings["action"] == warning].reset_index(drop=True)


def sort_rows(frame: pd.DataFrame, sort: str) -> pd.DataFrame:
    """``frame`` ordered by :data:`SORT_COLUMNS` (``-name`` descending; missing values last).
    Sorting uses the exact values, never the rounded text the page shows."""
    name = sort.removeprefix("-")
    columns = list(SORT_COLUMNS[name])
    ascending = [not sort.startswith("-")] + [True] * (len(columns) - 1)
    return frame.sort_values(columns, ascending=ascending, na_position="last").reset_index(
        drop=True
    )


@dataclass(frozen=True)
class Pagination:
    """One page of a server-side paginated table."""

    number: int
    pages: int
    total: int
    size: int

    @property
    def first_row(self) -> int:
        return (self.number - 1) * self.size


def paginate(total: int, number: int, size: int = PAGE_SIZE) -> Pagination:
    """Page ``number`` (from 1) of ``total`` rows; a number past the end is the last page."""
    pages = max(1, -(-total // size))
    return Pagination(min(max(number, 1), pages), pages, total, size)


def interval_note(row: Mapping[str, Any]) -> list[str]:
    """The programme's own bounds (:data:`PROGRAMME_BOUNDS`) that hold the recommendation
    when its 10%–90% interval is the recommendation alone: every re-solve stopped at the bound
    the recommendation stops at. The
    level's total is shared by all its programmes, so it does not fix one of them."""
    values = [_float(row.get(name)) for name in ("quota_p10", "quota_p90", "recommended_quota")]
    low, high, quota = values
    if low is None or high is None or quota is None:
        return []
    if abs(high - low) >= 0.5 or abs(quota - low) >= 0.5:
        return []  # a real spread, or re-solves that settle elsewhere than the recommendation
    binding = str(row.get("binding") or "").split(",")
    return [name for name in PROGRAMME_BOUNDS if name in binding]


def own_effects(samples: BalanceSamples, recommendations: pd.DataFrame) -> pd.DataFrame:
    """Each programme's own graduates in its main field in its graduation year, at the
    current quota and at the recommended one (expected persons), and the difference.

    One entrant adds completion × rates (placement, in field, local) × crosswalk weight to the
    field's supply, sample by sample (:meth:`BalanceSamples.contribution`); the mean over the
    run's samples times the quota is the programme's expected contribution. Unlike the field's
    P(shortage) before and after, which moves with every programme's change, this is the
    programme's alone: its part in the field's gap changes by −(after − before). NaN when the
    graduation year is past the horizon or the programme is not in the samples."""
    position = {key: i for i, key in enumerate(samples.programmes)}
    rows = []
    for row in recommendations.itertuples(index=False):
        p = position.get(f"{row.programme_code}|{row.level}")
        per_entrant = math.nan
        if p is not None and row.field_code in samples.fields:
            j, added = samples.contribution(p, int(row.intake_year))
            if j >= 0:
                per_entrant = float(added[:, samples.fields.index(str(row.field_code))].mean())
        before = per_entrant * float(row.current_quota)
        after = per_entrant * float(row.recommended_quota)
        rows.append(
            {
                "programme_code": row.programme_code,
                "level": row.level,
                "own_before": before,
                "own_after": after,
                "own_change": after - before,
            }
        )
    columns = ["programme_code", "level", "own_before", "own_after", "own_change"]
    return pd.DataFrame(rows, columns=columns)


#: A text cell starting with one of these is a formula to Excel and LibreOffice.
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


#: Export columns holding comma-separated codes, with the prefix of their words in i18n.
_CODED_COLUMNS: Final = {
    "binding": "binding_",
    "warning_actions": "action_",
    "reasons": "reason_code_",
}


def export_frame(filtered: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The columns of the recommendations export in the page's language.

    In English the headers, levels and codes are the codes themselves, for re-use in scripts;
    in Chinese they are words a planner reads (headers, level names, constraints, warning
    actions and reasons), with the same columns in the same order.

    Text cells that a spreadsheet would run as a formula (programme names and messages come
    from uploads) are prefixed with an apostrophe, which spreadsheets show as text; numbers
    stay numbers, negative ones included; persons are rounded as the API serves them."""
    frame = round_persons(filtered.loc[:, list(EXPORT_COLUMNS)]).copy()
    if lang == "zh":
        frame["level"] = frame["level"].map(lambda level: level_name(str(level), lang))
        for column, prefix in _CODED_COLUMNS.items():
            frame[column] = frame[column].map(lambda codes, p=prefix: _named(codes, p, lang))
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].map(neutralise_formula)
    if lang == "zh":
        frame = frame.rename(columns=EXPORT_HEADERS_ZH)
    return frame


def _named(codes: object, prefix: str, lang: str) -> object:
    """Comma-separated codes in words (``、`` between them); a missing value stays missing."""
    if not isinstance(codes, str):
        return codes
    return "、".join(code_name(prefix, code, lang) for code in codes.split(",") if code)


def neutralise_formula(value: object) -> object:
    """``value`` with a leading apostrophe if it is text that starts like a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
