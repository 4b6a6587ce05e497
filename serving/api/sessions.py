"""Dashboard sessions and cross-site request checks.

A browser signs in with its key once; from then on its cookie holds a random session id (the
store keeps its hash, :mod:`data.store.sessions`), never the key. The cookie is HttpOnly and
SameSite=Strict, and on top of that every state-changing request it authenticates must come
from this site: its ``Origin`` (or ``Referer``) names this host, and it carries the session's
CSRF token (the ``X-CSRF-Token`` header from scripts, the ``csrf`` field from forms). Sign-in
itself is protected the same way with a one-time token in a short-lived cookie. Scripts and
other servers use ``Authorization: Bearer <key>``, which no browser sends on its own, and are
not subject to these checks.
"""

from __future__ import annotations

import secrets
from typing import Final
from urllib.parse import urlsplit

from fastapi import HTTPException, Request, status

from data.store import KeyRecord, SessionRecord, Store
from serving.api.messages import Detail
from serving.auth import hash_key

#: Cookie holding the session id (HttpOnly, SameSite=Strict).
SESSION_COOKIE: Final = "talentcast_session"
#: Cookie holding the sign-in form's one-time token until the form is sent.
LOGIN_COOKIE: Final = "talentcast_login"
#: Header carrying the session's CSRF token on writes made by the dashboard's scripts.
CSRF_HEADER: Final = "X-CSRF-Token"
#: Methods that change nothing: no token needed.
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
#: A signed-in browser stays signed in for a working day.
SESSION_SECONDS: Final = 12 * 3600


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def session_of(request: Request) -> SessionRecord | None:
    """The live session the request's cookie names, or None (blocking: one SELECT)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    return _store(request).session_by_hash(hash_key(token))


def start_session(request: Request, key: KeyRecord) -> str:
    """A new session for ``key``; returns the id to put in the cookie (shown nowhere else)."""
    token = secrets.token_urlsafe(32)
    _store(request).create_session(
        key.id, hash_key(token), secrets.token_urlsafe(32), SESSION_SECONDS
    )
    return token


def end_session(request: Request) -> None:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        _store(request).end_session(hash_key(token))


def same_origin(request: Request) -> bool:
    """Whether the request says it comes from this host. Browsers send ``Origin`` with every
    POST; without it (and without ``Referer``) the CSRF token alone decides."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if source is None:
        return True
    return urlsplit(source).netloc == request.headers.get("host", "")


def tokens_match(sent: str | None, expected: str | None) -> bool:
    return bool(sent) and bool(expected) and secrets.compare_digest(str(sent), str(expected))


def refuse_cross_site(request: Request, sent_token: str | None, expected_token: str) -> None:
    """403 unless a cookie-authenticated write comes from this site with the right token."""
    if not same_origin(request) or not tokens_match(sent_token, expected_token):
        raise HTTPException(status.HTTP_403_FORBIDDEN, Detail.of("auth.cross_site"))
