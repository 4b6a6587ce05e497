"""The language an API answer is written in, negotiated once from ``Accept-Language``.

Problems of an upload and the errors the API writes itself come in English or Chinese; data
(codes, numbers, the bilingual sentences of warnings and recommendations) is the same in both.
Chinese is chosen for ``zh`` and its Simplified forms (``zh-CN``, ``zh-SG``, ``zh-Hans``...)
when no supported language has a higher q-value; anything else, or no header, is English.

Werkzeug's ``LanguageAccept.best_match`` would do this but prefers an exact tag over a
better-weighted prefix match (``en-US,zh;q=0.9`` gives Chinese there), so the header is read
here, by the rules of RFC 9110 section 12.5.4.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import Depends, Header
from starlette.datastructures import Headers

from data.messages import DEFAULT_LANGUAGE, Lang

#: Every answer whose text follows ``Accept-Language`` says so, for caches in between.
VARY_HEADER: Final = {"Vary": "Accept-Language"}
#: Chinese tags written in Simplified characters (the only Chinese the service writes).
_SIMPLIFIED: Final = frozenset({"zh", "zh-cn", "zh-sg", "zh-my", "zh-hans"})


def _language_of(tag: str) -> Lang | None:
    tag = tag.strip().lower().replace("_", "-")
    if tag == "en" or tag.startswith("en-"):
        return "en"
    parts = tag.split("-")
    if parts[0] == "zh" and ("-".join(parts[:2]) in _SIMPLIFIED):
        return "zh"
    return None


def _quality(parameters: list[str]) -> float | None:
    """The item's q-value (1 when absent), or None when it is malformed (then it is ignored)."""
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value.strip())
            except ValueError:
                return None
            return quality if 0.0 <= quality <= 1.0 else None
    return 1.0


def negotiate(accept_language: str | None) -> Lang:
    """The supported language with the highest q-value in the header (the first on a tie);
    English when none is acceptable."""
    best: Lang = DEFAULT_LANGUAGE
    best_quality = 0.0
    for item in (accept_language or "").split(","):
        tag, *parameters = item.split(";")
        language = _language_of(tag)
        quality = _quality(parameters)
        if language is not None and quality is not None and quality > best_quality:
            best, best_quality = language, quality
    return best


def language_of_headers(headers: Headers) -> Lang:
    return negotiate(headers.get("accept-language"))


async def get_language(
    accept_language: Annotated[
        str | None,
        Header(
            description="The language of the problems and error texts: Chinese for `zh` "
            "(`zh-CN`, `zh-Hans`) unless English has a higher q-value, otherwise English.",
            examples=["zh-CN,zh;q=0.9,en;q=0.8"],
        ),
    ] = None,
) -> Lang:
    """The caller's language (see :func:`negotiate`), declared as a header so that the
    OpenAPI document says which answers follow it."""
    return negotiate(accept_language)


LanguageDep = Annotated[Lang, Depends(get_language)]
