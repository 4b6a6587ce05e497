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
from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from data.vocabulary import LEVELS
from serving.dashboard import tables
from serving.dashboard.pages import choose
from serving.dashboard.render import PageContext, render
from serving.dashboard.session import Page

router = APIRouter(include_in_schema=False)
OptionalText = Annotated[str | None, Query()]
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Selection:
    """The page's filters, checked, and what they select."""

    level: str
    field_code: str
    query: str
    recommendations: pd.DataFrame
    warnings: pd.DataFrame
    intake_year: int | None


def _select(page: PageContext, level: str | None, field: str | None, q: str | None) -> Selection:
    page.require_planner()
    run = page.require_run()
    store, cache = page.store, page.cache
    catalog = cache.catalog(store, run.watermark)
    chosen_level = choose(page, level, LEVELS, "", "level")
    chosen_field = choose(page, field, list(catalog.fields["field_code"]), "", "field")
    query = (q or "").strip()[:100]
    recommendations = cache.output(store, run.id, "recommendations")
    filters = {"level": chosen_level, "field_code": chosen_field, "query": query}
    selected = tables.filter_recommendations(recommendations, catalog, page.lang, **filters)
    warnings = tables.filter_warnings(
        cache.output(store, run.id, "warnings"), recommendations, catalog, page.lang, **filters
    )
    years = recommendations["intake_year"].dropna().unique()
    intake_year = int(years.max()) if len(years) else None
    return Selection(chosen_level, chosen_field, query, selected, warnings, intake_year)


@router.get("/programmes", response_class=HTMLResponse)
def programmes(
    page: Page, level: OptionalText = None, field: OptionalText = None, q: OptionalText = None
) -> HTMLResponse:
    """Warnings and recommendations, filtered by level, main field and programme code/name."""
    selection = _select(page, level, field, q)
    catalog = page.cache.catalog(page.store, page.require_run().watermark)
    params = [
        (name, value)
        for name, value in (
            ("level", selection.level),
            ("field", selection.field_code),
            ("q", selection.query),
        )
        if value
    ]
    return render(
        page,
        "programmes.html",
        selection=selection,
        levels=LEVELS,
        fields=tables.plan_fields(catalog, page.lang),
        recommendations=selection.recommendations.to_dict("records"),
        warnings=selection.warnings.to_dict("records"),
        export_query=urlencode(params),
    )


def _filename(page: PageContext, selection: Selection, suffix: str) -> str:
    run = page.require_run()
    year = selection.intake_year or "all"
    return f"talentcast_recommendations_run{run.id}_{year}.{suffix}"


def _download_headers(filename: str) -> dict[str, str]:
    return {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "private, no-cache",
    }


@router.get("/programmes/export.csv")
def export_csv(
    page: Page, level: OptionalText = None, field: OptionalText = None, q: OptionalText = None
) -> Response:
    """The filtered recommendations as CSV, UTF-8 with a BOM so that Excel shows Chinese."""
    selection = _select(page, level, field, q)
    body = tables.export_frame(selection.recommendations).to_csv(index=False)
    return Response(
        body.encode("utf-8-sig"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{_filename(page, selection, "csv")}"'
        },
    )


@router.get("/programmes/export.xlsx")
def export_xlsx(
    page: Page, level: OptionalText = None, field: OptionalText = None, q: OptionalText = None
) -> Response:
    """The filtered recommendations as an Excel workbook (one sheet)."""
    selection = _select(page, level, field, q)
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        tables.export_frame(selection.recommendations).to_excel(
            writer, sheet_name="recommendations", index=False
        )
    return Response(
        buffer.getvalue(),
        media_type=XLSX_TYPE,
        headers=_download_headers(_filename(page, selection, "xlsx")),
    )
