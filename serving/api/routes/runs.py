"""``/runs`` and ``/models``: training runs (read, queue) and the model zoo."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from data.store.runs import RunRecord
from data.store.tables import RunStatus
from forecasting.pipeline import queue_run
from forecasting.promotion import PromotionError, not_served_reason, promote, rollback
from forecasting.selection import members_of
from models.registry import REGISTRY
from serving.api.cache import ServingCache
from serving.api.deps import (
    MAX_RECORD_ID,
    Allow,
    CacheDep,
    RunDep,
    RunId,
    SettingsDep,
    StoreDep,
)
from serving.api.pages import (
    DEFAULT_LIMIT,
    Limit,
    ListPage,
    Offset,
    Page,
    run_headers,
)
from serving.api.problems import JSON_BODY_ERRORS, RUN_ERRORS, problem
from serving.auth import ADMINS, READERS, Principal
from serving.settings import Settings

log = logging.getLogger(__name__)

router = APIRouter(tags=["runs"])
Reader = Annotated[Principal, Depends(Allow(READERS))]
Admin = Annotated[Principal, Depends(Allow(ADMINS))]
#: A POST without a body still passes the JSON guard if it sends one (413 when too large).
BODYLESS_POST: Final[dict[int | str, dict[str, Any]]] = {413: JSON_BODY_ERRORS[413]}


class RunOut(BaseModel):
    """A training run: its data watermark, status, metrics, stage timings and whether it is
    the one the API serves. ``metrics.gates`` holds every gate check, ``metrics.changes`` the
    comparison with the run served when it was trained (moved cells and what moved them)."""

    id: int
    status: RunStatus
    watermark: int
    served: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    code_version: str | None
    metrics: dict[str, Any]
    timings: dict[str, float]
    config: dict[str, Any]
    not_served_reason: str | None = Field(
        default=None,
        description="Why a succeeded run was kept as challenger instead of being served: its "
        "failed gate checks (null for a run that passed them, or is served).",
        examples=[
            "large moves since run 7 (served) come from few new rows: P(shortage) of ic "
            "bachelor 2027-2030 moved 1.00→0.01; explained by upload #41 (demand_survey, "
            "25 rows, tj_ic_association) (kept for an admin's decision)"
        ],
    )

    @classmethod
    def of(cls, record: RunRecord) -> RunOut:
        run = cls.model_validate(record, from_attributes=True)
        run.not_served_reason = not_served_reason(record)
        return run


class RunRequest(BaseModel):
    """What to train on (default: everything stored now)."""

    as_of: int | None = Field(
        default=None, ge=1, le=MAX_RECORD_ID, description="Upload id to read the store as of."
    )


@router.get("/runs", response_model=ListPage[RunOut], summary="Runs, newest first")
def runs(
    principal: Reader,
    store: StoreDep,
    status_filter: Annotated[RunStatus | None, Query(alias="status")] = None,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> ListPage[RunOut]:
    """Training runs with status, metrics and timings; ``served`` marks the one being served."""
    status_code = status_filter.value if status_filter else None
    records = store.runs(status=status_code, limit=limit, offset=offset)
    return ListPage[RunOut](
        total=store.count_runs(status_code),
        limit=limit,
        offset=offset,
        items=[RunOut.of(record) for record in records],
    )


@router.get("/runs/{run_id}", response_model=RunOut, summary="One run")
def run(run_id: RunId, principal: Reader, store: StoreDep) -> RunOut:
    return RunOut.of(store.run(run_id))  # UnknownRun → 404 (see serving.app)


@router.post(
    "/runs",
    response_model=RunOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Queue a training run",
    responses={
        200: {"model": RunOut, "description": "An identical run was already queued."},
        409: problem("The store has no catalog yet (the detail says how to load one)."),
        **JSON_BODY_ERRORS,
    },
)
def queue(
    principal: Admin, store: StoreDep, settings: SettingsDep, body: RunRequest | None = None
) -> JSONResponse:
    """Queue a run on the store as of ``as_of`` (default: now). It is created pending (202)
    and executed by a `talentcast worker` process (which `talentcast serve` starts) or
    `talentcast scheduler`; poll
    ``GET /runs/{id}``. If an identical run (same data, configuration and city) is already
    waiting, that run is returned instead (200): requests coalesce. A run that succeeds
    becomes the served run."""
    watermark = body.as_of if body and body.as_of is not None else store.watermark()
    store.catalog(as_of=watermark)  # NoCatalog → 409, saying how to load one
    store.upload(watermark)  # UnknownUpload → 404
    record, created = queue_run(
        store,
        settings.training_config(),
        city_region=settings.city_region,
        as_of=watermark,
        requested_by=principal.name,
    )
    code = status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK
    return JSONResponse(RunOut.of(record).model_dump(mode="json"), status_code=code)


@router.post(
    "/runs/{run_id}/promote",
    response_model=RunOut,
    summary="Serve a run",
    responses={409: problem("The run has not succeeded: it cannot be served."), **BODYLESS_POST},
)
def promote_run(
    run_id: RunId, principal: Admin, store: StoreDep, settings: SettingsDep, cache: CacheDep
) -> RunOut:
    """Serve this succeeded run now, whatever its quality gates said (audited); the MLflow
    alias ``champion`` follows."""
    return RunOut.of(_serve(lambda: promote(store, run_id, actor=principal.name), settings, cache))


@router.post(
    "/runs/rollback",
    response_model=RunOut,
    summary="Serve the previous run again",
    responses={409: problem("No run was served before the current one."), **BODYLESS_POST},
)
def rollback_run(
    principal: Admin, store: StoreDep, settings: SettingsDep, cache: CacheDep
) -> RunOut:
    """Serve again the run that was served before the current one."""
    return RunOut.of(_serve(lambda: rollback(store, actor=principal.name), settings, cache))


def _serve(change: Callable[[], RunRecord], settings: Settings, cache: ServingCache) -> RunRecord:
    try:
        run = change()
    except PromotionError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    cache.forget_served()
    tracker = settings.tracker()
    if tracker is not None:
        try:
            tracker.set_champion(run)
        except LookupError:
            log.warning("run %s has no registered model version; champion alias unchanged", run.id)
    return run


class ModelOut(BaseModel):
    """A model family of the zoo, with its declared capabilities and where the run used it."""

    name: str
    family: str
    description: str
    min_train_length: int
    frequencies: list[str]
    is_global: bool
    supports_exog: bool
    used_for: list[str] = Field(description="Series groups of the run that chose it.")


@router.get(
    "/models",
    response_model=Page[ModelOut],
    summary="Model zoo",
    responses=RUN_ERRORS,
)
def models(
    principal: Reader,
    run: RunDep,
    cache: CacheDep,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> JSONResponse:
    """Every registered model family with its capabilities, and for the run, which series
    groups (supply, demand) selected it alone or in a combination."""
    used: dict[str, list[str]] = {}
    for group in ("supply", "demand"):
        for label in run.metrics.get(f"{group}_models", []):
            for name in members_of(str(label)):
                if group not in used.setdefault(name, []):
                    used[name].append(group)
    every = [
        ModelOut(
            name=spec.name,
            family=spec.family.__name__,
            description=spec.description,
            min_train_length=spec.family.min_train_length,
            frequencies=sorted(spec.family.frequencies),
            is_global=spec.family.is_global,
            supports_exog=spec.family.supports_exog,
            used_for=used.get(spec.name, []),
        )
        for spec in REGISTRY.values()
    ]
    page = Page[ModelOut](
        run_id=run.id,
        watermark=run.watermark,
        total=len(every),
        limit=limit,
        offset=offset,
        items=every[offset : offset + limit],
    )
    return JSONResponse(page.model_dump(mode="json"), headers=run_headers(run))
