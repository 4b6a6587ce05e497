"""``/uploads``: data files sent over HTTP, with the CLI's validation and all-or-nothing rule."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from data.ingest import prepare_upload, store_upload
from data.messages import Lang
from data.problems import UploadRejected
from data.store import Store, UnknownUpload, UploadRecord
from data.validation import FOREIGN_FIELD
from data.vocabulary import Kind, Role
from serving.api.audit import AUDITED_STATE
from serving.api.deps import Allow, SettingsDep, StoreDep, UploadId, UploadWorkersDep
from serving.api.language import VARY_HEADER, LanguageDep
from serving.api.messages import Detail, title
from serving.api.multipart import FilePart, read_file_part, refuse_declared_size
from serving.api.pages import DEFAULT_LIMIT, Limit, ListPage, Offset
from serving.api.problems import PROBLEM_MEDIA_TYPE, ProblemDetails, problem
from serving.auth import READERS, UPLOADERS, Principal

router = APIRouter(tags=["uploads"])
Reader = Annotated[Principal, Depends(Allow(READERS))]
Uploader = Annotated[Principal, Depends(Allow(UPLOADERS))]
#: What an industry association reports: demand, for its own fields.
ASSOCIATION_KINDS = frozenset({Kind.HIRING, Kind.DEMAND_SURVEY})


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
    """One problem of a refused file."""

    row: int | None = Field(
        description="Row as a spreadsheet numbers it (the header is row 1; JSON records from "
        "1); null for a problem of the whole file."
    )
    column: str | None = Field(description="The column as the file heads it, or null.")
    code: str | None = Field(
        description="What kind of problem, e.g. `count.not_whole` or `file.too_large`: the "
        "same in every language, for scripts to act on."
    )
    reason: str = Field(
        description="Why, quoting the cell: in Chinese for a client whose `Accept-Language` "
        "prefers `zh` (`zh-CN`, `zh-Hans`), otherwise in English."
    )


class RejectedOut(ProblemDetails):
    """The file was refused as a whole: nothing was stored (problem details with every
    problem found, up to 100, by row, column, code and reason, and how many in all)."""

    total: int
    problems: list[ProblemOut]


#: The request body the upload route reads itself (:mod:`serving.api.multipart`), as the
#: OpenAPI document describes it.
UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"}},
            }
        }
    },
}


@router.post(
    "/uploads/{kind}",
    response_model=UploadResult,
    status_code=status.HTTP_201_CREATED,
    summary="Upload a data file",
    openapi_extra={"requestBody": UPLOAD_BODY},
    responses={
        200: {"model": UploadResult, "description": "Identical content was already stored."},
        400: problem("The multipart body is malformed."),
        403: problem(
            "The key may not upload this kind, or the file has rows of fields that are not "
            "the caller's (then with the rows); nothing stored.",
            RejectedOut,
            ProblemDetails,
        ),
        409: problem("The store has no catalog yet (the detail says how to load one)."),
        413: problem("The file is larger than the configured limit."),
        415: problem("The body is not multipart/form-data."),
        422: problem(
            "The file has problems (listed by row, column and reason), or no `file` field was "
            "sent; nothing stored.",
            RejectedOut,
            ProblemDetails,
        ),
        503: problem("The worker reading the file stopped; send it again."),
    },
)
async def upload(
    request: Request,
    kind: Kind,
    principal: Uploader,
    store: StoreDep,
    settings: SettingsDep,
    workers: UploadWorkersDep,
    lang: LanguageDep,
) -> JSONResponse:
    """Send one CSV (UTF-8, UTF-8 with BOM or GBK), XLSX or JSON file of ``kind`` as the
    multipart field ``file``. Every row is checked; one problem refuses the whole file with
    the problems listed by row, column, code and reason (the reasons, title and detail in
    the language of `Accept-Language`: Chinese for `zh`, otherwise English). An association may
    send hiring and survey data for its own fields only.

    The key, the role and the declared size are checked before the body is read; a few
    uploads at a time then have their body read into memory up to the size limit (never to
    disk), read and validated in a worker process and stored from a worker thread, so that
    other requests keep being answered while a large file is processed."""
    options = settings.ingest_options()
    if principal.role is Role.ASSOCIATION:
        if kind not in ASSOCIATION_KINDS:
            allowed = ", ".join(sorted(k.value for k in ASSOCIATION_KINDS))
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                Detail.of("upload.kind_not_allowed", allowed=allowed, kind=kind.value),
            )
        options = options.with_fields(principal.fields)
    refuse_declared_size(request, options.max_bytes)
    # The body is read inside the limiter: at most upload_concurrency files are in memory,
    # however many clients send at once (the others wait, unread, at the socket).
    async with workers.limiter:
        part = await read_file_part(request, "file", options.max_bytes)
        catalog = await to_thread.run_sync(store.catalog)
        prepare = partial(
            prepare_upload,
            kind,
            part.content,
            catalog=catalog,
            filename=part.filename,
            options=options,
        )
        try:
            prepared = await workers.run(prepare)
        except UploadRejected as rejected:
            await to_thread.run_sync(
                partial(_audit_rejection, store, kind, part, principal, rejected)
            )
            setattr(request.state, AUDITED_STATE, True)  # not again as a refused request
            return _rejection(rejected, lang)
        stored = await to_thread.run_sync(
            partial(store_upload, store, prepared, uploader=principal.name, filename=part.filename)
        )
    result = UploadResult(created=stored.created, upload=UploadOut.of(stored.upload))
    code = status.HTTP_201_CREATED if stored.created else status.HTTP_200_OK
    return JSONResponse(result.model_dump(mode="json"), status_code=code, headers=VARY_HEADER)


def _audit_rejection(
    store: Store, kind: Kind, part: FilePart, principal: Principal, rejected: UploadRejected
) -> None:
    store.audit(
        principal.name,
        "upload.rejected",
        role=principal.role.value,
        target=f"{kind.value} {(part.filename or '')[:150]}".strip(),
        detail={"problems": rejected.total},
    )


def _rejection(rejected: UploadRejected, lang: Lang) -> JSONResponse:
    """422 with the problems in ``lang`` (403 when rows are of fields that are not the
    caller's)."""
    foreign = any(problem.code == FOREIGN_FIELD for problem in rejected.problems)
    code = status.HTTP_403_FORBIDDEN if foreign else status.HTTP_422_UNPROCESSABLE_CONTENT
    return rejection_response(rejected, lang, code, RejectedOut)


def rejection_response(
    rejected: UploadRejected, lang: Lang, code: int, body: type[ProblemDetails]
) -> JSONResponse:
    """Problem details of a refused file (or set of files): title, detail and every reported
    problem in ``lang``, as ``body`` describes them (its ``problems`` take what each problem
    says of itself, the file included where one is named)."""
    answer = body.model_validate(
        {
            "title": title(code, lang),
            "status": code,
            "detail": Detail.of("upload.rejected", total=rejected.total).in_language(lang),
            "total": rejected.total,
            "problems": [problem.to_dict(lang) for problem in rejected.problems],
        }
    )
    return JSONResponse(
        answer.model_dump(),
        status_code=code,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=VARY_HEADER,
    )


@router.get("/uploads", response_model=ListPage[UploadOut], summary="Uploads, newest first")
def uploads(
    principal: Reader,
    store: StoreDep,
    kind: Kind | None = None,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> ListPage[UploadOut]:
    """Accepted uploads, newest first; an association sees its own."""
    kind_code = kind.value if kind else None
    uploader = principal.name if principal.role is Role.ASSOCIATION else None
    records = store.uploads(kind_code, limit, offset=offset, uploader=uploader)
    return ListPage[UploadOut](
        total=store.count_uploads(kind_code, uploader),
        limit=limit,
        offset=offset,
        items=[UploadOut.of(record) for record in records],
    )


@router.get("/uploads/{upload_id}", response_model=UploadOut, summary="One upload")
def upload_record(upload_id: UploadId, principal: Reader, store: StoreDep) -> UploadOut:
    """An upload's record: who sent it, when, rows, replaced rows, content hash. An
    association sees its own uploads; another's answers exactly as a missing one does, so
    that ids do not tell which uploads exist."""
    try:
        record = store.upload(upload_id)
    except UnknownUpload:
        record = None
    if record is None or (principal.role is Role.ASSOCIATION and record.uploader != principal.name):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, Detail.of("upload.missing", upload_id=upload_id)
        )
    return UploadOut.of(record)
