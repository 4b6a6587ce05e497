"""``/api/docs``: the API reference, rendered from the app's own OpenAPI document.

Swagger UI and ReDoc load their code from a CDN, which the commission's intranet cannot reach;
this page needs nothing but the server. It is generated from ``app.openapi()``, so it always
describes the running code: every path and method with its summary, description, parameters
(with types), request body, responses (with their models) and the examples in the schema.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Final

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape

from serving.dashboard.i18n import API_SUMMARIES_ZH, API_TAGS_ZH
from serving.dashboard.render import render
from serving.dashboard.session import Page

router = APIRouter(include_in_schema=False)
METHODS: Final = ("get", "post", "put", "patch", "delete")
_REF_PREFIX: Final = "#/components/schemas/"
_CODE: Final = re.compile(r"``?([^`]+)``?")


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str
    type: str
    required: bool
    description: str
    default: str
    examples: list[str]


@dataclass(frozen=True)
class Body:
    content_type: str
    type: str
    required: bool
    examples: list[str]


@dataclass(frozen=True)
class ResponseInfo:
    status: str
    description: str
    type: str


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    anchor: str
    tag: str
    summary: str
    description: str
    auth: bool
    parameters: list[Parameter]
    body: Body | None
    responses: list[ResponseInfo]


@dataclass(frozen=True)
class Property:
    name: str
    type: str
    required: bool
    description: str
    examples: list[str]


@dataclass(frozen=True)
class SchemaInfo:
    name: str
    description: str
    enum: list[str]
    properties: list[Property] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)


def ref_name(ref: str) -> str:
    return ref.removeprefix(_REF_PREFIX)


def type_of(schema: dict[str, Any]) -> str:
    """A short readable type: ``integer ≥ 1 | null``, ``array of RunOut``, ``Kind``."""
    if "$ref" in schema:
        return ref_name(schema["$ref"])
    if schema.get("type") == "object" and "properties" in schema and "title" in schema:
        return str(schema["title"])  # a model written in place, e.g. an error's ProblemDetails
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return " | ".join(dict.fromkeys(type_of(part) for part in schema[key]))
    if "enum" in schema:
        return " | ".join(json.dumps(value, ensure_ascii=False) for value in schema["enum"])
    kind = schema.get("type")
    if kind == "array":
        text = f"array of {type_of(schema.get('items', {}))}"
    elif kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        text = f"map of string → {type_of(schema['additionalProperties'])}"
    else:
        text = str(kind or "any")
        if "format" in schema:
            text += f" ({schema['format']})"
    limits = [
        f"{sign} {schema[key]}"
        for key, sign in (
            ("minimum", "≥"),
            ("exclusiveMinimum", ">"),
            ("maximum", "≤"),
            ("exclusiveMaximum", "<"),
            ("maxItems", "items ≤"),
            ("maxLength", "length ≤"),
        )
        if key in schema
    ]
    return " ".join([text, *limits])


def examples_of(*holders: dict[str, Any]) -> list[str]:
    """Examples as pretty JSON, from ``example`` and ``examples`` (a list in JSON Schema, a map
    of named examples in OpenAPI parameters and media types)."""
    found: list[Any] = []
    for holder in holders:
        if "example" in holder:
            found.append(holder["example"])
        examples = holder.get("examples")
        if isinstance(examples, list):
            found.extend(examples)
        elif isinstance(examples, dict):
            found.extend(
                item.get("value") if isinstance(item, dict) and "value" in item else item
                for item in examples.values()
            )
    return [json.dumps(value, ensure_ascii=False, indent=2) for value in found]


def _resolve(schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        resolved: dict[str, Any] = schemas.get(ref_name(schema["$ref"]), {})
        return resolved
    return schema


def _parameter(raw: dict[str, Any]) -> Parameter:
    schema = raw.get("schema", {})
    return Parameter(
        name=raw["name"],
        location=raw.get("in", ""),
        type=type_of(schema),
        required=bool(raw.get("required", False)),
        description=raw.get("description") or schema.get("description", ""),
        default=json.dumps(schema["default"], ensure_ascii=False) if "default" in schema else "",
        examples=examples_of(raw, schema),
    )


def _body(raw: dict[str, Any] | None, schemas: dict[str, Any]) -> Body | None:
    if not raw:
        return None
    content: dict[str, dict[str, Any]] = raw.get("content", {})
    content_type, media = next(iter(content.items()), ("", {}))
    schema: dict[str, Any] = media.get("schema", {})
    return Body(
        content_type=content_type,
        type=type_of(schema),
        required=bool(raw.get("required", False)),
        examples=examples_of(media, _resolve(schema, schemas)),
    )


def _responses(raw: dict[str, Any]) -> list[ResponseInfo]:
    answers = []
    for code, response in sorted(raw.items()):
        media: dict[str, dict[str, Any]] = response.get("content", {})
        first: dict[str, Any] = next(iter(media.values()), {})
        schema = first.get("schema")
        answers.append(
            ResponseInfo(code, response.get("description", ""), type_of(schema) if schema else "")
        )
    return answers


def operations(document: dict[str, Any], lang: str = "en") -> list[Operation]:
    """Every operation of the document, in the order the app declares them; on a Chinese
    page with the Chinese summary and group of each route (the English where none is written,
    which a test forbids for the app's own routes)."""
    schemas = document.get("components", {}).get("schemas", {})
    found = []
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            raw = item.get(method)
            if raw is None:
                continue
            anchor = re.sub(r"[^a-z0-9]+", "-", f"{method} {path}".lower()).strip("-")
            tag = (raw.get("tags") or ["other"])[0]
            summary = raw.get("summary", "")
            if lang == "zh":
                tag = API_TAGS_ZH.get(tag, tag)
                summary = API_SUMMARIES_ZH.get(f"{method.upper()} {path}", summary)
            found.append(
                Operation(
                    method=method.upper(),
                    path=path,
                    anchor=anchor,
                    tag=tag,
                    summary=summary,
                    description=raw.get("description", ""),
                    auth=bool(raw.get("security")),
                    parameters=[_parameter(p) for p in raw.get("parameters", [])],
                    body=_body(raw.get("requestBody"), schemas),
                    responses=_responses(raw.get("responses", {})),
                )
            )
    return found


def _inline_models(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Models written in place in responses (errors are: their media type is not the one
    FastAPI files models under), by title."""
    found: dict[str, dict[str, Any]] = {}
    pending: list[Any] = [
        response.get("content", {})
        for item in document.get("paths", {}).values()
        for method in METHODS
        for response in item.get(method, {}).get("responses", {}).values()
    ]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node and "title" in node:
                found.setdefault(str(node["title"]), node)
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return found


def schema_infos(document: dict[str, Any]) -> list[SchemaInfo]:
    """The document's named models with their properties and examples, by name."""
    infos = []
    named = {**_inline_models(document), **document.get("components", {}).get("schemas", {})}
    for name, schema in sorted(named.items()):
        required = set(schema.get("required", []))
        properties = [
            Property(
                prop,
                type_of(spec),
                prop in required,
                spec.get("description", ""),
                examples_of(spec),
            )
            for prop, spec in schema.get("properties", {}).items()
        ]
        infos.append(
            SchemaInfo(
                name=name,
                description=schema.get("description", ""),
                enum=[str(value) for value in schema.get("enum", [])],
                properties=properties,
                examples=examples_of(schema),
            )
        )
    return infos


def prose(text: str) -> Markup:
    """Docstring text as HTML paragraphs, with ``code`` spans (everything else escaped)."""
    paragraphs = [" ".join(part.split()) for part in re.split(r"\n\s*\n", text) if part.strip()]
    html = []
    for paragraph in paragraphs:
        escaped = str(escape(paragraph))
        html.append("<p>" + _CODE.sub(r"<code>\1</code>", escaped) + "</p>")
    return Markup("".join(html))


@router.get("/api/docs", response_class=HTMLResponse)
def api_docs(page: Page) -> HTMLResponse:
    document = page.request.app.openapi()
    found = operations(document, page.lang)
    tags: dict[str, list[Operation]] = {}
    for operation in found:
        tags.setdefault(operation.tag, []).append(operation)
    return render(
        page,
        "apidocs.html",
        info=document.get("info", {}),
        openapi_url=page.request.app.openapi_url,
        tags=tags,
        schemas=schema_infos(document),
        prose=prose,
    )
