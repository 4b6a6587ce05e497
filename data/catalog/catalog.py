"""The catalog: priority fields, programmes with official codes, and the programme→field crosswalk.

The catalog is data, not code: the shipped default lives in ``fields.csv`` and
``programmes.csv`` beside this module, and an admin can replace it (``talentcast catalog load``);
the store keeps every version, so a run always sees the catalog of its data watermark.

Codes are official or absent. A code that merely *looks* like a catalog code misleads a planner,
so each programme carries a ``verified`` flag and the ``source`` of its code, and the only
non-official code is the reserved ``other`` line per level that keeps city totals complete.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Final

import pandas as pd

from data.messages import Param, Term
from data.problems import Problem, UploadRejected
from data.readers import ROW_COLUMN, RawTable, read_table
from data.vocabulary import LEVELS

OTHER: Final = "other"
VERIFIED_VALUES: Final = ("yes", "no", "n/a")
#: Longest tier label: tiers are the city's own (Tianjin's plan has national_strategic,
#: urgent, social and urban), shown to planners and stored beside each field.
MAX_TIER_CHARS: Final = 24

FIELD_COLUMNS: Final = (
    "field_code",
    "name_zh",
    "name_en",
    "tier",
    "sort_order",
    "shortage_cost",
    "surplus_cost",
)
#: Per-field weights of one person of shortage (an unfilled opening) and of surplus (a graduate
#: without an opening in the field) in the quota optimisation and scenario costs.
COST_COLUMNS: Final = ("shortage_cost", "surplus_cost")
#: Largest cost weight: weights are relative (Tianjin's run from 0 to 3).
MAX_COST: Final = 1000.0
PROGRAMME_COLUMNS: Final = (
    "programme_code",
    "level",
    "name_zh",
    "name_en",
    "duration_years",
    "field_code",
    "weight",
    "verified",
    "source",
)
PROGRAMME_ATTRIBUTES: Final = ("name_zh", "name_en", "duration_years", "verified", "source")

#: Shapes of official codes per level: undergraduate catalog codes are six characters with an
#: optional T (特设) / K (控制布点) suffix; vocational catalogs use six digits; graduate
#: disciplines and professional-degree categories use four (or six for second-level disciplines).
CODE_PATTERNS: Final[dict[str, re.Pattern[str]]] = {
    "secondary_vocational": re.compile(r"^\d{6}$"),
    "higher_vocational": re.compile(r"^\d{6}$"),
    "bachelor": re.compile(r"^\d{6}(T|K|TK)?$"),
    "master": re.compile(r"^\d{4}(\d{2})?$"),
    "doctor": re.compile(r"^\d{4}(\d{2})?$"),
}
_WEIGHT_TOLERANCE: Final = 1e-6
_FIELD_CODE: Final = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Catalog:
    """A consistent catalog version.

    ``programmes`` has one row per (programme_code, level); ``crosswalk`` one row per
    (programme_code, level, field_code) with weights summing to 1 per programme.
    """

    fields: pd.DataFrame
    programmes: pd.DataFrame
    crosswalk: pd.DataFrame
    _field_lookup: dict[str, str] = field(init=False, repr=False, compare=False)
    _programme_levels: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lookup: dict[str, str] = {}
        for row in self.fields.itertuples(index=False):
            for spelling in (row.field_code, row.name_zh, row.name_en):
                lookup[str(spelling).strip().lower()] = str(row.field_code)
        levels = self.programmes.groupby("programme_code")["level"].agg(tuple).to_dict()
        object.__setattr__(self, "_field_lookup", lookup)
        object.__setattr__(self, "_programme_levels", levels)

    @property
    def field_codes(self) -> tuple[str, ...]:
        return tuple(self.fields["field_code"])

    @property
    def priority_field_codes(self) -> tuple[str, ...]:
        return tuple(self.fields.loc[self.fields["field_code"] != OTHER, "field_code"])

    def costs(self) -> dict[str, tuple[float, float]]:
        """Shortage and surplus cost weight per field code."""
        return {
            str(row.field_code): (float(row.shortage_cost), float(row.surplus_cost))
            for row in self.fields.itertuples(index=False)
        }

    def resolve_field(self, text: str) -> str | None:
        """Field code for a code, a Chinese name or an English name, ignoring case."""
        return self._field_lookup.get(text.strip().lower())

    def suggest_fields(self, text: str, n: int = 3) -> list[str]:
        """The codes of the fields whose code or name is closest to ``text`` (best first), to
        turn a typo into a fix in an error message."""
        spellings = difflib.get_close_matches(
            text.strip().lower(), list(self._field_lookup), n=3 * n, cutoff=0.5
        )
        codes = dict.fromkeys(self._field_lookup[spelling] for spelling in spellings)
        return list(codes)[:n]

    def programme_levels(self, code: str) -> tuple[str, ...]:
        """Levels at which the catalog offers ``code`` (empty if the code is unknown)."""
        return self._programme_levels.get(code, ())

    def suggest_programme(self, code: str) -> str | None:
        """The closest known code, to turn a typo into a fix in an error message."""
        matches = difflib.get_close_matches(code, list(self._programme_levels), n=1, cutoff=0.8)
        return matches[0] if matches else None

    def to_long_programmes(self) -> pd.DataFrame:
        """The programmes in the long file layout (one row per programme and field)."""
        merged = self.crosswalk.merge(self.programmes, on=["programme_code", "level"])
        ordered = merged.sort_values(["programme_code", "level", "field_code"])
        return ordered.loc[:, list(PROGRAMME_COLUMNS)].reset_index(drop=True)


def build_catalog(
    fields_table: RawTable,
    programmes_table: RawTable,
    *,
    fields_name: str = "fields",
    programmes_name: str = "programmes",
) -> Catalog:
    """Validate raw catalog files and assemble a :class:`Catalog`, or reject with problems
    that name the file (``fields_name``, ``programmes_name``), row, column and reason."""
    field_problems: list[Problem] = []
    programme_problems: list[Problem] = []
    fields = _parse_fields(fields_table.frame, field_problems)
    long = _parse_programmes(programmes_table.frame, programme_problems)
    problems = [replace(p, file=fields_name) for p in field_problems]
    problems += [replace(p, file=programmes_name) for p in programme_problems]
    if problems:
        raise UploadRejected(problems)
    try:
        return catalog_from_frames(fields, long)
    except UploadRejected as rejected:  # consistency of the crosswalk: the programmes' rows
        named = [replace(p, file=programmes_name) for p in rejected.problems]
        raise UploadRejected(named, rejected.total) from None


def catalog_from_frames(fields: pd.DataFrame, long: pd.DataFrame) -> Catalog:
    """Check consistency of typed frames (as stored, or as parsed) and assemble the catalog."""
    problems: list[Problem] = []
    rows = long[ROW_COLUMN] if ROW_COLUMN in long else pd.Series(None, index=long.index)
    known_fields = set(fields["field_code"])
    for row, code in zip(rows, long["field_code"], strict=True):
        if code not in known_fields:
            problems.append(
                Problem.of(_row(row), "field_code", "catalog.field_unknown", value=code)
            )
    key = ["programme_code", "level"]
    duplicated = long.duplicated([*key, "field_code"], keep="first")
    for row, code, level, fcode in zip(
        rows[duplicated],
        long.loc[duplicated, "programme_code"],
        long.loc[duplicated, "level"],
        long.loc[duplicated, "field_code"],
        strict=True,
    ):
        problems.append(
            Problem.of(
                _row(row),
                "field_code",
                "catalog.field_twice",
                code=code,
                level=_level(level),
                field=fcode,
            )
        )
    for (code, level), group in long.groupby(key, sort=False):
        total = float(group["weight"].sum())
        if abs(total - 1.0) > _WEIGHT_TOLERANCE:
            problems.append(
                Problem.of(
                    _row(rows.loc[group.index[0]]),
                    "weight",
                    "catalog.weights_sum",
                    code=code,
                    level=_level(level),
                    total=total,
                )
            )
        for attribute in PROGRAMME_ATTRIBUTES:
            if group[attribute].nunique(dropna=False) > 1:
                problems.append(
                    Problem.of(
                        _row(rows.loc[group.index[0]]),
                        attribute,
                        "catalog.attribute_differs",
                        code=code,
                        level=_level(level),
                        attribute=attribute,
                    )
                )
    # The city's levels are those its programmes are offered at (a city without doctoral
    # programmes has no doctor level); each needs its 'other' line.
    offered = set(long.loc[long["programme_code"] != OTHER, "level"])
    for level in (level for level in LEVELS if level in offered):
        others = long[(long["programme_code"] == OTHER) & (long["level"] == level)]
        if others.empty:
            problems.append(
                Problem.of(
                    None, "programme_code", "catalog.other_line_missing", other=OTHER, level=level
                )
            )
    if problems:
        raise UploadRejected(problems)
    programmes = (
        long.drop_duplicates(key)
        .loc[:, [*key, *PROGRAMME_ATTRIBUTES]]
        .sort_values(key)
        .reset_index(drop=True)
    )
    crosswalk = (
        long.loc[:, [*key, "field_code", "weight"]]
        .sort_values([*key, "field_code"])
        .reset_index(drop=True)
    )
    fields = fields.loc[:, list(FIELD_COLUMNS)].sort_values("sort_order").reset_index(drop=True)
    return Catalog(fields=fields, programmes=programmes, crosswalk=crosswalk)


def load_default_catalog() -> Catalog:
    """Tianjin's catalog, shipped as the reference deployment's (26 priority fields, official
    codes): what the demo runs on, and what a store gets only when an admin asks for it."""
    package = resources.files("data.catalog")
    fields = read_table(package.joinpath("fields.csv").read_bytes(), "fields.csv")
    programmes = read_table(package.joinpath("programmes.csv").read_bytes(), "programmes.csv")
    return build_catalog(fields, programmes)


#: Catalogs shipped with the product, by the name ``talentcast catalog load --reference`` takes.
REFERENCE_CATALOGS: Final[dict[str, Callable[[], Catalog]]] = {"tianjin": load_default_catalog}


def load_reference_catalog(name: str) -> Catalog:
    """A shipped catalog by name; an unknown name is refused with the names there are."""
    try:
        return REFERENCE_CATALOGS[name]()
    except KeyError:
        known = ", ".join(REFERENCE_CATALOGS)
        raise ValueError(f"no reference catalog {name!r}; the shipped ones are: {known}") from None


def _row(value: object) -> int | None:
    return None if value is None or pd.isna(value) else int(value)  # type: ignore[call-overload]


def _level(level: str) -> Param:
    """A level as vocabulary (translated), or as written when it is none of the levels."""
    return Term(f"level.{level}") if level in LEVELS else level


def _require_columns(frame: pd.DataFrame, expected: tuple[str, ...], what: str) -> list[Problem]:
    present = [c for c in frame.columns if c != ROW_COLUMN]
    said: dict[str, Param] = {"what": Term(f"file.{what}"), "expected": ", ".join(expected)}
    problems = [
        Problem.of(1, name, "catalog.column_missing", **said)
        for name in expected
        if name not in present
    ]
    problems += [
        Problem.of(1, name, "catalog.column_unknown", **said)
        for name in present
        if name not in expected
    ]
    return problems


def _parse_fields(frame: pd.DataFrame, problems: list[Problem]) -> pd.DataFrame:
    header_problems = _require_columns(frame, FIELD_COLUMNS, "fields")
    if header_problems:
        problems.extend(header_problems)
        return pd.DataFrame(columns=list(FIELD_COLUMNS))
    out = frame.copy()
    for column in ("field_code", "name_zh", "name_en", "tier"):
        out[column] = out[column].str.strip()
    for row, code, tier, order in zip(
        out[ROW_COLUMN], out["field_code"], out["tier"], out["sort_order"], strict=True
    ):
        if not _FIELD_CODE.match(code):
            problems.append(Problem.of(row, "field_code", "catalog.code_shape", value=code))
        if not tier or len(tier) > MAX_TIER_CHARS:
            problems.append(
                Problem.of(row, "tier", "catalog.tier", value=tier, limit=MAX_TIER_CHARS)
            )
        if not str(order).strip().isdigit():
            problems.append(Problem.of(row, "sort_order", "catalog.sort_order", value=order))
    for row, code in zip(out[ROW_COLUMN], out["field_code"], strict=True):
        if (out["field_code"] == code).sum() > 1:
            problems.append(Problem.of(row, "field_code", "catalog.field_repeated", value=code))
    costs = {column: pd.to_numeric(out[column], errors="coerce") for column in COST_COLUMNS}
    for column, values in costs.items():
        for row, text, value in zip(out[ROW_COLUMN], out[column], values, strict=True):
            if pd.isna(value) or not 0 <= value <= MAX_COST:
                problems.append(Problem.of(row, column, "catalog.cost", value=text, limit=MAX_COST))
    if OTHER not in set(out["field_code"]):
        problems.append(Problem.of(None, "field_code", "catalog.other_field_missing", other=OTHER))
    if problems:
        return out
    out["sort_order"] = out["sort_order"].astype(int)
    for column, values in costs.items():
        out[column] = values.astype(float)
    return out


def _parse_programmes(frame: pd.DataFrame, problems: list[Problem]) -> pd.DataFrame:
    header_problems = _require_columns(frame, PROGRAMME_COLUMNS, "programmes")
    if header_problems:
        problems.extend(header_problems)
        return pd.DataFrame(columns=[*PROGRAMME_COLUMNS, ROW_COLUMN])
    out = frame.copy()
    for column in PROGRAMME_COLUMNS:
        out[column] = out[column].str.strip()
    durations = pd.to_numeric(out["duration_years"], errors="coerce")
    weights = pd.to_numeric(out["weight"], errors="coerce")
    for position, row in enumerate(out[ROW_COLUMN]):
        code = out["programme_code"].iat[position]
        level = out["level"].iat[position]
        if level not in LEVELS:
            problems.append(
                Problem.of(
                    row, "level", "catalog.level_unknown", value=level, choices=", ".join(LEVELS)
                )
            )
        elif code != OTHER and not CODE_PATTERNS[level].match(code):
            problems.append(
                Problem.of(
                    row,
                    "programme_code",
                    "catalog.code_not_level",
                    value=code,
                    level=_level(level),
                )
            )
        duration = durations.iat[position]
        if pd.isna(duration) or duration != int(duration) or not 1 <= duration <= 8:
            problems.append(
                Problem.of(
                    row,
                    "duration_years",
                    "catalog.duration",
                    value=out["duration_years"].iat[position],
                )
            )
        weight = weights.iat[position]
        if pd.isna(weight) or not 0 < weight <= 1:
            problems.append(
                Problem.of(row, "weight", "catalog.weight", value=out["weight"].iat[position])
            )
        verified = out["verified"].iat[position]
        if verified not in VERIFIED_VALUES:
            problems.append(
                Problem.of(
                    row,
                    "verified",
                    "catalog.verified",
                    value=verified,
                    choices=", ".join(VERIFIED_VALUES),
                )
            )
        elif (verified == "n/a") != (code == OTHER):
            problems.append(Problem.of(row, "verified", "catalog.verified_other", other=OTHER))
        if not out["name_zh"].iat[position]:
            problems.append(Problem.of(row, "name_zh", "catalog.no_name_zh"))
    if problems:
        return out
    out["duration_years"] = durations.astype(int)
    out["weight"] = weights.astype(float)
    return out
