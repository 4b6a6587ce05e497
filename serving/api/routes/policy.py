"""``/warnings`` and ``/recommendations``: the planner's decisions on programmes."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from data.vocabulary import LEVELS
from serving.api.deps import (
    FIRST_YEAR,
    LAST_YEAR,
    Allow,
    CacheDep,
    CatalogDep,
    RegionDep,
    RunDep,
    StoreDep,
)
from serving.api.pages import (
    DEFAULT_LIMIT,
    PAGED_RESPONSES,
    Limit,
    Offset,
    Page,
    check_code,
    check_year,
    field_code,
    output_row_model,
    paged,
    where,
)
from serving.api.problems import RUN_ERRORS
from serving.auth import PLANNERS, Principal

# Every route here pages a run's outputs (:func:`~serving.api.pages.paged`).
router = APIRouter(tags=["programmes"], responses={**PAGED_RESPONSES, **RUN_ERRORS})
Planner = Annotated[Principal, Depends(Allow(PLANNERS))]
WarningRow = output_row_model("warnings")
RecommendationRow = output_row_model("recommendations")
LevelName = Literal[LEVELS]  # type: ignore[valid-type]
ProgrammeQuery = Annotated[str | None, Query(description="Programme code.")]


@router.get("/warnings", response_model=Page[WarningRow], summary="Programme warnings")  # type: ignore[valid-type]
def warnings(
    request: Request,
    principal: Planner,
    run: RunDep,
    region: RegionDep,
    store: StoreDep,
    cache: CacheDep,
    catalog: CatalogDep,
    programme: ProgrammeQuery = None,
    level: LevelName | None = None,
    rule: Annotated[str | None, Query(description="Rule code, e.g. moe_2011_reduce.")] = None,
    action: Annotated[str | None, Query(description="stop, reduce, cap_at_placed, ...")] = None,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> Response:
    """Programmes flagged by the employment rules on observed placement, with the rule, the
    action it calls for, the figures (rates, graduates, placed, threshold) and a sentence in
    Chinese and English."""
    check_code(programme, set(catalog.programmes["programme_code"]), "programme")
    return paged(
        request,
        cache,
        run,
        principal,
        lambda: where(
            cache.output(store, run.id, "warnings"),
            region=region,
            programme_code=programme,
            level=level,
            rule=rule,
            action=action,
        ),
        limit=limit,
        offset=offset,
        field_column=None,
    )


@router.get(
    "/recommendations",
    response_model=Page[RecommendationRow],  # type: ignore[valid-type]
    summary="Quota recommendations",
)
def recommendations(
    request: Request,
    principal: Planner,
    run: RunDep,
    region: RegionDep,
    store: StoreDep,
    cache: CacheDep,
    catalog: CatalogDep,
    intake_year: Annotated[
        int | None,
        Query(
            ge=FIRST_YEAR,
            le=LAST_YEAR,
            description="The intake year (a run recommends for one year).",
        ),
    ] = None,
    programme: ProgrammeQuery = None,
    level: LevelName | None = None,
    field: Annotated[
        str | None,
        Query(description="Programmes whose main field it is (code or Chinese or English name)."),
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> Response:
    """Next intake year's quota per programme: current and recommended quota, change, the
    10%-90% range over resampled scenarios, expected gap and P(shortage) of the main field in
    the graduation year before and after, binding constraints and reasons (codes and text in
    Chinese and English)."""
    check_code(programme, set(catalog.programmes["programme_code"]), "programme")
    code = field_code(catalog, field)
    frame = cache.output(store, run.id, "recommendations")
    check_year(intake_year, set(frame["intake_year"].unique()), "intake year")
    return paged(
        request,
        cache,
        run,
        principal,
        lambda: where(
            frame,
            region=region,
            intake_year=intake_year,
            programme_code=programme,
            level=level,
            field_code=code,
        ),
        limit=limit,
        offset=offset,
        field_column=None,
    )
