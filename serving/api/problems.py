"""One error format for the whole API: RFC 9457 problem details.

Every error answer is ``application/problem+json`` with ``type`` (``about:blank``: the status
says it all), ``title`` (the status phrase), ``status`` and ``detail`` (a sentence naming the
parameter, row or limit and what to do), title and detail in the caller's language where the
API has the words (:mod:`serving.api.messages`). Errors with several findings add them as
extension members: ``errors`` (request validation, as FastAPI reports them) and ``total`` and
``problems`` (a refused upload, by row, column, code and reason).

The OpenAPI document says so too. FastAPI files a response ``model`` under the route's own
media type (``application/json``), which is not what an error is sent as, so errors are
documented with :func:`problem` instead: the model's schema, inline, under
``application/problem+json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from data.messages import DEFAULT_LANGUAGE, Lang
from serving.api.language import VARY_HEADER
from serving.api.messages import title

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"


class ProblemDetails(BaseModel):
    """An error (RFC 9457 problem details)."""

    type: str = Field(default="about:blank", description="What kind of problem (a URI).")
    title: str = Field(
        description="The HTTP status phrase, e.g. 'Not Found' (in Chinese for a client whose "
        "`Accept-Language` prefers it)."
    )
    status: int = Field(description="The HTTP status code, repeated.")
    detail: str = Field(
        description="What went wrong and what to do about it (in the language negotiated from "
        "`Accept-Language` where the API has a translation: English or Chinese)."
    )


def problem_body(
    status: int, detail: str, *, lang: Lang = DEFAULT_LANGUAGE, **extensions: Any
) -> dict[str, Any]:
    return {
        "type": "about:blank",
        "title": title(status, lang),
        "status": status,
        "detail": detail,
        **extensions,
    }


def problem_response(
    status: int,
    detail: str,
    *,
    lang: Lang = DEFAULT_LANGUAGE,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    """The problem-details answer for ``status``, its title in ``lang`` (``detail`` is
    already in it); it varies with ``Accept-Language``."""
    return JSONResponse(
        problem_body(status, detail, lang=lang, **extensions),
        status_code=status,
        headers={**(headers or {}), **VARY_HEADER},
        media_type=PROBLEM_MEDIA_TYPE,
    )


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with the models it nests written in place.

    Pydantic refers to nested models through ``#/$defs/...``, which inside an OpenAPI document
    would point at the document's root; an inline response schema must carry them itself.
    The problem models nest no model in itself, so this terminates.
    """
    schema = model.model_json_schema()
    definitions: dict[str, Any] = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            reference = node.get("$ref")
            if isinstance(reference, str) and reference.startswith("#/$defs/"):
                return resolve(definitions[reference.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def problem(
    description: str,
    *models: type[ProblemDetails],
    headers: Mapping[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A route's ``responses`` entry for an error: ``application/problem+json`` with the
    schema of ``models`` (any of them; default :class:`ProblemDetails`) and the response
    headers it always or sometimes carries."""
    schemas = [inline_schema(model) for model in models or (ProblemDetails,)]
    schema = schemas[0] if len(schemas) == 1 else {"anyOf": schemas}
    entry: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": schema}},
    }
    if headers:
        entry["headers"] = dict(headers)
    return entry


#: Errors every API route may answer, documented once for all of them (a route documents its
#: own further ones, and its own body where it adds members, like a refused upload).
COMMON_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    401: problem(
        "No key, or an unknown or revoked one (or an ended dashboard session).",
        headers={
            "WWW-Authenticate": {
                "description": "How to authenticate: `Bearer`.",
                "required": True,
                "schema": {"type": "string"},
            }
        },
    ),
    403: problem("The key's role or fields do not allow this."),
    404: problem("No such run, upload, code or year."),
    422: problem("A parameter or the body is invalid."),
    429: problem(
        "Too many failed keys from this address or with this key prefix.",
        headers={
            "Retry-After": {
                "description": "Seconds until the next attempt may succeed.",
                "required": True,
                "schema": {"type": "integer", "minimum": 1},
            }
        },
    ),
}

#: Errors of a route that reads a run's outputs (the served run, or ``run_id``).
RUN_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    409: problem(
        "The run named by `run_id` has not succeeded, so it has no outputs (or, for a "
        "scenario, it kept no samples)."
    ),
}

#: Errors of a route that takes a JSON body, besides the validation of its content (422):
#: bodies that are no JSON text at all, and the bounds of :mod:`serving.api.guards`.
JSON_BODY_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    400: problem("The body is not JSON text (e.g. not UTF-8)."),
    413: problem("The JSON body is larger than 1 MiB."),
}
