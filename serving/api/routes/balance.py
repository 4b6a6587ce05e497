"""``/balance``, ``/shortages``, ``/drivers`` and ``/demand-scales``: the talent balance of a
run."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from data.catalog import Catalog
from data.vocabulary import ALL_LEVELS, LEVELS
from forecasting.balance import shortage_ranking
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
    check_field_scope,
    check_year,
    field_code,
    output_row_model,
    paged,
    where,
)
from serving.api.problems import RUN_ERRORS
from serving.auth import READERS, Principal

# Every route here pages a run's outputs (:func:`~serving.api.pages.paged`).
router = APIRouter(tags=["balance"], responses={**PAGED_RESPONSES, **RUN_ERRORS})
Reader = Annotated[Principal, Depends(Allow(READERS))]
BalanceRow = output_row_model("balance")
DriverRow = output_row_model("drivers")
ScaleRow = output_row_model("demand_scales")
LevelOrAll = Literal[(*LEVELS, ALL_LEVELS)]  # type: ignore[valid-type]
RankingOrder = Literal["probability", "shortfall"]
FieldQuery = Annotated[
    str | None,
    Query(
        description="Field code or name (Chinese or English, any case), or 'all' for the "
        "total over fields."
    ),
]
YearQuery = Annotated[int | None, Query(ge=FIRST_YEAR, le=LAST_YEAR, description="One year.")]


def _field(principal: Principal, catalog: Catalog, field: str | None) -> str | None:
    """The field asked for, by code (or ``all``) whatever way the query named it, if the
    caller may see it."""
    code = field_code(catalog, field, total=True)
    check_field_scope(principal, code)
    return code


@router.get("/balance", response_model=Page[BalanceRow], summary="Supply, demand and gap")  # type: ignore[valid-type]
def balance(
    request: Request,
    principal: Reader,
    run: RunDep,
    region: RegionDep,
    store: StoreDep,
    cache: CacheDep,
    catalog: CatalogDep,
    field: FieldQuery = None,
    level: LevelOrAll | None = None,
    year: YearQuery = None,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> Response:
    """Per field × level × year (history and forecast): quantiles (5, 10, 50, 90, 95%) of
    supply, demand and gap = demand − supply from the run's joint samples, the median
    shortage ratio and P(shortage) = P(gap > 0). Rows with field or level ``all`` are totals,
    computed sample by sample (so they are consistent with their parts)."""
    code = _field(principal, catalog, field)
    frame = cache.output(store, run.id, "balance")
    check_year(year, set(frame["year"].unique()))
    return paged(
        request,
        cache,
        run,
        principal,
        lambda: where(frame, region=region, field_code=code, level=level, year=year),
        limit=limit,
        offset=offset,
    )


@router.get("/shortages", response_model=Page[BalanceRow], summary="Shortage ranking")  # type: ignore[valid-type]
def shortages(
    request: Request,
    principal: Reader,
    run: RunDep,
    region: RegionDep,
    store: StoreDep,
    cache: CacheDep,
    year: Annotated[
        int | None,
        Query(
            ge=FIRST_YEAR,
            le=LAST_YEAR,
            description="Target year (default: the first forecast year).",
        ),
    ] = None,
    level: LevelOrAll = ALL_LEVELS,
    by: Annotated[
        RankingOrder,
        Query(
            description=(
                "probability: most likely short first, then by the gap relative to supply; "
                "shortfall: largest expected shortfall in persons first (as the dashboard "
                "ranks), then most likely short."
            )
        ),
    ] = "probability",
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> Response:
    """Fields ranked by shortage for a year and level (``by``), each with its interval and a
    ``rank`` among all fields (an association sees its own fields with their rank among
    all)."""
    frame = cache.output(store, run.id, "balance")
    target = year if year is not None else int(run.metrics.get("first_forecast_year", 0))
    check_year(target, set(frame["year"].unique()))
    return paged(
        request,
        cache,
        run,
        principal,
        lambda: shortage_ranking(where(frame, region=region), target, level, by=by),
        limit=limit,
        offset=offset,
    )


@router.get("/drivers", response_model=Page[DriverRow], summary="What drives each gap")  # type: ignore[valid-type]
def drivers(
    request: Request,
    principal: Reader,
    run: RunDep,
    region: RegionDep,
    store: StoreDep,
    cache: CacheDep,
    catalog: CatalogDep,
    field: FieldQuery = None,
    level: LevelOrAll | None = None,
    year: YearQuery = None,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> Response:
    """The gap of each forecast year split into the base year's gap and what moved it since:
    demand growth, survey adjustment, the cohort pipeline and outcome rates (persons; the
    parts add up to the gap, within the rounding of each to whole persons)."""
    code = _field(principal, catalog, field)
    frame = cache.output(store, run.id, "drivers")
    check_year(year, set(frame["year"].unique()))
    return paged(
        request,
        cache,
        run,
        principal,
        lambda: where(frame, region=region, field_code=code, level=level, year=year),
        limit=limit,
        offset=offset,
    )


@router.get(
    "/demand-scales",
    response_model=Page[ScaleRow],  # type: ignore[valid-type]
    summary="Postings per opening of each field",
)
def demand_scales(
    request: Request,
    principal: Reader,
    run: RunDep,
    region: RegionDep,
    store: StoreDep,
    cache: CacheDep,
    catalog: CatalogDep,
    field: FieldQuery = None,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> Response:
    """How many postings a field publishes per real opening (median and 80% interval), and
    where that came from (hires, outcome rates, the admin, or the prior across fields): the
    scale by which the run turned postings into demand in persons."""
    code = _field(principal, catalog, field)
    frame = cache.output(store, run.id, "demand_scales")
    return paged(
        request,
        cache,
        run,
        principal,
        lambda: where(frame, region=region, field_code=code),
        limit=limit,
        offset=offset,
    )
