"""``/fields`` and ``/programmes``: the catalog the served run (or ``run_id``) saw."""

from __future__ import annotations

from typing import Annotated, Literal

import pandas as pd
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from data.vocabulary import LEVELS
from serving.api.deps import Allow, CacheDep, CatalogDep, RunDep
from serving.api.pages import (
    DEFAULT_LIMIT,
    PAGED_RESPONSES,
    Limit,
    Offset,
    Page,
    field_code,
    paged,
)
from serving.api.problems import RUN_ERRORS
from serving.auth import READERS, Principal

# Every route here pages a run's outputs (:func:`~serving.api.pages.paged`).
router = APIRouter(tags=["catalog"], responses={**PAGED_RESPONSES, **RUN_ERRORS})
Reader = Annotated[Principal, Depends(Allow(READERS))]
LevelName = Literal[LEVELS]  # type: ignore[valid-type]


class FieldOut(BaseModel):
    """A priority field of the city's plan."""

    field_code: str
    name_zh: str
    name_en: str
    tier: str = Field(description="The city's own tier label (Tianjin: its plan's categories).")
    sort_order: int
    shortage_cost: float = Field(description="Weight of one person of shortage in the field.")
    surplus_cost: float = Field(description="Weight of one person of surplus in the field.")


class ProgrammeOut(BaseModel):
    """A programme with its official code, level, duration and the fields it feeds."""

    programme_code: str
    level: str
    name_zh: str
    name_en: str
    duration_years: int
    field_code: str
    weight: float


@router.get("/fields", response_model=Page[FieldOut], summary="Priority fields")
def fields(
    request: Request,
    principal: Reader,
    run: RunDep,
    cache: CacheDep,
    catalog: CatalogDep,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> Response:
    """The city's priority fields (and the catch-all ``other``), in the plan's order, with the
    cost weights the quota recommendations use (one page by default)."""
    return paged(
        request,
        cache,
        run,
        principal,
        lambda: catalog.fields.sort_values("sort_order"),
        limit=limit,
        offset=offset,
        field_column=None,
    )


@router.get("/programmes", response_model=Page[ProgrammeOut], summary="Programmes")
def programmes(
    request: Request,
    principal: Reader,
    run: RunDep,
    cache: CacheDep,
    catalog: CatalogDep,
    field: Annotated[
        str | None,
        Query(description="Only programmes feeding this field (code or Chinese or English name)."),
    ] = None,
    level: LevelName | None = None,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> Response:
    """Programmes with their crosswalk to fields: one row per programme × field (weights of a
    programme sum to 1)."""
    code = field_code(catalog, field)

    def rows() -> pd.DataFrame:
        frame = catalog.programmes.merge(catalog.crosswalk, on=["programme_code", "level"])
        columns = list(ProgrammeOut.model_fields)
        frame = frame.loc[:, columns]
        if code is not None:
            frame = frame[frame["field_code"] == code]
        if level is not None:
            frame = frame[frame["level"] == level]
        return frame.sort_values(["level", "programme_code", "field_code"])

    # Programmes are public catalog data: not scoped by field.
    return paged(
        request, cache, run, principal, rows, limit=limit, offset=offset, field_column=None
    )
