"""The planners' dashboard: server-rendered pages over the served run, usable offline.

``install(app)`` adds the pages, the static files and plotly.js (served from the installed
``plotly`` package: the commission's intranet reaches no CDN). Everything is built when it is
called; importing the package does nothing.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from serving.dashboard import apidocs, pages, programmes, records, session
from serving.dashboard.render import LoginRequired, PageError, build_environment, error_page

#: plotly.js changes only with the installed package: browsers may keep it for a day.
PLOTLY_CACHE = "public, max-age=86400"


def plotly_js_path() -> Path:
    """plotly.min.js as shipped inside the ``plotly`` Python package."""
    path = Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))
    if not path.is_file():  # pragma: no cover - a broken plotly installation
        raise RuntimeError(f"plotly.min.js is missing from the plotly package ({path})")
    return path


def install(app: FastAPI) -> None:
    """Add the dashboard to ``app``: pages, ``/static`` and ``/static/plotly.min.js``."""
    app.state.dashboard_env = build_environment()
    plotly_js = plotly_js_path()
    static = APIRouter(include_in_schema=False)

    @static.get("/static/plotly.min.js")
    def plotly_min_js() -> FileResponse:
        return FileResponse(
            plotly_js,
            media_type="text/javascript",
            headers={"Cache-Control": PLOTLY_CACHE},
        )

    # The plotly route comes before the mount, which would otherwise answer 404 for it.
    app.include_router(static)
    for module in (session, pages, programmes, records, apidocs):
        app.include_router(module.router)
    directory = Path(str(resources.files("serving.dashboard") / "static"))
    app.mount("/static", StaticFiles(directory=directory), name="static")

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, error: LoginRequired) -> Response:
        base = str(request.scope.get("root_path", "")).rstrip("/")
        query = "" if error.next_path == "/" else "?next=" + quote(error.next_path, safe="/")
        return RedirectResponse(f"{base}/login{query}", status_code=303)

    @app.exception_handler(PageError)
    async def page_error(request: Request, error: PageError) -> Response:
        return error_page(error)
