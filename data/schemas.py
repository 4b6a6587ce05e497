"""Column contracts of the upload kinds (the README's table of upload files).

One :class:`KindSchema` per kind says which columns a file must and may have, what each column
holds, which columns identify an observation (the *key*: a later upload with the same key
supersedes the value) and the Chinese and English headers accepted for each column.
Validation (:mod:`data.validation`) and the store (:mod:`data.store`) both read these specs, so
a new optional column is added here once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from data.vocabulary import ALL_LEVELS, DEFAULT_CITY_REGION, Kind


class ColumnType(StrEnum):
    """What a column holds; each type has one parser in :mod:`data.validation`."""

    YEAR = "year"
    COUNT = "count"
    PROGRAMME = "programme"
    FIELD = "field"
    LEVEL = "level"
    PERIOD = "period"
    REGION = "region"
    TEXT = "text"


@dataclass(frozen=True)
class Column:
    """One column of an upload file.

    ``default`` fills an optional column that a file leaves out or leaves blank; optional
    columns without a default are stored as NULL (unknown), which is different from zero.
    """

    name: str
    type: ColumnType
    required: bool
    aliases: tuple[str, ...] = ()
    default: str | None = None


@dataclass(frozen=True)
class KindSchema:
    """The contract of one upload kind."""

    kind: Kind
    columns: tuple[Column, ...]
    key: tuple[str, ...]

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def optional(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if not c.required)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def counts(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.type is ColumnType.COUNT)

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"kind {self.kind.value!r} has no column {name!r}")


_YEAR = Column("year", ColumnType.YEAR, True, ("年份", "年度", "年", "学年"))
_PROGRAMME = Column(
    "programme_code", ColumnType.PROGRAMME, True, ("专业代码", "专业编码", "专业号", "code")
)
_LEVEL = Column("level", ColumnType.LEVEL, True, ("层次", "培养层次", "学历层次", "办学层次"))
_REGION = Column(
    "region",
    ColumnType.REGION,
    False,
    ("地区", "地区代码", "区划代码", "行政区划代码", "region_code"),
    DEFAULT_CITY_REGION,  # validation fills a blank region with the configured city's code
)
_INSTITUTION = Column(
    "institution", ColumnType.TEXT, False, ("院校", "学校", "院校名称", "学校名称", "院校代码"), ""
)
_GRADUATES = Column("graduates", ColumnType.COUNT, True, ("毕业生数", "毕业人数", "毕业生人数"))
_FIELD = Column("field_code", ColumnType.FIELD, True, ("领域代码", "产业领域", "领域", "field"))
_OPTIONAL_LEVEL = Column(
    "level", ColumnType.LEVEL, False, ("层次", "最低层次", "学历要求", "学历层次"), ALL_LEVELS
)

SCHEMAS: Final[dict[Kind, KindSchema]] = {
    Kind.ENROLLMENT: KindSchema(
        Kind.ENROLLMENT,
        (
            _YEAR,
            _PROGRAMME,
            _LEVEL,
            Column(
                "enrolled", ColumnType.COUNT, True, ("招生数", "招生人数", "新生数", "入学人数")
            ),
            _REGION,
            _INSTITUTION,
        ),
        key=("year", "programme_code", "level", "region", "institution"),
    ),
    Kind.GRADUATES: KindSchema(
        Kind.GRADUATES,
        (_YEAR, _PROGRAMME, _LEVEL, _GRADUATES, _REGION, _INSTITUTION),
        key=("year", "programme_code", "level", "region", "institution"),
    ),
    Kind.OUTCOMES: KindSchema(
        Kind.OUTCOMES,
        (
            _YEAR,
            _PROGRAMME,
            _LEVEL,
            _GRADUATES,
            Column(
                "placed",
                ColumnType.COUNT,
                True,
                ("落实人数", "去向落实人数", "毕业去向落实人数", "就业落实人数"),
            ),
            Column(
                "employed_in_field",
                ColumnType.COUNT,
                False,
                ("对口就业人数", "专业对口就业人数", "领域内就业人数", "对口人数"),
            ),
            Column(
                "employed_locally",
                ColumnType.COUNT,
                False,
                ("本地就业人数", "在津就业人数", "留津就业人数", "本市就业人数"),
            ),
            _REGION,
        ),
        key=("year", "programme_code", "level", "region"),
    ),
    Kind.HIRING: KindSchema(
        Kind.HIRING,
        (
            Column("period", ColumnType.PERIOD, True, ("期间", "时期", "统计期", "年月", "月份")),
            _FIELD,
            Column(
                "postings", ColumnType.COUNT, True, ("岗位数", "招聘岗位数", "职位数", "岗位需求数")
            ),
            _OPTIONAL_LEVEL,
            _REGION,
            Column("hires", ColumnType.COUNT, False, ("录用人数", "入职人数", "招用人数")),
            Column("job_seekers", ColumnType.COUNT, False, ("求职人数", "求职者人数", "求职者数")),
        ),
        key=("period", "field_code", "level", "region"),
    ),
    Kind.DEMAND_SURVEY: KindSchema(
        Kind.DEMAND_SURVEY,
        (
            Column("survey_year", ColumnType.YEAR, True, ("调查年份", "调查年度", "填报年份")),
            Column("target_year", ColumnType.YEAR, True, ("目标年份", "需求年份", "预测年份")),
            _FIELD,
            Column("headcount", ColumnType.COUNT, True, ("需求人数", "人才需求数", "需求数")),
            _OPTIONAL_LEVEL,
            _REGION,
        ),
        key=("survey_year", "target_year", "field_code", "level", "region"),
    ),
}

#: How far ahead an association may state a need (years after the survey year).
MAX_SURVEY_HORIZON: Final = 15

_UNIT_SUFFIX = re.compile(r"[（(][^（()）]*[)）]$")


def normalise_header(header: str) -> str:
    """Reduce a header to the form aliases are matched in.

    Spreadsheet headers carry units and stray spaces ("招生数（人）", " Programme Code "), so
    units in brackets, surrounding blanks and case are dropped and inner blanks become ``_``.
    """
    text = header.replace("\ufeff", "").strip()
    text = _UNIT_SUFFIX.sub("", text).strip()
    return re.sub(r"[\s\-]+", "_", text).lower()


def header_map(schema: KindSchema) -> dict[str, str]:
    """Normalised accepted header -> canonical column name, for one kind."""
    mapping: dict[str, str] = {}
    for column in schema.columns:
        for spelling in (column.name, *column.aliases):
            mapping[normalise_header(spelling)] = column.name
    return mapping
