"""``/uploads``: data files sent over HTTP, with the CLI's validation and all-or-nothing rule."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, UploadFile, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from data.ingest import ingest_file
from data.problems import UploadRejected
from data.store import UploadRecord
from data.validation import FOREIGN_FIELD_REASON
from data.vocabulary import Kind, Role
from serving.api.deps import Allow, SettingsDep, StoreDep
from serving.auth import READERS, UPLOADERS, Principal

router = APIRouter(tags=["uploads"])
Reader = Annotated[Principal, Depends(Allow(READERS))]
Uploader = Annotated[Principal, Depends(Allow(UPLOADERS))]
#: What an industry association reports: demand, for its own fields.
ASSOCIATION_KINDS = frozenset({Kind.HIRING, Kind.DEMAND_SURVEY})
CHUNK = 1 << 20


class UploadOut(BaseModel):
    """An accepted upload as the store recorded it."""

    id: int
    kind: str
    uploader: str
    filename: str | None
    file_format: str | None
    encoding: str | None
    content_sha256: str
    row_count: int
    replaced_rows: int
    status: str
    created_at: datetime

    @classmethod
    def of(cls, record: UploadRecord) -> UploadOut:
        return cls.model_validate(record, from_attributes=True)


class UploadResult(BaseModel):
    """``created`` is false when identical content was stored before (nothing was written)."""

    created: bool
    upload: UploadOut


class ProblemOut(BaseModel):
    row: int | None
    column: str | None
    reason: str


class RejectedOut(BaseModel):
    """The file was refused as a whole: nothing was stored."""

    detail: str
    total: int
    problems: list[ProblemOut]


@router.post(
    "/uploads/{kind}",
    response_model=UploadResult,
    status_code=status.HTTP_201_CREATED,
    summary="Upload a data file",
    responses={
        200: {"model": UploadResult, "description": "Identical content was already stored."},
        403: {"model": RejectedOut, "description": "Rows of fields that are not the caller's."},
        413: {"description": "The file is larger than the configured limit."},
        422: {"model": RejectedOut, "description": "The file has problems; nothing stored."},
    },
)
async def upload(
    kind: Kind,
    file: UploadFile,
    principal: Uploader,
    store: StoreDep,
    settings: SettingsDep,
) -> JSONResponse:
    """Send one CSV (UTF-8, UTF-8 with BOM or GBK), XLSX or JSON file of ``kind`` as the
    multipart field ``file``. Every row is checked; one problem refuses the whole file with
    the problems listed by row, column and reason. An association may send hiring and survey
    data for its own fields only."""
    options = settings.ingest_options()
    if principal.role is Role.ASSOCIATION:
        if kind not in ASSOCIATION_KINDS:
            allowed = ", ".join(sorted(k.value for k in ASSOCIATION_KINDS))
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"an association key may upload {allowed}, not {kind.value}",
            )
        options = options.with_fields(principal.fields)
    content = await _read_limited(file, options.max_bytes)
    try:
        stored = ingest_file(
            store,
            kind,
            content,
            filename=file.filename,
            uploader=principal.name,
            options=options,
        )
    except UploadRejected as rejected:
        store.audit(
            principal.name,
            "upload.rejected",
            role=principal.role.value,
            target=f"{kind.value} {(file.filename or '')[:150]}".strip(),
            detail={"problems": rejected.total},
        )
        foreign = any(FOREIGN_FIELD_REASON in problem.reason for problem in rejected.problems)
        body = RejectedOut(
            detail=rejected.summary(limit=0).splitlines()[0],
            total=rejected.total,
            problems=[ProblemOut(**problem.to_dict()) for problem in rejected.problems],
        )
        code = status.HTTP_403_FORBIDDEN if foreign else status.HTTP_422_UNPROCESSABLE_CONTENT
        return JSONResponse(body.model_dump(), status_code=code)
    result = UploadResult(created=stored.created, upload=UploadOut.of(stored.upload))
    code = status.HTTP_201_CREATED if stored.created else status.HTTP_200_OK
    return JSONResponse(result.model_dump(mode="json"), status_code=code)


async def _read_limited(file: UploadFile, max_bytes: int) -> bytes:
    """The file's bytes, or 413 as soon as it passes the limit (without reading the rest)."""
    parts: list[bytes] = []
    size = 0
    while chunk := await file.read(CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise HTTPException(
                status.HTTP_413_CONTENT_TOO_LARGE,
                f"the file is larger than the limit of {max_bytes / 2**20:.0f} MB",
            )
        parts.append(chunk)
    return b"".join(parts)


@router.get("/uploads", response_model=list[UploadOut], summary="Uploads, newest first")
def uploads(
    principal: Reader,
    store: StoreDep,
    kind: Kind | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[UploadOut]:
    """Accepted uploads, newest first; an association sees its own."""
    records = store.uploads(kind=kind.value if kind else None, limit=None)
    if principal.role is Role.ASSOCIATION:
        records = [record for record in records if record.uploader == principal.name]
    return [UploadOut.of(record) for record in records[:limit]]


@router.get("/uploads/{upload_id}", response_model=UploadOut, summary="One upload")
def upload_record(upload_id: int, principal: Reader, store: StoreDep) -> UploadOut:
    """An upload's record: who sent it, when, rows, replaced rows, content hash."""
    record = store.upload(upload_id)  # UnknownUpload → 404 (see serving.app)
    if principal.role is Role.ASSOCIATION and record.uploader != principal.name:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"upload {upload_id} was not sent by {principal.name!r}"
        )
    return UploadOut.of(record)
