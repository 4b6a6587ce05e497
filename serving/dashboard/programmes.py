"""``/programmes``: employment warnings and quota recommendations, with filters and exports.

Planners and admins only, like the API's ``/warnings`` and ``/recommendations``. The exports
take the same filters as the page, so "what I see is what I download".
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

import pandas as pd
from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, Response

from data.regions import RegionPlan
from data.vocabulary import LEVELS
from serving.api.deps import SettingsDep
from serving.dashboard import tables
from serving.dashboard.pages import choose, of_region
from serving.dashboard.render import PageContext, render
from serving.dashboard.session import Page

router = APIRouter(include_in_schema=False)
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DEFAULT_SORT = "urgency"
#: Columns whose first click sorts ascending (urgency 1 is the most urgent; names A→Z).
ASCENDING_FIRST = frozenset({"urgency", "programme", "level", "field"})


@dataclass(frozen=True)
class Selection:
    """The page's filters and order, checked, and what they select (every row, in order)."""

    level: str
    field_code: str
    query: str
    warning: str
    sort: str
    recommendations: pd.DataFrame
    warnings: pd.DataFrame
    intake_year: int | None
    #: The city shown, in a deployment of several ("" with one region).
    region: str = ""

    def params(self, **changes: str) -> list[tuple[str, str]]:
        """The query of this selection (the default order and empty filters left out), with
        ``changes``: page links and exports keep the filters and the order."""
        values = {
            "region": self.region,
            "level": self.level,
            "field": self.field_code,
            "q": self.query,
            "warning": self.warning,
            "sort": "" if self.sort == DEFAULT_SORT else self.sort,
            **changes,
        }
        return [(name, value) for name, value in values.items() if value]


@dataclass(frozen=True)
class ProgrammeQuery:
    """The page's query as given (the page, and its exports alike): filters and order."""

    region: str | None = None
    level: str | None = None
    field: str | None = None
    q: str | None = None
    warning: str | None = None
    sort: str | None = None


Asked = Annotated[ProgrammeQuery, Depends()]


def _select(page: PageContext, asked: ProgrammeQuery, plan: RegionPlan) -> Selection:
    """Check the query (a 422 page names a bad value) and select the rows it asks for.

    Quotas are set city by city, so a deployment of several regions shows one city's
    programmes at a time (the first by default), with that city's samples."""
    level, field, q, warning, sort = asked.level, asked.field, asked.q, asked.warning, asked.sort
    page.require_planner()
    run = page.require_run()
    store, cache = page.store, page.cache
    catalog = cache.catalog(store, run.watermark)
    cities = list(plan.regions)
    region = choose(page, asked.region, cities, cities[0], "region")
    chosen_level = choose(page, level, LEVELS, "", "level")
    chosen_field = choose(page, field, list(catalog.fields["field_code"]), "", "field")
    chosen_warning = choose(page, warning, tables.WARNING_FILTERS, "", "warning_filter")
    sorts = [prefix + name for name in tables.SORT_COLUMNS for prefix in ("", "-")]
    chosen_sort = choose(page, sort, sorts, DEFAULT_SORT, "sort_by")
    query = (q or "").strip()[:100]
    recommendations = of_region(cache.output(store, run.id, "recommendations"), region)
    warnings = of_region(cache.output(store, run.id, "warnings"), region)
    filters = {"level": chosen_level, "field_code": chosen_field, "query": query}
    selected = tables.filter_recommendations(recommendations, catalog, page.lang, **filters)
    samples = cache.samples(store, run.id, None if plan.single else region)
    effects = tables.own_effects(samples, selected)
    selected = tables.with_urgency(selected, warnings).merge(
        effects, on=["programme_code", "level"], how="left"
    )
    selected = tables.sort_rows(tables.keep_warning(selected, chosen_warning), chosen_sort)
    shown = tables.keep_action(
        tables.filter_warnings(warnings, recommendations, catalog, page.lang, **filters),
        chosen_warning,
    )
    years = recommendations["intake_year"].dropna().unique()
    intake_year = int(years.max()) if len(years) else None
    return Selection(
        chosen_level,
        chosen_field,
        query,
        chosen_warning,
        chosen_sort,
        selected,
        shown,
        intake_year,
        "" if plan.single else region,
    )


@router.get("/programmes", response_class=HTMLResponse)
def programmes(
    page: Page,
    settings: SettingsDep,
    asked: Asked,
    number: Annotated[int, Query(alias="page")] = 1,
) -> HTMLResponse:
    """Recommendations, most urgent first (or sorted by a column), a page at a time (a page
    number out of range shows the nearest page), with the employment warnings; filtered by
    level, main field, warning and programme code/name."""
    plan = settings.region_plan()
    selection = _select(page, asked, plan)
    catalog = page.cache.catalog(page.store, page.require_run().watermark)
    pagination = tables.paginate(len(selection.recommendations), number)
    start = pagination.first_row
    shown = selection.recommendations.iloc[start : start + pagination.size]
    rows = shown.to_dict("records")
    for row in rows:
        row["fixed_by"] = tables.interval_note(row)
    return render(
        page,
        "programmes.html",
        selection=selection,
        regions=[] if plan.single else list(plan.regions),
        levels=LEVELS,
        fields=tables.plan_fields(catalog, page.lang),
        warning_filters=tables.WARNING_FILTERS,
        recommendations=rows,
        pagination=pagination,
        warnings=selection.warnings.to_dict("records"),
        export_query=urlencode(selection.params(lang=page.lang)),
        sort_url=lambda column: _sort_url(page, selection, column),
        page_url=lambda n: f"{page.base}/programmes?{urlencode(selection.params(page=str(n)))}",
    )


def _sort_url(page: PageContext, selection: Selection, column: str) -> str:
    """The page sorted by ``column``: ascending first for urgency and text, descending first
    for numbers; clicking the sorted column again reverses it."""
    if selection.sort == column:
        chosen = "-" + column
    elif selection.sort == "-" + column:
        chosen = column
    else:
        chosen = column if column in ASCENDING_FIRST else "-" + column
    return f"{page.base}/programmes?{urlencode(selection.params(sort=chosen))}"


def _filename(page: PageContext, selection: Selection, suffix: str) -> str:
    run = page.require_run()
    year = selection.intake_year or "all"
    city = f"_{selection.region}" if selection.region else ""
    return f"talentcast_recommendations_run{run.id}{city}_{year}.{suffix}"


def _download_headers(filename: str) -> dict[str, str]:
    return {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "private, no-cache",
    }


@router.get("/programmes/export.csv")
def export_csv(page: Page, settings: SettingsDep, asked: Asked) -> Response:
    """The filtered recommendations, in the page's order and language, as CSV, UTF-8 with a
    BOM so that Excel shows Chinese."""
    selection = _select(page, asked, settings.region_plan())
    body = tables.export_frame(selection.recommendations, page.lang).to_csv(index=False)
    return Response(
        body.encode("utf-8-sig"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{_filename(page, selection, "csv")}"'
        },
    )


@router.get("/programmes/export.xlsx")
def export_xlsx(page: Page, settings: SettingsDep, asked: Asked) -> Response:
    """The filtered recommendations, in the page's order and language, as an Excel workbook
    (one sheet)."""
    selection = _select(page, asked, settings.region_plan())
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        tables.export_frame(selection.recommendations, page.lang).to_excel(
            writer, sheet_name="recommendations", index=False
        )
    return Response(
        buffer.getvalue(),
        media_type=XLSX_TYPE,
        headers=_download_headers(_filename(page, selection, "xlsx")),
    )
