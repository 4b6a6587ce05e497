"""``/uploads`` and ``/runs``: what was sent and what was trained on it.

The upload form posts straight to the API (``POST /api/v1/uploads/{kind}``) from the browser, so
a file goes through exactly the checks a script's upload does; this page only renders the form,
the expected columns and the recent uploads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from data.schemas import SCHEMAS
from data.vocabulary import Kind, Role
from forecasting.promotion import not_served_reason
from serving.api.routes.uploads import ASSOCIATION_KINDS
from serving.auth import UPLOADERS
from serving.dashboard.i18n import Translate
from serving.dashboard.render import render
from serving.dashboard.session import Page

router = APIRouter(include_in_schema=False)
RECENT_UPLOADS: Final = 20
RECENT_RUNS: Final = 50
#: Run metrics worth a planner's glance, in this order (the rest are in the API's answer).
KEY_METRICS: Final = (
    "first_forecast_year",
    "horizon",
    "cells_short_in_first_year",
    "programmes_warned",
    "quotas_raised",
    "quotas_cut",
    "quotas_stopped",
)


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    required: bool
    aliases: tuple[str, ...]


def _columns(kind: Kind) -> list[ColumnInfo]:
    return [
        ColumnInfo(column.name, column.required, column.aliases) for column in SCHEMAS[kind].columns
    ]


@router.get("/uploads", response_class=HTMLResponse)
def uploads(page: Page) -> HTMLResponse:
    """The upload form (for the kinds the caller may send), the columns each kind expects and
    the recent uploads (an association sees its own)."""
    principal = page.principal
    if principal.role is Role.ASSOCIATION:
        kinds = [kind for kind in Kind if kind in ASSOCIATION_KINDS]
    elif principal.may(UPLOADERS):
        kinds = list(Kind)
    else:
        kinds = []
    records = page.store.uploads(limit=None if principal.field_scoped else RECENT_UPLOADS)
    if principal.field_scoped:
        records = [record for record in records if record.uploader == principal.name]
    shown_kinds = kinds or list(Kind)
    return render(
        page,
        "uploads.html",
        kinds=kinds,
        schemas={kind.value: _columns(kind) for kind in shown_kinds},
        uploads=records[:RECENT_UPLOADS],
        upload_strings=_script_strings(page.t),
    )


def _script_strings(t: Translate) -> dict[str, object]:
    """What ``uploads.js`` shows, in the page's language (the script holds no text)."""
    keys = (
        "upload_sending",
        "upload_accepted",
        "upload_duplicate",
        "upload_rejected",
        "upload_failed",
        "upload_choose_file",
        "problems_total",
        "row",
        "column",
        "problem_reason",
        "none_found",
    )
    strings: dict[str, object] = {key: t(key) for key in keys}
    strings["kinds"] = {kind.value: t(f"kind_{kind.value}") for kind in Kind}
    return strings


@router.get("/runs", response_class=HTMLResponse)
def runs(page: Page) -> HTMLResponse:
    """Training runs, newest first, with status, watermark, timings and key metrics; a run
    kept as challenger says why (its failed gates) and what moved since the run served when
    it was trained, so that an admin can decide on it here rather than in the logs."""
    records = page.store.runs(limit=RECENT_RUNS)
    return render(
        page,
        "runs.html",
        runs=records,
        key_metrics=KEY_METRICS,
        held={
            record.id: reason
            for record in records
            if (reason := not_served_reason(record, page.message_lang))
        },
        changes={
            record.id: _change_summary(record.metrics["changes"], page.message_lang)
            for record in records
            if isinstance(record.metrics.get("changes"), dict)
        },
    )


def _change_summary(changes: dict[str, Any], lang: str) -> list[str]:
    """What moved since the served run, in ``lang`` where the run wrote it (runs recorded
    before their changes were written in Chinese keep their English)."""
    if lang == "zh" and isinstance(changes.get("summary_zh"), list):
        return list(changes["summary_zh"])
    return list(changes.get("summary", []))
