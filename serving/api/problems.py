"""One error format for the whole API: RFC 9457 problem details.

Every error answer is ``application/problem+json`` with ``type`` (``about:blank``: the status
says it all), ``title`` (the status phrase), ``status`` and ``detail`` (a sentence naming the
parameter, row or limit and what to do). Errors with several findings add them as extension
members: ``errors`` (request validation, as FastAPI reports them) and ``total`` and
``problems`` (a refused upload, by row, column and reason).
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, Final

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"


class ProblemDetails(BaseModel):
    """An error (RFC 9457 problem details)."""

    type: str = Field(default="about:blank", description="What kind of problem (a URI).")
    title: str = Field(description="The HTTP status phrase, e.g. 'Not Found'.")
    status: int = Field(description="The HTTP status code, repeated.")
    detail: str = Field(description="What went wrong and what to do about it.")


def problem_body(status: int, detail: str, **extensions: Any) -> dict[str, Any]:
    return {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **extensions,
    }


def problem_response(
    status: int, detail: str, *, headers: Mapping[str, str] | None = None, **extensions: Any
) -> JSONResponse:
    """The problem-details answer for ``status``."""
    return JSONResponse(
        problem_body(status, detail, **extensions),
        status_code=status,
        headers=dict(headers) if headers else None,
        media_type=PROBLEM_MEDIA_TYPE,
    )


#: Errors every API route may answer, documented once for all of them (a route documents its
#: own further ones, and its own body where it adds members, like a refused upload).
COMMON_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    401: {"model": ProblemDetails, "description": "No key, or an unknown or revoked one."},
    403: {"model": ProblemDetails, "description": "The key's role or fields do not allow this."},
    404: {"model": ProblemDetails, "description": "No such run, upload, code or year."},
    422: {"model": ProblemDetails, "description": "A parameter or the body is invalid."},
    429: {"model": ProblemDetails, "description": "Too many failed keys; see Retry-After."},
}
