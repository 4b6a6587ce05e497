"""Paged, cacheable JSON answers from a run's outputs, and the schemas that describe them.

Every list answer has the same envelope (:class:`ListPage`): the number of matching items, the
``limit`` and ``offset`` asked for, and one page of items; a list cut from a run's outputs
(:class:`Page`) also names the run it comes from and that run's data watermark. Rows are
described by models generated from the store's :data:`~data.store.tables.OUTPUT_SPECS`, so the
API can never disagree with what a run stores (persons are integers there and here).

Answers are immutable for a given run, request and caller scope, which makes them cheap to
repeat: the weak ETag encodes exactly those, ``If-None-Match`` gets a 304 without touching the
data, and the rendered body is kept in the process cache. The caller's language is not part of
it: answers hold figures, codes and both languages' names and sentences, the same whatever
``Accept-Language`` says (only errors are worded per language, and they are never cached).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection
from typing import Annotated, Any, Final, Generic, TypeVar

import pandas as pd
from fastapi import HTTPException, Query, Request, Response, status
from pydantic import BaseModel, Field, create_model

from data.catalog import Catalog
from data.store.persons import round_persons
from data.store.runs import RunRecord
from data.store.tables import MAX_ID, OUTPUT_SPECS, OutputColumn, Persons
from forecasting.balance import TOTAL
from serving.api.cache import ServingCache
from serving.api.messages import Detail
from serving.auth import Principal

Row = TypeVar("Row")

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 5000

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Rows per page.")]
Offset = Annotated[
    int, Query(ge=0, le=MAX_ID, description="Rows to skip (next page: offset + limit).")
]


#: The headers of every paged answer (:func:`run_headers`), as the OpenAPI document lists them.
RUN_HEADERS: Final[dict[str, dict[str, Any]]] = {
    "X-Run-Id": {
        "description": "The run the answer comes from.",
        "required": True,
        "schema": {"type": "integer"},
    },
    "X-Data-Watermark": {
        "description": "The last upload that run saw.",
        "required": True,
        "schema": {"type": "integer"},
    },
    "ETag": {
        "description": "Weak ETag of the answer: send it as `If-None-Match` to get 304 while "
        "the answer holds.",
        "required": True,
        "schema": {"type": "string"},
    },
}
#: What a route answering with :func:`paged` documents besides its model: the run headers,
#: and 304 for a request whose ``If-None-Match`` still matches.
PAGED_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    200: {"headers": RUN_HEADERS},
    304: {"description": "Not modified: the ETag sent still matches.", "headers": RUN_HEADERS},
}


class ListPage(BaseModel, Generic[Row]):
    """One page of a list: how many items match over all pages, and the ``limit`` items after
    skipping ``offset``. Lists of records (uploads, runs) answer with this envelope; lists cut
    from a run's outputs answer with :class:`Page`, which adds the run."""

    total: int = Field(description="Items matching the filters, over all pages.")
    limit: int = Field(description="Items per page, as asked.")
    offset: int = Field(description="Items skipped, as asked (next page: offset + limit).")
    items: list[Row]


class Page(ListPage[Row], Generic[Row]):
    """One page of rows from one run: the list envelope and the run they come from."""

    run_id: int = Field(description="The run the rows come from.")
    watermark: int = Field(description="The last upload the run saw (its data watermark).")


def _python_type(column: OutputColumn) -> Any:
    # Persons are served as integers (data.store.persons) whatever the store keeps.
    python = int if column.persons is Persons.COUNT else column.type.python_type
    return python if not column.nullable else python | None


def output_row_model(name: str) -> type[BaseModel]:
    """A pydantic model of one row of the run output ``name`` (for the OpenAPI schema)."""
    spec = OUTPUT_SPECS[name]
    fields: dict[str, Any] = {column.name: (_python_type(column), ...) for column in spec.columns}
    model_name = "".join(part.title() for part in name.split("_")) + "Row"
    return create_model(model_name, __doc__=spec.description, **fields)


def etag_for(run: RunRecord, request: Request, principal: Principal) -> str:
    """Weak ETag of an answer: the run, the exact query and what the caller may see."""
    query = "&".join(sorted(f"{k}={v}" for k, v in request.query_params.multi_items()))
    scope = ",".join(sorted(principal.fields)) if principal.field_scoped else "*"
    digest = hashlib.sha256(f"{request.url.path}?{query}|{scope}".encode()).hexdigest()[:20]
    return f'W/"run{run.id}-{digest}"'


def run_headers(run: RunRecord, etag: str | None = None) -> dict[str, str]:
    headers = {
        "X-Run-Id": str(run.id),
        "X-Data-Watermark": str(run.watermark),
        # Clients may keep answers but must revalidate: the served run can change any time.
        "Cache-Control": "private, no-cache",
    }
    if etag:
        headers["ETag"] = etag
    return headers


def paged(
    request: Request,
    cache: ServingCache,
    run: RunRecord,
    principal: Principal,
    build: Callable[[], pd.DataFrame],
    *,
    limit: int,
    offset: int,
    field_column: str | None = "field_code",
) -> Response:
    """A page of ``build()``'s rows as JSON, with the run headers and ETag.

    For a field-scoped caller (an association) only rows of its own fields are kept, on
    ``field_column``.
    """
    etag = etag_for(run, request, principal)
    headers = run_headers(run, etag)
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    body = cache.response(etag)
    if body is None:
        frame = build()
        if principal.field_scoped and field_column is not None:
            frame = frame[frame[field_column].isin(principal.fields)]
        body = page_body(run, frame, limit=limit, offset=offset)
        cache.keep_response(etag, body)
    return Response(body, media_type="application/json", headers=headers)


def page_body(run: RunRecord, frame: pd.DataFrame, *, limit: int, offset: int) -> bytes:
    """The JSON of a :class:`Page` (pandas writes the rows: NaN becomes null, and it is fast),
    with persons rounded as they are served."""
    part = round_persons(frame.iloc[offset : offset + limit])
    items = part.to_json(orient="records", force_ascii=False, double_precision=6)
    head = json.dumps(
        {
            "run_id": run.id,
            "watermark": run.watermark,
            "total": len(frame),
            "limit": limit,
            "offset": offset,
        }
    )
    return (head[:-1] + ', "items": ' + items + "}").encode("utf-8")


def where(frame: pd.DataFrame, **values: object) -> pd.DataFrame:
    """The rows whose columns equal the given values; a value of None does not filter (an
    absent query parameter)."""
    mask = pd.Series(True, index=frame.index)
    for column, value in values.items():
        if value is not None:
            mask &= frame[column] == value
    return frame[mask]


def check_code(value: str | None, known: Collection[str], what: str) -> None:
    """422 naming the unknown code and the known ones (a typo should not just give nothing)."""
    if value is not None and value not in known:
        listed = ", ".join(sorted(known))
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"unknown {what} {value!r}; known: {listed}"
        )


def field_code(catalog: Catalog, text: str | None, *, total: bool = False) -> str | None:
    """The code of the field a query names by code or by Chinese or English name, ignoring
    case, as uploads accept them (``total``: ``all``, the total over fields, too); 422 naming
    it and the closest codes when it matches no field."""
    if text is None:
        return None
    if total and text.strip().lower() == TOTAL:
        return TOTAL
    code = catalog.resolve_field(text)
    if code is None:
        closest = catalog.suggest_fields(text)
        hint = f"closest: {', '.join(closest)}" if closest else "none is close"
        known = ", ".join(sorted(catalog.field_codes))
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"unknown field {text!r}: give a field code or its Chinese or English name "
            f"({hint}; codes: {known})",
        )
    return code


def check_field_scope(principal: Principal, field_code: str | None) -> None:
    """403 when an association asks for a field that is not its own."""
    if field_code is not None and not principal.may_see_field(field_code):
        mine = ", ".join(sorted(principal.fields))
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            Detail.of("auth.field_scope", name=principal.name, mine=mine, field=field_code),
        )


def check_year(year: int | None, years: Collection[int], what: str = "year") -> None:
    if year is not None and years and not min(years) <= year <= max(years):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"{what} {year} is outside this run's years {min(years)}-{max(years)}",
        )
