"""Refused requests in the audit log.

An admin investigating a probe, a misconfigured client or a complaint ("my upload was refused")
needs to see refusals, not only what succeeded. This middleware writes one ``request.refused``
row for every API request answered with a 4xx, and for every refused form post of the dashboard
(a ``POST`` to it): who (the key's name, or ``anonymous`` with the client address), the role,
``METHOD path`` and the status with the first 200 characters of the problem's ``detail``. A
route that audits its own refusal with more to say (a refused upload, with its problem count)
marks the request so that it is not written twice.

Writing a row per refusal would turn a flood of bad requests into a flood of database writes,
so each client address gets at most ``limit`` rows per ``window`` seconds; past that, refusals
are only counted, and the next row written for that address says how many were left out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import OrderedDict
from typing import Any, Final

from anyio import to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.api.problems import PROBLEM_MEDIA_TYPE
from serving.api.throttle import MAX_SUBJECTS, FailureThrottle

log = logging.getLogger(__name__)

#: The audit action of a refused request.
REFUSED_ACTION: Final = "request.refused"
#: Set (to True) on ``request.state`` by a route that audited its refusal itself.
AUDITED_STATE: Final = "refusal_audited"
#: Set on ``request.state`` by authentication: the caller, once known.
PRINCIPAL_STATE: Final = "principal"
#: Set on ``request.state`` by an error answered in another language: the English detail,
#: which the audit row quotes instead (the log reads the same whatever the client asked for).
ENGLISH_DETAIL_STATE: Final = "refusal_detail"
#: How much of a problem body is read to quote its ``detail``.
_BODY_PEEK: Final = 4096


class RefusalAudit:
    """Pure ASGI middleware; the store is the app's (``app.state.store``)."""

    def __init__(
        self, app: ASGIApp, *, api_prefix: str, limit: int = 60, window: float = 60.0
    ) -> None:
        self.app = app
        self.api_prefix = api_prefix
        self.per_address = FailureThrottle(limit, window)
        # Bounded like the throttle's subjects: a flood from many addresses holds no more.
        self._left_out: OrderedDict[str, int] = OrderedDict()
        self._pending: set[asyncio.Task[None]] = set()  # audit writes under way

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._watched(scope):
            await self.app(scope, receive, send)
            return
        status = 0
        is_problem = False
        peek = bytearray()

        async def watch(message: Message) -> None:
            nonlocal status, is_problem
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = dict(message.get("headers", []))
                is_problem = headers.get(b"content-type", b"").startswith(
                    PROBLEM_MEDIA_TYPE.encode()
                )
            elif message["type"] == "http.response.body" and is_problem:
                room = _BODY_PEEK - len(peek)
                if room > 0:
                    peek.extend(message.get("body", b"")[:room])
            await send(message)

        await self.app(scope, receive, watch)
        if 400 <= status < 500 and not scope.get("state", {}).get(AUDITED_STATE):
            # Written after the request is done with, not before: the server closes a refused
            # upload's connection only when the app returns, and meanwhile the client keeps
            # sending into the socket's buffers.
            task = asyncio.get_running_loop().create_task(self._audit(scope, status, bytes(peek)))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    def _watched(self, scope: Scope) -> bool:
        path: str = scope.get("path", "")
        return path.startswith(self.api_prefix) or scope.get("method") == "POST"

    async def _audit(self, scope: Scope, status: int, body: bytes) -> None:
        client = scope.get("client")
        address = str(client[0]) if client else "unknown"
        subject = f"addr:{address}"
        if self.per_address.retry_after(subject) is not None:
            self._left_out[address] = self._left_out.pop(address, 0) + 1
            while len(self._left_out) > MAX_SUBJECTS:
                self._left_out.popitem(last=False)
            return
        self.per_address.failed(subject)
        principal = scope.get("state", {}).get(PRINCIPAL_STATE)
        actor = principal.name if principal is not None else f"anonymous@{address}"
        role = principal.role.value if principal is not None else None
        detail: dict[str, Any] = {"status": status, "address": address}
        english = scope.get("state", {}).get(ENGLISH_DETAIL_STATE)
        quoted = str(english)[:200] if english else _detail_of(body)
        if quoted:
            detail["detail"] = quoted
        left_out = self._left_out.pop(address, 0)
        if left_out:
            detail["not_audited_before"] = left_out
        target = f"{scope.get('method', '?')} {scope.get('path', '')}"[:200]
        store = scope["app"].state.store
        try:
            await to_thread.run_sync(
                lambda: store.audit(
                    actor[:100], REFUSED_ACTION, role=role, target=target, detail=detail
                )
            )
        except Exception:
            # The answer has been sent; a store that cannot take the row must not turn it into
            # an error. The server log keeps the refusal instead.
            log.exception("could not audit the refusal of %s (%s)", target, status)


def _detail_of(body: bytes) -> str:
    """The problem's ``detail``, shortened; empty when the body holds none. A long body (one
    listing many validation errors) is cut at :data:`_BODY_PEEK` bytes, so the member is
    found by pattern when the whole does not parse."""
    try:
        problem = json.loads(body)
        detail = problem.get("detail") if isinstance(problem, dict) else None
    except ValueError:
        found = _DETAIL.search(body.decode("utf-8", errors="replace"))
        detail = json.loads(f'"{found.group(1)}"') if found else None
    return str(detail)[:200] if detail else ""


_DETAIL: Final = re.compile(r'"detail"\s*:\s*"((?:[^"\\]|\\.)*)"')
