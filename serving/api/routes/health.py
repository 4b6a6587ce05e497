"""``/healthz`` (the process is up) and ``/readyz`` (it can answer: the database responds)."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from serving.api.deps import CacheDep, StoreDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
def healthz() -> dict[str, str]:
    """Always 200 while the process serves requests (no key needed)."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness")
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
