"""Signing in to the dashboard: the key is pasted once and a server-side session begins.

The browser's HttpOnly, SameSite=Strict cookie holds a random session id, never the key
(:mod:`serving.api.sessions`): the dashboard's JavaScript calls the API (uploads) with that
cookie and the session's CSRF token, which every page carries in a ``csrf-token`` meta tag.
Sign-in, sign-out and every other write made with the cookie must come from this site with the
right token.
"""

from __future__ import annotations

import math
import secrets
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from serving.api.deps import SettingsDep, lookup_key, throttled_for
from serving.api.sessions import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    SESSION_SECONDS,
    end_session,
    same_origin,
    session_of,
    start_session,
    tokens_match,
)
from serving.auth import Principal
from serving.dashboard.i18n import translator
from serving.dashboard.render import (
    PAGE_HEADERS,
    LoginRequired,
    PageContext,
    page_lang,
    remember_lang,
    served_run,
)

#: How long a sign-in form stays valid.
LOGIN_FORM_SECONDS = 3600

router = APIRouter(include_in_schema=False)


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def page_context(request: Request, settings: SettingsDep) -> PageContext:
    """Who is looking, in which language, at which run, on which clock; redirects to /login
    without a key."""
    session = session_of(request)
    if session is None:
        raise LoginRequired(_here(request))
    return PageContext(
        request,
        Principal.of(session.key),
        served_run(request),
        page_lang(request),
        session.csrf_token,
        ZoneInfo(settings.retrain_timezone),
    )


Page = Annotated[PageContext, Depends(page_context)]


def safe_next(value: str | None) -> str:
    """Only a path on this site: an open redirect would let a link send users elsewhere."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    return value


def _login_form(
    request: Request, next_path: str, error: str | None, status_code: int
) -> HTMLResponse:
    """The sign-in form with a fresh one-time token (in the form and in a short-lived cookie:
    a form posted from another site cannot know it). ``error`` is the message key to show."""
    lang = page_lang(request)
    token = secrets.token_urlsafe(24)
    env = request.app.state.dashboard_env
    base = str(request.scope.get("root_path", "")).rstrip("/")
    other = "en" if lang == "zh" else "zh"
    html = env.get_template("login.html").render(
        t=translator(lang),
        lang=lang,
        base=base,
        next_path=next_path,
        error=error,
        login_token=token,
        switch_url=f"{base}/login?lang={other}",
    )
    response = HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=LOGIN_FORM_SECONDS,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    remember_lang(request, response)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    return _login_form(request, safe_next(next), error=None, status_code=200)


@router.post("/login", response_model=None)
def login(
    request: Request,
    key: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Check the key (by its hash, as the API does) and start a session for it."""
    target = safe_next(next)
    if not same_origin(request) or not tokens_match(csrf, request.cookies.get(LOGIN_COOKIE)):
        return _login_form(request, target, error="login_expired", status_code=403)
    wait = throttled_for(request, key.strip())
    if wait is not None:
        refused = _login_form(request, target, error="login_error", status_code=429)
        refused.headers["Retry-After"] = str(math.ceil(wait))
        return refused
    record = lookup_key(request, key.strip()) if key.strip() else None
    if record is None:
        return _login_form(request, target, error="login_error", status_code=401)
    base = str(request.scope.get("root_path", "")).rstrip("/")
    response = RedirectResponse(base + target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        start_session(request, record),
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/login", httponly=True, samesite="strict")
    return response


@router.post("/logout", response_model=None)
def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    """End the session (only from this site's pages, with the session's token)."""
    base = str(request.scope.get("root_path", "")).rstrip("/")
    session = session_of(request)
    if session is not None:
        if not same_origin(request) or not tokens_match(csrf, session.csrf_token):
            return Response("cross-site sign-out refused", status_code=403)
        end_session(request)
    response = RedirectResponse(f"{base}/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
