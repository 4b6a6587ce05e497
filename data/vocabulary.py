"""The fixed vocabulary of the product: education levels, series kinds, regions, roles.

Fields and programmes are catalog *data* (see :mod:`data.catalog`) because the admin can replace
them; the names here are part of the file and API contracts and change only with the code.
"""

from __future__ import annotations

import unicodedata
from enum import StrEnum
from typing import Final


class Level(StrEnum):
    """Education level of a programme (and the minimum level of a job opening)."""

    SECONDARY_VOCATIONAL = "secondary_vocational"
    HIGHER_VOCATIONAL = "higher_vocational"
    BACHELOR = "bachelor"
    MASTER = "master"
    DOCTOR = "doctor"


LEVELS: Final[tuple[str, ...]] = tuple(level.value for level in Level)

#: Hiring and demand-survey rows may leave the level open: the opening accepts any level.
ALL_LEVELS: Final = "all"

LEVEL_NAMES_ZH: Final[dict[str, str]] = {
    Level.SECONDARY_VOCATIONAL: "中职",
    Level.HIGHER_VOCATIONAL: "高职专科",
    Level.BACHELOR: "本科",
    Level.MASTER: "硕士",
    Level.DOCTOR: "博士",
    ALL_LEVELS: "不限层次",
}


def level_spelling(text: str) -> str:
    """The form a level is looked up in: full-width brackets and slashes made ASCII (NFKC),
    lower case, no spaces, so that ``高职（专科）``, ``高职(专科)`` and ``高职 / 专科`` are one
    spelling."""
    return "".join(unicodedata.normalize("NFKC", text).lower().split())


#: Spellings planners and associations actually type (in :func:`level_spelling` form), mapped
#: to the canonical level code.
LEVEL_ALIASES: Final[dict[str, str]] = {
    "中职": Level.SECONDARY_VOCATIONAL,
    "中专": Level.SECONDARY_VOCATIONAL,
    "中职/中专": Level.SECONDARY_VOCATIONAL,
    "中专/中职": Level.SECONDARY_VOCATIONAL,
    "中职(中专)": Level.SECONDARY_VOCATIONAL,
    "中等职业": Level.SECONDARY_VOCATIONAL,
    "中等职业教育": Level.SECONDARY_VOCATIONAL,
    "中等职业学校": Level.SECONDARY_VOCATIONAL,
    "中等专业学校": Level.SECONDARY_VOCATIONAL,
    "secondaryvocational": Level.SECONDARY_VOCATIONAL,
    "高职": Level.HIGHER_VOCATIONAL,
    "高职专科": Level.HIGHER_VOCATIONAL,
    "高职/专科": Level.HIGHER_VOCATIONAL,
    "专科/高职": Level.HIGHER_VOCATIONAL,
    "高职/大专": Level.HIGHER_VOCATIONAL,
    "高职(专科)": Level.HIGHER_VOCATIONAL,
    "专科(高职)": Level.HIGHER_VOCATIONAL,
    "高职高专": Level.HIGHER_VOCATIONAL,
    "专科": Level.HIGHER_VOCATIONAL,
    "大专": Level.HIGHER_VOCATIONAL,
    "高等职业": Level.HIGHER_VOCATIONAL,
    "高等职业教育": Level.HIGHER_VOCATIONAL,
    "高职(大专)": Level.HIGHER_VOCATIONAL,
    "highervocational": Level.HIGHER_VOCATIONAL,
    "本科": Level.BACHELOR,
    "本科生": Level.BACHELOR,
    "大学本科": Level.BACHELOR,
    "普通本科": Level.BACHELOR,
    "学士": Level.BACHELOR,
    "硕士": Level.MASTER,
    "硕士生": Level.MASTER,
    "硕士研究生": Level.MASTER,
    "研究生(硕士)": Level.MASTER,
    "博士": Level.DOCTOR,
    "博士生": Level.DOCTOR,
    "博士研究生": Level.DOCTOR,
    "研究生(博士)": Level.DOCTOR,
    "不限": ALL_LEVELS,
    "不限层次": ALL_LEVELS,
    "学历不限": ALL_LEVELS,
    "全部": ALL_LEVELS,
    "any": ALL_LEVELS,
}


class Kind(StrEnum):
    """Kinds of observation a file can carry (one kind per upload)."""

    ENROLLMENT = "enrollment"
    GRADUATES = "graduates"
    OUTCOMES = "outcomes"
    HIRING = "hiring"
    DEMAND_SURVEY = "demand_survey"


KINDS: Final[tuple[str, ...]] = tuple(kind.value for kind in Kind)

#: The whole city of the reference deployment (Tianjin). Regions are GB/T 2260 codes.
DEFAULT_CITY_REGION: Final = "120000"

#: First year the store accepts for observed series: national entrance exams resumed in 1977.
MIN_OBSERVATION_YEAR: Final = 1977


class Role(StrEnum):
    """What an API key may do; stored with each key and each audit row.

    A ``planner`` (education bureau staff) reads results and runs scenarios; an ``association``
    (an industry body) uploads hiring and survey data for its own fields and reads; an ``admin``
    does everything, including managing keys, loading catalogs and promoting runs. Roles are
    part of the API contract, so they are code, not catalog data.
    """

    PLANNER = "planner"
    ASSOCIATION = "association"
    ADMIN = "admin"
