"""``/forecasts``: the run's series forecasts (intake, graduates' rates, hiring, tightness)."""

from __future__ import annotations

from typing import Annotated, Literal

import pandas as pd
from fastapi import APIRouter, Depends, Query, Request, Response

from data.vocabulary import LEVELS
from serving.api.deps import Allow, CacheDep, CatalogDep, RegionDep, RunDep, StoreDep
from serving.api.pages import (
    DEFAULT_LIMIT,
    PAGED_RESPONSES,
    Limit,
    Offset,
    Page,
    check_code,
    check_field_scope,
    field_code,
    output_row_model,
    paged,
    where,
)
from serving.api.problems import RUN_ERRORS
from serving.auth import READERS, Principal

# Every route here pages a run's outputs (:func:`~serving.api.pages.paged`).
router = APIRouter(tags=["forecasts"], responses={**PAGED_RESPONSES, **RUN_ERRORS})
Reader = Annotated[Principal, Depends(Allow(READERS))]
ForecastRow = output_row_model("forecasts")


@router.get("/forecasts", response_model=Page[ForecastRow], summary="Series forecasts")  # type: ignore[valid-type]
def forecasts(
    request: Request,
    principal: Reader,
    run: RunDep,
    region: RegionDep,
    store: StoreDep,
    cache: CacheDep,
    catalog: CatalogDep,
    kind: Annotated[
        str | None, Query(description="Series kind, e.g. enrollment, hiring, tightness.")
    ] = None,
    programme: Annotated[str | None, Query(description="Programme code.")] = None,
    field: Annotated[
        str | None, Query(description="Field code or name (Chinese or English, any case).")
    ] = None,
    level: Literal[(*LEVELS, "all")] | None = None,  # type: ignore[valid-type]
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> Response:
    """Point forecasts with 80% and 95% intervals per series and period, and the model chosen.

    Programme series (intake, outcome rates) have no field; an association sees only the
    series of its own fields.
    """
    code = field_code(catalog, field)
    check_code(programme, set(catalog.programmes["programme_code"]), "programme")
    check_field_scope(principal, code)

    def rows() -> pd.DataFrame:
        frame = cache.output(store, run.id, "forecasts")
        check_code(kind, set(frame["kind"].unique()), "kind")
        return where(
            frame, region=region, kind=kind, programme_code=programme, field_code=code, level=level
        )

    return paged(request, cache, run, principal, rows, limit=limit, offset=offset)
