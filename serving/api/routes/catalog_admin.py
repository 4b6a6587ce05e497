"""``PUT /catalog`` and ``GET /catalog``: the city's own catalog, written by its admin.

A city replaces the catalog over HTTP as it sends data: the fields (names, tier label, shortage
and surplus cost weights), the programmes with their crosswalk to fields, and so the levels it
has (those its programmes are offered at). The files are those ``talentcast catalog load``
reads; they are checked as a whole and stored as a new catalog version, or refused with every
problem by file, row, column and reason and nothing stored. The reads of ``/fields`` and
``/programmes`` answer from a run; ``GET /catalog`` answers what the next run will see.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from data.catalog import OTHER, Catalog
from data.ingest import ingest_catalog
from data.messages import Lang
from data.problems import UploadRejected
from data.store import CATALOG_KIND, Store
from data.vocabulary import LEVELS
from serving.api.audit import AUDITED_STATE
from serving.api.deps import Allow, SettingsDep, StoreDep, UploadWorkersDep
from serving.api.language import LanguageDep
from serving.api.multipart import read_file_parts, refuse_declared_size
from serving.api.problems import ProblemDetails, problem
from serving.api.routes.uploads import ProblemOut, UploadOut, rejection_response
from serving.auth import ADMINS, Principal

router = APIRouter(tags=["catalog"])
Admin = Annotated[Principal, Depends(Allow(ADMINS))]
FIELDS_PART = "fields"
PROGRAMMES_PART = "programmes"


class CatalogProblemOut(ProblemOut):
    """One problem of a refused catalog: as for an upload, and in which of its files."""

    file: str | None = Field(description="The file the problem is in, as the client named it.")


class CatalogRejectedOut(ProblemDetails):
    """The catalog was refused as a whole: nothing was stored, the catalog in force is
    unchanged (every problem found, up to 100, by file, row, column, code and reason)."""

    total: int
    problems: list[CatalogProblemOut]


class CatalogSummary(BaseModel):
    """A catalog version: its fields and levels, and how many programmes it has."""

    upload_id: int = Field(description="The catalog's upload (runs at or after it see it).")
    fields: list[str]
    levels: list[str] = Field(description="The city's levels: where its programmes are offered.")
    programmes: int
    crosswalk_rows: int


class CatalogResult(BaseModel):
    """``created`` is false when the identical catalog is already in force."""

    created: bool
    upload: UploadOut
    catalog: CatalogSummary


CATALOG_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": [PROGRAMMES_PART],
                "properties": {
                    PROGRAMMES_PART: {"type": "string", "format": "binary"},
                    FIELDS_PART: {"type": "string", "format": "binary"},
                },
            }
        }
    },
}


@router.put(
    "/catalog",
    response_model=CatalogResult,
    status_code=status.HTTP_201_CREATED,
    summary="Replace the catalog",
    openapi_extra={"requestBody": CATALOG_BODY},
    responses={
        200: {"model": CatalogResult, "description": "This catalog is already in force."},
        400: problem("The multipart body is malformed."),
        413: problem("The files are larger than the configured limit."),
        415: problem("The body is not multipart/form-data."),
        422: problem(
            "The files have problems (listed by file, row, column, code and reason), or no "
            "`programmes` field was sent; nothing stored.",
            CatalogRejectedOut,
            ProblemDetails,
        ),
    },
)
async def replace_catalog(
    request: Request,
    principal: Admin,
    store: StoreDep,
    settings: SettingsDep,
    workers: UploadWorkersDep,
    lang: LanguageDep,
) -> JSONResponse:
    """Send the programmes file (one row per programme, level and field it feeds:
    ``programme_code, level, name_zh, name_en, duration_years, field_code, weight, verified,
    source``) as the multipart field ``programmes`` and, to change the fields, the fields file
    (``field_code, name_zh, name_en, tier, sort_order, shortage_cost, surplus_cost``) as
    ``fields``; a store's first catalog needs both. Each level that has programmes needs its
    ``other`` line. CSV, XLSX or JSON as for uploads; a refusal lists every problem by
    file, row, column, code and reason (the reasons, title and detail in the language of
    `Accept-Language`: Chinese for `zh`, otherwise English). Data already stored is kept; training
    runs from now on see the new catalog, earlier runs keep theirs."""
    max_bytes = settings.ingest_options().max_bytes
    refuse_declared_size(request, max_bytes)
    # Within the uploads' limiter: catalogs count among the few files in memory at a time.
    async with workers.limiter:
        return await _replace(request, principal, store, max_bytes, lang)


async def _replace(
    request: Request, principal: Principal, store: Store, max_bytes: int, lang: Lang
) -> JSONResponse:
    parts = await read_file_parts(request, (PROGRAMMES_PART, FIELDS_PART), max_bytes)
    if PROGRAMMES_PART not in parts:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"the multipart body has no field {PROGRAMMES_PART!r} (and {FIELDS_PART!r} to "
            "replace the fields)",
        )
    programmes = parts[PROGRAMMES_PART]
    fields = parts.get(FIELDS_PART)
    load = partial(
        ingest_catalog,
        store,
        programmes.content,
        fields=fields.content if fields else None,
        uploader=principal.name,
        filename=programmes.filename or PROGRAMMES_PART,
        fields_filename=(fields.filename or FIELDS_PART) if fields else None,
        max_bytes=max_bytes,
    )
    try:
        stored = await to_thread.run_sync(load)
    except UploadRejected as rejected:
        await to_thread.run_sync(partial(_audit_rejection, store, principal, rejected))
        setattr(request.state, AUDITED_STATE, True)  # not again as a refused request
        return rejection_response(
            rejected, lang, status.HTTP_422_UNPROCESSABLE_CONTENT, CatalogRejectedOut
        )
    catalog = await to_thread.run_sync(partial(store.catalog, as_of=stored.upload.id))
    result = CatalogResult(
        created=stored.created,
        upload=UploadOut.of(stored.upload),
        catalog=_summary(catalog, stored.upload.id),
    )
    code = status.HTTP_201_CREATED if stored.created else status.HTTP_200_OK
    return JSONResponse(result.model_dump(mode="json"), status_code=code)


@router.get(
    "/catalog",
    response_model=CatalogSummary,
    summary="The catalog in force",
    responses={409: problem("The store has no catalog yet (the detail says how to load one).")},
)
def catalog_in_force(principal: Admin, store: StoreDep) -> CatalogSummary:
    """The newest catalog version: what the next training run and the next upload see (the
    full lists are at ``/fields`` and ``/programmes`` once a run has seen it)."""
    catalog = store.catalog()  # NoCatalog → 409
    newest = store.uploads(kind=CATALOG_KIND, limit=1)
    return _summary(catalog, newest[0].id)


def _summary(catalog: Catalog, upload_id: int) -> CatalogSummary:
    offered = set(catalog.programmes.loc[catalog.programmes["programme_code"] != OTHER, "level"])
    return CatalogSummary(
        upload_id=upload_id,
        fields=list(catalog.field_codes),
        levels=[level for level in LEVELS if level in offered],
        programmes=len(catalog.programmes),
        crosswalk_rows=len(catalog.crosswalk),
    )


def _audit_rejection(store: Store, principal: Principal, rejected: UploadRejected) -> None:
    store.audit(
        principal.name,
        "catalog.rejected",
        role=principal.role.value,
        target="catalog",
        detail={"problems": rejected.total},
    )
