"""Guards in front of the app: bounded JSON request bodies, and security headers on every
response.

Python's JSON parser raises ``RecursionError`` on deeply nested input and ``ValueError`` on
integers of more than 4,300 digits; FastAPI turns neither into a client error, so such a body
was a 500. This middleware reads a JSON body once (up to :data:`MAX_JSON_BYTES`), refuses it
with 413/422 naming the limit when it passes a bound, and otherwise hands the same bytes on
to the app unchanged. Uploads (multipart) are not JSON bodies and pass straight through.

:class:`SecurityHeaders` gives every response — JSON, static files, errors — the headers that
stop a browser from sniffing a type or framing the service; a response that sets its own
(the dashboard's pages, with their full content policy) keeps them.
"""

from __future__ import annotations

import json
from typing import Any, Final

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.api.audit import ENGLISH_DETAIL_STATE
from serving.api.language import VARY_HEADER, language_of_headers
from serving.api.messages import Detail, detail_text
from serving.api.problems import PROBLEM_MEDIA_TYPE, problem_body

MAX_JSON_BYTES: Final = 1 << 20
MAX_JSON_DEPTH: Final = 32
MAX_JSON_DIGITS: Final = 40


class JsonTooComplex(ValueError):
    """A JSON body passed a bound; the message names it."""


class JsonBodyGuard:
    """Pure ASGI middleware (no body buffering for anything that is not JSON)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_JSON_BYTES:
                too_large = Detail.of("body.json_too_large", limit=MAX_JSON_BYTES)
                await _refuse(scope, send, 413, too_large)
                return
        try:
            check_json(bytes(body))
        except JsonTooComplex as error:
            await _refuse(scope, send, 422, str(error))
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)


def check_json(body: bytes) -> None:
    """Raise :class:`JsonTooComplex` for a body nested deeper than :data:`MAX_JSON_DEPTH` or
    with an integer of more than :data:`MAX_JSON_DIGITS` digits; malformed JSON is left to
    the app, which reports where it is malformed."""

    def bounded_int(digits: str) -> int:
        if len(digits.lstrip("-")) > MAX_JSON_DIGITS:
            raise JsonTooComplex(f"a number in the body has more than {MAX_JSON_DIGITS} digits")
        return int(digits)

    try:
        document = json.loads(body, parse_int=bounded_int)
    except RecursionError:
        raise JsonTooComplex(
            f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels"
        ) from None
    except (ValueError, UnicodeDecodeError) as error:
        if isinstance(error, JsonTooComplex):
            raise
        return
    if _depth(document) > MAX_JSON_DEPTH:
        raise JsonTooComplex(f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels")


def _depth(document: Any) -> int:
    """Nesting depth of lists and objects, without recursion."""
    deepest = 0
    stack = [(document, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict):
            children = list(value.values())
        elif isinstance(value, list):
            children = value
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


def _is_json(scope: Scope) -> bool:
    if scope.get("method") not in {"POST", "PUT", "PATCH"}:
        return False
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return False


async def _refuse(scope: Scope, send: Send, status: int, detail: str | Detail) -> None:
    """Answer with problem details in the caller's language (the audit keeps the English)."""
    lang = language_of_headers(Headers(scope=scope))
    text = detail_text(detail, status, lang)
    if text != str(detail):
        scope.setdefault("state", {})[ENGLISH_DETAIL_STATE] = str(detail)
    payload = json.dumps(problem_body(status, text, lang=lang)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(payload)).encode()),
                *((name.lower().encode(), value.encode()) for name, value in VARY_HEADER.items()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


#: Headers every response carries unless it set its own.
SECURITY_HEADERS: Final = (
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)


class SecurityHeaders:
    """Pure ASGI middleware adding :data:`SECURITY_HEADERS` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [
                    (name, value) for name, value in SECURITY_HEADERS if name not in present
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
