"""Signing in to the dashboard: the key is pasted once and kept in an HttpOnly cookie.

The cookie holds the API key itself, so the dashboard's JavaScript can call the API (uploads)
with the same credentials and the key never reaches script code. It is SameSite=Strict: a page
on another site can neither read it nor make the browser send it with a forged request.
"""

from __future__ import annotations

import math
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from serving.api.deps import KEY_COOKIE, principal_of, throttled_for
from serving.dashboard.i18n import translator
from serving.dashboard.render import (
    PAGE_HEADERS,
    LoginRequired,
    PageContext,
    page_lang,
    remember_lang,
    served_run,
)

#: A signed-in browser stays signed in for a working day.
SESSION_SECONDS: Final = 12 * 3600

router = APIRouter(include_in_schema=False)


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def page_context(request: Request) -> PageContext:
    """Who is looking, in which language, at which run; redirects to /login without a key."""
    principal = principal_of(request, request.cookies.get(KEY_COOKIE))
    if principal is None:
        raise LoginRequired(_here(request))
    return PageContext(request, principal, served_run(request), page_lang(request))


Page = Annotated[PageContext, Depends(page_context)]


def safe_next(value: str | None) -> str:
    """Only a path on this site: an open redirect would let a link send users elsewhere."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    return value


def _login_form(request: Request, next_path: str, error: bool, status_code: int) -> HTMLResponse:
    lang = page_lang(request)
    env = request.app.state.dashboard_env
    base = str(request.scope.get("root_path", "")).rstrip("/")
    other = "en" if lang == "zh" else "zh"
    html = env.get_template("login.html").render(
        t=translator(lang),
        lang=lang,
        base=base,
        next_path=next_path,
        error=error,
        switch_url=f"{base}/login?lang={other}",
    )
    response = HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)
    remember_lang(request, response)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    return _login_form(request, safe_next(next), error=False, status_code=200)


@router.post("/login", response_model=None)
def login(
    request: Request,
    key: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Check the key (by its hash, as the API does) and keep it in the session cookie."""
    target = safe_next(next)
    wait = throttled_for(request, key.strip())
    if wait is not None:
        refused = _login_form(request, target, error=True, status_code=429)
        refused.headers["Retry-After"] = str(math.ceil(wait))
        return refused
    if principal_of(request, key.strip()) is None:
        return _login_form(request, target, error=True, status_code=401)
    base = str(request.scope.get("root_path", "")).rstrip("/")
    response = RedirectResponse(base + target, status_code=303)
    response.set_cookie(
        KEY_COOKIE,
        key.strip(),
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
def logout(request: Request) -> RedirectResponse:
    base = str(request.scope.get("root_path", "")).rstrip("/")
    response = RedirectResponse(f"{base}/login", status_code=303)
    response.delete_cookie(KEY_COOKIE, path="/", httponly=True, samesite="strict")
    return response
