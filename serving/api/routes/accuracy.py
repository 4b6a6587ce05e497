"""``/accuracy``: past runs' forecasts scored against the actuals that arrived later."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel

from data.store.tables import RunStatus
from forecasting.accuracy import score_vintages
from serving.api.deps import MAX_RECORD_ID, Allow, CacheDep, SettingsDep, StoreDep
from serving.api.pages import (
    DEFAULT_LIMIT,
    Limit,
    Offset,
    Page,
    check_field_scope,
    field_code,
    page_body,
    run_headers,
    where,
)
from serving.auth import READERS, Principal

router = APIRouter(tags=["accuracy"])
Reader = Annotated[Principal, Depends(Allow(READERS))]


class AccuracyRow(BaseModel):
    """How one run's forecasts of one kind and field did once the actuals came in."""

    run_id: int
    watermark: int
    kind: str
    field_code: str
    first_year: int
    last_year: int
    forecasts: int
    mase: float
    mase_naive: float
    relative: float | None
    bias: float
    coverage_80: float | None
    coverage_95: float | None
    backtest_mase: float | None
    drift: bool


@router.get("/accuracy", response_model=Page[AccuracyRow], summary="Realised accuracy of past runs")
def accuracy(
    principal: Reader,
    store: StoreDep,
    cache: CacheDep,
    settings: SettingsDep,
    run_id: Annotated[
        int | None, Query(ge=1, le=MAX_RECORD_ID, description="Score only this run.")
    ] = None,
    kind: Literal["enrollment", "hiring"] | None = None,
    field: Annotated[
        str | None,
        Query(description="Field code or name (Chinese or English, any case), or 'all'."),
    ] = None,
    runs: Annotated[int, Query(ge=1, le=50, description="Newest runs to score.")] = 10,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> Response:
    """For each succeeded run (a vintage), its forecasts of the years after its data are
    compared with the actuals stored since — next to the naive forecast made at the same time
    (each series' last value as of the run's watermark). MASE-scaled errors of both, their
    ratio (< 1: the run beat naive), bias, interval coverage, the run's own backtest MASE, and
    ``drift`` when the realised error exceeds the backtest's by more than the configured
    margin. Newest run first. The envelope's ``run_id`` is the served run (0 while no run has
    succeeded); rows name their own run."""
    watermark = store.watermark()
    code = None if field is None else field_code(cache.catalog(store, watermark), field, total=True)
    check_field_scope(principal, code)
    served = cache.served_run(store)
    if run_id is not None:
        chosen = [store.run(run_id)]  # UnknownRun → 404
    else:
        chosen = store.runs(status=RunStatus.SUCCEEDED.value, limit=runs)
    margin, region = settings.accuracy_drift_margin, settings.city_region
    frame = cache.computed(
        ("accuracy", watermark, tuple(run.id for run in chosen)),
        lambda: score_vintages(store, chosen, drift_margin=margin, city_region=region),
    )
    frame = where(frame, kind=kind, field_code=code)
    if principal.field_scoped:
        frame = frame[frame["field_code"].isin(principal.fields)]
    anchor = served or (chosen[0] if chosen else None)
    if anchor is None:
        empty = Page[AccuracyRow](
            run_id=0, watermark=0, total=0, limit=limit, offset=offset, items=[]
        )
        return Response(empty.model_dump_json(), media_type="application/json")
    frame = frame.sort_values(["run_id", "kind", "field_code"], ascending=[False, True, True])
    body = page_body(anchor, frame, limit=limit, offset=offset)
    return Response(body, media_type="application/json", headers=run_headers(anchor))
