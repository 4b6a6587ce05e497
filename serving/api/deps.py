"""Dependencies of the API routes, as ``Annotated`` aliases.

Settings, store and cache are built once by the app factory and read from ``app.state``; nothing
here reads the environment or opens connections at import.

They are ``async`` so that FastAPI calls them on the event loop instead of handing each one to a
worker thread (a thread hop costs more than what most of them do), and the key, run and catalog
dependencies read the store and cache from ``app.state`` themselves rather than through
sub-dependencies, which FastAPI would resolve again for each of them on every request. Whatever
may touch the database (a key or run not in the process cache) runs in a worker thread.
Active keys are remembered for :attr:`ServingCache.key_ttl <serving.api.cache.ServingCache>`
seconds (2): a revoked key stops working within that time, not at once.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from data.catalog import Catalog
from data.store import KeyRecord, Store, UnknownRun
from data.store.runs import RunRecord
from data.store.tables import MAX_ID, RunStatus
from data.vocabulary import Role
from forecasting.promotion import NothingServed, nothing_served
from serving.api.audit import PRINCIPAL_STATE
from serving.api.cache import ServingCache
from serving.api.messages import Detail
from serving.api.sessions import (
    CSRF_HEADER,
    SAFE_METHODS,
    SESSION_COOKIE,
    refuse_cross_site,
    session_of,
)
from serving.api.throttle import FailureThrottle, subjects
from serving.api.workers import UploadWorkers
from serving.auth import Principal, hash_key
from serving.settings import Settings


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _cache(request: Request) -> ServingCache:
    cache: ServingCache = request.app.state.cache
    return cache


async def get_store(request: Request) -> Store:
    return _store(request)


async def get_cache(request: Request) -> ServingCache:
    return _cache(request)


async def get_upload_workers(request: Request) -> UploadWorkers:
    """The worker processes that read uploads (``settings.upload_concurrency`` of them).
    Created on first use, inside the event loop, and kept on the app until it shuts down."""
    workers: UploadWorkers | None = getattr(request.app.state, "upload_workers", None)
    if workers is None:
        settings: Settings = request.app.state.settings
        workers = UploadWorkers(settings.upload_concurrency)
        request.app.state.upload_workers = workers
    return workers


#: Largest id a run or upload can have (the store's). A larger id in a path, query or body is
#: refused with 422 at the boundary, as the OpenAPI document says, before any lookup.
MAX_RECORD_ID = MAX_ID
#: Years a query may name; anything else is not a year this service can hold.
FIRST_YEAR, LAST_YEAR = 1900, 2200
RunId = Annotated[int, Path(ge=1, le=MAX_RECORD_ID, description="A run's id.")]
UploadId = Annotated[int, Path(ge=1, le=MAX_RECORD_ID, description="An upload's id.")]

SettingsDep = Annotated[Settings, Depends(get_settings)]
UploadWorkersDep = Annotated[UploadWorkers, Depends(get_upload_workers)]
StoreDep = Annotated[Store, Depends(get_store)]
CacheDep = Annotated[ServingCache, Depends(get_cache)]

_bearer = HTTPBearer(
    auto_error=False,
    description="An API key from `talentcast keys create`, sent as `Authorization: Bearer <key>`.",
)


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, from the bearer key or the dashboard's session cookie; 401 without a valid
    one, 429 (with ``Retry-After``) after too many failed keys from the address or the key
    prefix, 403 for a cookie-authenticated write from another site
    (:mod:`serving.api.sessions`).

    An active key is looked up in the store at most once per ``cache.key_ttl`` seconds.
    """
    if credentials is None and request.cookies.get(SESSION_COOKIE):
        return await _session_principal(request)
    secret = credentials.credentials if credentials else None
    if not secret:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            Detail.of("auth.missing_key"),
            headers={"WWW-Authenticate": "Bearer"},
        )
    record = _cache(request).known_key(hash_key(secret))
    if record is None:
        refuse_if_throttled(request, secret)
        record = await run_in_threadpool(lookup_key, request, secret)
    if record is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            Detail.of("auth.unknown_key"),
            headers={"WWW-Authenticate": "Bearer"},
        )
    return _known(request, Principal.of(record))


def _known(request: Request, principal: Principal) -> Principal:
    """Remember the caller on the request, so that a refusal is audited under its name."""
    setattr(request.state, PRINCIPAL_STATE, principal)
    return principal


async def _session_principal(request: Request) -> Principal:
    session = await run_in_threadpool(session_of, request)
    if session is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            Detail.of("auth.session_ended"),
            # Every 401 says how to authenticate (RFC 9110): a key works where a session ended.
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = _known(request, Principal.of(session.key))
    if request.method not in SAFE_METHODS:
        refuse_cross_site(request, request.headers.get(CSRF_HEADER), session.csrf_token)
    return principal


def lookup_key(request: Request, secret: str) -> KeyRecord | None:
    """The active key with this secret, or None — counted as a failed attempt against the
    caller's address and the key's prefix (:mod:`serving.api.throttle`). Blocking (it may
    query the store); callers check :func:`throttled_for` first. The API and the dashboard's
    sign-in share it, and with it the key cache and the failure counts."""
    record = _cache(request).key(_store(request), hash_key(secret))
    if record is None:
        _throttle(request).failed(*subjects(_address(request), secret))
    return record


def throttled_for(request: Request, secret: str) -> float | None:
    """Seconds until this address and key prefix may try again, or None."""
    return _throttle(request).retry_after(*subjects(_address(request), secret))


def refuse_if_throttled(request: Request, secret: str) -> None:
    wait = throttled_for(request, secret)
    if wait is not None:
        seconds = math.ceil(wait)
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            Detail.of("auth.throttled", seconds=seconds),
            headers={"Retry-After": str(seconds)},
        )


def _throttle(request: Request) -> FailureThrottle:
    throttle: FailureThrottle = request.app.state.auth_throttle
    return throttle


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


class Allow:
    """Route dependency: the caller must have one of ``roles`` (403 otherwise).

    Routes declare their access only through this class, so the route table says who may call
    what (the authorisation test reads it back from there).
    """

    def __init__(self, roles: Collection[Role]) -> None:
        self.roles = frozenset(roles)

    async def __call__(self, principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not principal.may(self.roles):
            allowed = ", ".join(sorted(role.value for role in self.roles))
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                Detail.of(
                    "auth.role", role=principal.role.value, name=principal.name, allowed=allowed
                ),
            )
        return principal


async def get_run(
    request: Request,
    run_id: Annotated[
        int | None,
        Query(
            ge=1,
            le=MAX_RECORD_ID,
            description="Read this run instead of the served one (any succeeded run).",
        ),
    ] = None,
) -> RunRecord:
    """The run a read is answered from: the served run, or ``run_id`` if given."""
    store, cache = _store(request), _cache(request)
    if run_id is None:
        fresh, run = cache.served_if_fresh()
        if not fresh:
            run = await run_in_threadpool(cache.served_run, store)
        if run is None:
            why = await run_in_threadpool(nothing_served, store)
            raise HTTPException(status.HTTP_404_NOT_FOUND, _nothing_served_detail(why))
        return run
    try:
        run = await run_in_threadpool(store.run, run_id)
    except UnknownRun:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, Detail.of("run.missing", run_id=run_id)
        ) from None
    if run.status is not RunStatus.SUCCEEDED:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"run {run_id} is {run.status.value}: only succeeded runs have outputs",
        )
    return run


RunDep = Annotated[RunRecord, Depends(get_run)]


async def get_region(
    request: Request,
    region: Annotated[
        str | None,
        Query(
            description="GB/T 2260 code of the region whose rows are read (default: the "
            "deployment's top region, the city itself when it serves one); a province's rows "
            "of the balance are the sums of its cities'.",
            examples=["120000"],
        ),
    ] = None,
) -> str:
    """The region a reader asked for, one the deployment serves."""
    settings: Settings = request.app.state.settings
    plan = settings.region_plan()
    if region is None:
        return plan.top
    if region not in plan.servable:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"query parameter 'region': {region!r} is not a region this deployment serves; "
            f"use one of {', '.join(plan.servable)}",
        )
    return region


RegionDep = Annotated[str, Depends(get_region)]


async def get_catalog(request: Request, run: RunDep) -> Catalog:
    """The catalog the run saw (codes in filters are checked against it)."""
    cache = _cache(request)
    catalog = cache.cached_catalog(run.watermark)
    if catalog is None:
        catalog = await run_in_threadpool(cache.catalog, _store(request), run.watermark)
    return catalog


CatalogDep = Annotated[Catalog, Depends(get_catalog)]


def _nothing_served_detail(why: NothingServed) -> Detail:
    """What a reader is told when no run is served: what happened to the newest run, and what
    an admin can do about it (in the reader's language)."""
    run = why.run
    if run is None:
        return Detail.of("run.none_trained")
    if why.state in ("pending", "running"):
        return Detail.of(f"run.{why.state}", run_id=run.id)
    if why.state == "failed":
        error = (run.error or "no error recorded").strip().splitlines()[0][:300]
        return Detail.of("run.failed", run_id=run.id, error=error)
    return Detail.of("run.refused", run_id=run.id, reason=why.reason or "")
