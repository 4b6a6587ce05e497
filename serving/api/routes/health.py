"""``/healthz`` (the process is up) and ``/readyz`` (it can answer: the database responds)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from serving.api.deps import CacheDep, StoreDep

router = APIRouter(tags=["health"])


class Alive(BaseModel):
    """The process serves requests."""

    status: Literal["ok"]


class Ready(BaseModel):
    """The database answers."""

    status: Literal["ready"]
    watermark: int = Field(description="The last upload stored (0: none yet).")
    served_run: int | None = Field(description="The run the API serves, if any.")


class NotReady(BaseModel):
    """The database does not answer (a probe's body, not problem details: no key, no API)."""

    status: Literal["unavailable"]
    database: str = Field(description="The kind of database error, e.g. OperationalError.")


@router.get("/healthz", response_model=Alive, summary="Liveness")
def healthz() -> dict[str, str]:
    """Always 200 while the process serves requests (no key needed)."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Ready,
    summary="Readiness",
    responses={503: {"model": NotReady, "description": "The database does not answer."}},
)
def readyz(store: StoreDep, cache: CacheDep) -> JSONResponse:
    """200 when the database answers (with the served run, if any); 503 otherwise."""
    try:
        watermark = store.watermark()
        served = cache.served_run(store)
    except SQLAlchemyError as error:
        return JSONResponse(
            {"status": "unavailable", "database": type(error).__name__},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    return JSONResponse(
        {
            "status": "ready",
            "watermark": watermark,
            "served_run": served.id if served else None,
        }
    )
