"""The application factory: the HTTP API under ``/api/v1`` and the dashboard at ``/``.

``create_app`` takes validated settings (and optionally an open store, as tests do) and
builds everything at call time; importing this module does nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import metadata

from fastapi import APIRouter, Depends, FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from data.ingest import open_store
from data.store import Store, StoreError
from serving.api.audit import ENGLISH_DETAIL_STATE, RefusalAudit
from serving.api.cache import ServingCache
from serving.api.guards import JsonBodyGuard, SecurityHeaders
from serving.api.language import language_of_headers
from serving.api.messages import Detail, detail_text
from serving.api.problems import COMMON_ERRORS, problem_response
from serving.api.query import RejectUnknownQuery
from serving.api.routes import (
    accuracy,
    balance,
    catalog,
    catalog_admin,
    city,
    forecasts,
    health,
    keys,
    policy,
    runs,
    scenarios,
    uploads,
)
from serving.api.throttle import FailureThrottle
from serving.settings import Settings

API_PREFIX = "/api/v1"
#: The API's routers, one per resource, in the order the OpenAPI document lists them.
API_ROUTERS = (
    catalog.router,
    catalog_admin.router,
    forecasts.router,
    balance.router,
    policy.router,
    scenarios.router,
    uploads.router,
    runs.router,
    accuracy.router,
    keys.router,
    city.router,
)


def create_app(settings: Settings, *, store: Store | None = None) -> FastAPI:
    """A ready-to-serve app. Without ``store`` it opens (and migrates) the configured one at
    start-up and closes it at shutdown. It never trains: ``POST /runs`` queues a run for a
    ``talentcast worker`` or scheduler process (:mod:`serving.worker`)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = store is None
        app.state.store = store if store is not None else open_store(settings.database_url)
        try:
            yield
        finally:
            uploads_workers = getattr(app.state, "upload_workers", None)
            if uploads_workers is not None:
                uploads_workers.shutdown()
            if owned:
                app.state.store.dispose()

    app = FastAPI(
        title="Talentcast",
        version=_version(),
        description=(
            "Talent supply and demand forecasts, shortage rankings, programme warnings and "
            "quota recommendations. Every read answers from one training run (the served one, "
            "or `run_id`) and says which, with the data watermark it saw. Authenticate with "
            "`Authorization: Bearer <key>`."
        ),
        lifespan=lifespan,
        # Swagger UI and ReDoc load their scripts from a CDN, which an intranet cannot reach:
        # the dashboard renders the API reference from the OpenAPI document instead.
        docs_url=None,
        redoc_url=None,
        openapi_url=f"{API_PREFIX}/openapi.json",
    )
    app.state.settings = settings
    app.state.cache = ServingCache()
    app.state.auth_throttle = FailureThrottle(
        settings.auth_failure_limit, settings.auth_failure_window_seconds
    )
    if store is not None:
        app.state.store = store
    api = APIRouter(
        prefix=API_PREFIX, responses=COMMON_ERRORS, dependencies=[Depends(RejectUnknownQuery())]
    )
    for router in API_ROUTERS:
        api.include_router(router)
    app.include_router(api)
    app.include_router(health.router)
    _install_error_handlers(app)
    app.add_middleware(JsonBodyGuard)
    app.add_middleware(  # outside the guards: their refusals are audited too
        RefusalAudit,
        api_prefix=API_PREFIX,
        limit=settings.audit_refusal_limit,
        window=settings.auth_failure_window_seconds,
    )
    app.add_middleware(SecurityHeaders)  # outermost: refusals by the guards get them too
    from serving.dashboard import install as install_dashboard

    install_dashboard(app)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    """Every error as problem details (:mod:`serving.api.problems`), in the caller's language
    where the API has the words; the audit log keeps the English detail."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        lang = language_of_headers(request.headers)
        detail = detail_text(error.detail, error.status_code, lang)
        if detail != str(error.detail):
            setattr(request.state, ENGLISH_DETAIL_STATE, str(error.detail))
        return problem_response(error.status_code, detail, lang=lang, headers=error.headers)

    @app.exception_handler(StoreError)
    async def store_error(request: Request, error: StoreError) -> JSONResponse:
        # The store's Unknown* errors (run, upload, artifact, key) name what does not exist;
        # any other store refusal is a conflict with what is stored.
        missing = isinstance(error, LookupError)
        code = status.HTTP_404_NOT_FOUND if missing else status.HTTP_409_CONFLICT
        return problem_response(code, str(error), lang=language_of_headers(request.headers))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        # One readable sentence per problem, naming the parameter, plus FastAPI's details.
        # In Chinese, a summary naming the parameters (FastAPI's messages are English).
        problems, places = [], []
        for item in error.errors():
            where = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
            problems.append(f"{where}: {item.get('msg', 'invalid')}")
            places.append(where)
        english = "; ".join(problems) or "invalid request"
        lang = language_of_headers(request.headers)
        detail = english
        if lang != "en":
            where = "、".join(dict.fromkeys(places))
            detail = Detail.of("request.invalid", where=where).in_language(lang)
            setattr(request.state, ENGLISH_DETAIL_STATE, english)
        return problem_response(
            status.HTTP_422_UNPROCESSABLE_CONTENT, detail, lang=lang, errors=_plain(error.errors())
        )


def _plain(errors: object) -> object:
    """Validation errors may carry exception objects in ``ctx``; keep what JSON can hold."""
    if isinstance(errors, list | tuple):
        return [_plain(item) for item in errors]
    if isinstance(errors, dict):
        return {key: _plain(value) for key, value in errors.items() if key != "ctx"}
    if isinstance(errors, str | int | float | bool) or errors is None:
        return errors
    return str(errors)


def _version() -> str:
    try:
        return metadata.version("talentcast")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"
