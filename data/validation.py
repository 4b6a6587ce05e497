"""Validate a raw upload against its kind's contract and the catalog.

This is the one boundary where uploaded data is checked: everything after it (the store, the
features, the models) may assume typed, complete, catalog-consistent rows. Validation is
vectorised over columns so a million-row file is checked in seconds, and it reports every problem
it finds (up to :data:`~data.problems.MAX_REPORTED_PROBLEMS`) rather than stopping at the first,
because a person fixing a file wants the whole list.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

import numpy as np
import pandas as pd

from data.catalog import Catalog
from data.messages import Param, Term
from data.problems import MAX_REPORTED_PROBLEMS, Problem, UploadRejected
from data.readers import ROW_COLUMN, RawTable
from data.schemas import (
    MAX_SURVEY_HORIZON,
    SCHEMAS,
    Column,
    ColumnType,
    KindSchema,
    header_map,
    normalise_header,
)
from data.vocabulary import (
    ALL_LEVELS,
    DEFAULT_CITY_REGION,
    LEVEL_ALIASES,
    LEVELS,
    MIN_OBSERVATION_YEAR,
    Kind,
    level_spelling,
)

_NON_FINITE: Final = frozenset(
    {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}
)
_MAX_TEXT: Final = 200
_PERIOD_PATTERNS: Final = (
    (re.compile(r"^(\d{4})$"), "Y"),
    (re.compile(r"^(\d{4})\s*[-/]?\s*[Qq]([1-4])$"), "Q"),
    (re.compile(r"^(\d{4})年?\s*第?([1-4一二三四])季度$"), "Q"),
    (re.compile(r"^(\d{4})\s*[-/.]\s*(\d{1,2})$"), "M"),
    (re.compile(r"^(\d{4})年(\d{1,2})月$"), "M"),
    (re.compile(r"^(\d{4})[-/](\d{1,2})[-/]0?1$"), "M"),  # an Excel date cell for a month
    (re.compile(r"^(\d{4})年$"), "Y"),
)
_CHINESE_QUARTERS: Final = {"一": "1", "二": "2", "三": "3", "四": "4"}
_THOUSANDS: Final = re.compile(r"[,，\s]")
_BLANKS: Final = re.compile(r"\s")
_REGION: Final = re.compile(r"\d{6}")
#: Control characters (C0, DEL, C1). A name never holds one: it is a broken or binary file,
#: and PostgreSQL cannot store NUL at all, so such a cell is refused on every backend alike.
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def per_unique(series: pd.Series, function: Callable[[str], Any]) -> pd.Series:
    """Apply ``function`` once per distinct value and spread the results over the rows.

    Upload columns repeat a few values many times (levels, codes, periods), so this turns a
    million Python calls into a few hundred: the difference between seconds and a minute.
    """
    codes, uniques = pd.factorize(series, use_na_sentinel=False)
    results = np.empty(len(uniques), dtype=object)
    results[:] = [function(value) for value in uniques]
    return pd.Series(results[codes], index=series.index, dtype=object)


def _canonical_level(text: str) -> str:
    lowered = text.strip().lower()
    return LEVEL_ALIASES.get(level_spelling(lowered), lowered)


#: The code of a row of a field the uploader may not send (the API answers 403 when an upload
#: is refused for it, rather than 422).
FOREIGN_FIELD: Final = "field.not_yours"


@dataclass(frozen=True)
class ValidationContext:
    """What validation checks against besides the file itself.

    ``max_year`` bounds observed years (defaults to next year: an intake plan can be filed in
    the autumn before); ``city_region`` is the deployment's GB/T 2260 code and ``regions`` the
    regions it forecasts (none: just ``city_region``): every row's region must be one of them,
    and a blank region is the single region's (with several, a row must say which).
    ``allowed_fields``, when set, are the only field codes the
    uploader may send (an industry association reports for its own fields); a row of another
    field is a problem of that row.
    """

    catalog: Catalog
    city_region: str = DEFAULT_CITY_REGION
    regions: tuple[str, ...] = ()
    max_year: int | None = None
    allowed_fields: frozenset[str] | None = None

    @property
    def allowed_regions(self) -> tuple[str, ...]:
        return self.regions or (self.city_region,)

    @property
    def year_ceiling(self) -> int:
        return self.max_year if self.max_year is not None else date.today().year + 1


@dataclass(frozen=True)
class _Cells:
    """One column of the file being parsed, with the whole file for row numbers and messages."""

    frame: pd.DataFrame
    raw: pd.Series
    blank: pd.Series
    column: Column


class _Problems:
    """Collects problems per check, keeping the first few of each and an exact total."""

    def __init__(self) -> None:
        self.items: list[Problem] = []
        self.total = 0

    def add(self, problem: Problem) -> None:
        self.total += 1
        if len(self.items) < 4 * MAX_REPORTED_PROBLEMS:
            self.items.append(problem)

    def add_rows(
        self,
        frame: pd.DataFrame,
        mask: pd.Series,
        column: str | None,
        code: str,
        params: Callable[[pd.Series], dict[str, Param]] = lambda _: {},
    ) -> None:
        """One problem ``code`` per row where ``mask`` holds; ``params`` says what the message
        tells about the row."""
        bad = frame.loc[mask.to_numpy()]
        self.total += len(bad)
        for _, row in bad.head(MAX_REPORTED_PROBLEMS).iterrows():
            if len(self.items) < 4 * MAX_REPORTED_PROBLEMS:
                self.items.append(Problem.of(int(row[ROW_COLUMN]), column, code, **params(row)))

    def raise_if_any(self) -> None:
        if self.total:
            raise UploadRejected(self.items, total=self.total)


def validate(table: RawTable, kind: Kind | str, context: ValidationContext) -> pd.DataFrame:
    """Typed, checked rows of one upload, or :class:`UploadRejected` listing every problem.

    The result has the kind's canonical columns (defaults filled in for optional columns the
    file left out) plus :data:`~data.readers.ROW_COLUMN`, and never shares data with ``table``.
    """
    schema = SCHEMAS[Kind(kind)]
    problems = _Problems()
    frame = _canonical_columns(table, schema, problems)
    problems.raise_if_any()
    frame = frame.apply(lambda col: per_unique(col, str.strip) if col.name != ROW_COLUMN else col)
    typed = pd.DataFrame({ROW_COLUMN: frame[ROW_COLUMN].to_numpy()}, index=frame.index)
    for column in schema.columns:
        typed[column.name] = _parse_column(frame, column, context, problems)
    # Cross-column rules run on whatever parsed, so one pass reports as much as possible.
    _check_rows(typed, schema, context, problems)
    _check_duplicate_keys(typed, schema, problems)
    problems.raise_if_any()
    return typed.reset_index(drop=True)


def _canonical_columns(table: RawTable, schema: KindSchema, problems: _Problems) -> pd.DataFrame:
    mapping = header_map(schema)
    renamed: dict[str, str] = {}
    taken: dict[str, str] = {}
    for header in table.headers:
        canonical = mapping.get(normalise_header(header))
        if canonical is None:
            problems.add(
                Problem.of(
                    1,
                    header,
                    "column.unknown",
                    kind=schema.kind.value,
                    accepted=", ".join(schema.names),
                )
            )
        elif canonical in taken:
            problems.add(
                Problem.of(
                    1, header, "column.repeated", other=taken[canonical], canonical=canonical
                )
            )
        else:
            renamed[header] = canonical
            taken[canonical] = header
    for name in schema.required:
        if name not in taken:
            aliases = ", ".join(schema.column(name).aliases[:2])
            problems.add(
                Problem.of(
                    1,
                    name,
                    "column.missing",
                    kind=schema.kind.value,
                    required=", ".join(schema.required),
                    aliases=aliases,
                )
            )
    frame = table.frame.loc[:, [*renamed, ROW_COLUMN]].rename(columns=renamed)
    for column in schema.columns:
        if column.name not in frame:
            frame[column.name] = ""
    return frame.astype({c.name: object for c in schema.columns})


def _parse_column(
    frame: pd.DataFrame,
    column: Column,
    context: ValidationContext,
    problems: _Problems,
) -> pd.Series:
    raw: pd.Series = frame[column.name]  # readers give text cells, never NaN
    blank = raw == ""
    if column.required:
        problems.add_rows(frame, blank, column.name, "value.missing")
    elif column.type is ColumnType.REGION:
        # A row without a region is of the deployment's city, whichever city that is; with
        # several regions nobody can tell which one it is.
        allowed = context.allowed_regions
        if len(allowed) == 1:
            raw = raw.mask(blank, allowed[0])
            blank = pd.Series(False, index=raw.index)
        else:
            problems.add_rows(
                frame,
                blank,
                column.name,
                "region.missing",
                lambda _: {"allowed": ", ".join(allowed)},
            )
    elif column.default is not None:
        raw = raw.mask(blank, column.default)
        blank = pd.Series(False, index=raw.index)
    parser = _PARSERS[column.type]
    return parser(_Cells(frame, raw, blank, column), context, problems)


def _parse_number(
    frame: pd.DataFrame,
    raw: pd.Series,
    blank: pd.Series,
    column: Column,
    problems: _Problems,
    *,
    what: Term,
) -> pd.Series:
    suffix = "年" if column.type is ColumnType.YEAR else ""
    text = per_unique(raw, lambda v: _THOUSANDS.sub("", v).removesuffix(suffix))
    non_finite = per_unique(text, lambda v: v.lower() in _NON_FINITE).astype(bool) & ~blank
    problems.add_rows(frame, non_finite, column.name, "number.not_finite", _value(column, what))
    codes, uniques = pd.factorize(text, use_na_sentinel=False)
    parsed = pd.to_numeric(pd.Series(uniques, dtype=object), errors="coerce").to_numpy(float)
    numbers = pd.Series(parsed[codes], index=text.index).mask(non_finite | blank)
    not_numeric = numbers.isna() & ~blank & ~non_finite
    problems.add_rows(frame, not_numeric, column.name, "number.not_numeric", _value(column))
    ok = numbers.notna()
    fractional = ok & (numbers != np.floor(numbers.where(ok, 0)))
    problems.add_rows(frame, fractional, column.name, "number.not_whole", _value(column, what))
    return numbers.where(~fractional)


def _parse_count(cells: _Cells, context: ValidationContext, problems: _Problems) -> pd.Series:
    frame, raw, blank, column = cells.frame, cells.raw, cells.blank, cells.column
    numbers = _parse_number(frame, raw, blank, column, problems, what=Term("count_of_persons"))
    negative = numbers < 0
    problems.add_rows(frame, negative, column.name, "count.negative", _value(column))
    too_big = numbers > 1e9
    problems.add_rows(frame, too_big, column.name, "count.too_large", _value(column))
    return numbers.where(~too_big).round().astype("Int64")


def _parse_year(cells: _Cells, context: ValidationContext, problems: _Problems) -> pd.Series:
    frame, raw, blank, column = cells.frame, cells.raw, cells.blank, cells.column
    numbers = _parse_number(frame, raw, blank, column, problems, what=Term("year"))
    low, high = MIN_OBSERVATION_YEAR, context.year_ceiling
    if column.name == "target_year":
        high = context.year_ceiling + MAX_SURVEY_HORIZON
    out_of_range = (numbers < low) | (numbers > high)
    problems.add_rows(
        frame,
        out_of_range,
        column.name,
        "year.out_of_range",
        lambda r: {"value": r[column.name], "low": low, "high": high},
    )
    return numbers.where(~out_of_range).round().astype("Int64")


def _parse_level(cells: _Cells, context: ValidationContext, problems: _Problems) -> pd.Series:
    frame, raw, blank, column = cells.frame, cells.raw, cells.blank, cells.column
    levels = per_unique(raw, _canonical_level)
    allowed = set(LEVELS) | ({ALL_LEVELS} if not column.required else set())
    unknown = ~levels.isin(allowed) & ~blank
    choices = ", ".join(sorted(allowed))
    problems.add_rows(
        frame,
        unknown,
        column.name,
        "level.unknown",
        lambda r: {"value": r[column.name], "choices": choices},
    )
    return levels.astype(object)


def _parse_programme(cells: _Cells, context: ValidationContext, problems: _Problems) -> pd.Series:
    frame, raw, blank, column = cells.frame, cells.raw, cells.blank, cells.column
    catalog = context.catalog
    levels = per_unique(frame["level"], _canonical_level)

    def repair(pair: str) -> str:
        code, level = pair.split("\x1f")
        code = _BLANKS.sub("", code).upper()
        if code == "OTHER":
            return "other"
        # Excel turns 080901 into 80901; put the zero back when that gives a catalog code.
        if code.isdigit() and not catalog.programme_levels(code):
            padded = code.zfill(6 if len(code) > 4 else 4)
            if level in catalog.programme_levels(padded):
                return padded
        return code

    repaired = per_unique(raw + "\x1f" + levels, repair)
    known = per_unique(repaired, lambda c: bool(catalog.programme_levels(c))).astype(bool)
    unknown = ~known & ~blank
    unknown_codes = sorted(set(repaired[unknown]))
    listed = ", ".join(unknown_codes[:20]) + (" ..." if len(unknown_codes) > 20 else "")

    hints = {code: catalog.suggest_programme(code) for code in unknown_codes}
    near = unknown & per_unique(repaired, lambda code: bool(hints.get(code))).astype(bool)

    def unknown_params(row: pd.Series) -> dict[str, Param]:
        code = repaired.loc[row.name]
        hint = hints[code]
        return {"code": code, "listed": listed} | ({"hint": hint} if hint else {})

    problems.add_rows(frame, unknown & ~near, column.name, "programme.unknown", unknown_params)
    problems.add_rows(frame, near, column.name, "programme.unknown_near", unknown_params)
    offered = per_unique(
        repaired + "\x1f" + levels,
        lambda pair: pair.split("\x1f")[1] in catalog.programme_levels(pair.split("\x1f")[0]),
    ).astype(bool)
    wrong_level = known & levels.isin(LEVELS) & ~offered
    problems.add_rows(
        frame,
        wrong_level,
        column.name,
        "programme.wrong_level",
        lambda r: {
            "code": repaired.loc[r.name],
            "level": Term(f"level.{levels.loc[r.name]}"),
            "levels": tuple(
                Term(f"level.{level}") for level in catalog.programme_levels(repaired.loc[r.name])
            ),
        },
    )
    return repaired


def _parse_field(cells: _Cells, context: ValidationContext, problems: _Problems) -> pd.Series:
    frame, raw, blank, column = cells.frame, cells.raw, cells.blank, cells.column
    catalog = context.catalog
    codes = per_unique(raw, catalog.resolve_field)
    unknown = codes.isna() & ~blank
    unknown_values = sorted(set(raw[unknown]))
    listed = ", ".join(unknown_values[:20])
    problems.add_rows(
        frame,
        unknown,
        column.name,
        "field.unknown",
        lambda r: {
            "value": r[column.name],
            "listed": listed,
            "known": ", ".join(catalog.field_codes),
        },
    )
    return codes.astype(object)


def parse_period(text: str) -> tuple[str, str] | None:
    """Canonical period text and its frequency (Y, Q or M), or ``None`` if malformed.

    Canonical forms are ``YYYY``, ``YYYY-Qn`` and ``YYYY-MM`` (see the README); common spellings
    such as ``2023Q2``, ``2023/05``, ``2023年5月`` and Excel month dates are accepted.
    """
    for pattern, freq in _PERIOD_PATTERNS:
        match = pattern.match(text)
        if not match:
            continue
        year = match.group(1)
        if freq == "Y":
            return year, freq
        part = _CHINESE_QUARTERS.get(match.group(2), match.group(2))
        if freq == "Q":
            return f"{year}-Q{part}", freq
        month = int(part)
        if 1 <= month <= 12:
            return f"{year}-{month:02d}", freq
        return None
    return None


def _parse_period(cells: _Cells, context: ValidationContext, problems: _Problems) -> pd.Series:
    frame, raw, blank, column = cells.frame, cells.raw, cells.blank, cells.column
    parsed = per_unique(raw, lambda v: parse_period(v) if v else None)
    malformed = parsed.isna() & ~blank
    problems.add_rows(
        frame,
        malformed,
        column.name,
        "period.malformed",
        _value(column),
    )
    periods = per_unique(raw, lambda v: (parse_period(v) or (None, None))[0])
    freqs = per_unique(raw, lambda v: (parse_period(v) or (None, None))[1])
    years = pd.to_numeric(periods.str[:4], errors="coerce")
    low, high = MIN_OBSERVATION_YEAR, context.year_ceiling
    out_of_range = (years < low) | (years > high)
    problems.add_rows(
        frame,
        out_of_range,
        column.name,
        "period.out_of_range",
        lambda r: {"value": r[column.name], "low": low, "high": high},
    )
    present = freqs.dropna()
    if not present.empty:
        first = present.iloc[0]
        mixed = freqs.notna() & (freqs != first)
        problems.add_rows(
            frame,
            mixed,
            column.name,
            "period.mixed_frequency",
            lambda r: {
                "value": r[column.name],
                "frequency": Term(f"frequency.{freqs.loc[r.name]}"),
                "first": Term(f"frequency.{first}"),
            },
        )
    return periods.astype(object)


def _parse_region(cells: _Cells, context: ValidationContext, problems: _Problems) -> pd.Series:
    frame, raw, blank, column = cells.frame, cells.raw, cells.blank, cells.column
    allowed = context.allowed_regions
    six_digits = per_unique(raw, lambda v: bool(_REGION.fullmatch(v))).astype(bool)
    bad = ~six_digits & ~blank
    problems.add_rows(frame, bad, column.name, "region.malformed", _value(column))
    unknown = six_digits & ~raw.isin(allowed)
    problems.add_rows(
        frame,
        unknown,
        column.name,
        "region.unknown",
        lambda r: {"value": r[column.name], "allowed": ", ".join(allowed)},
    )
    return raw.astype(object)


def _parse_text(cells: _Cells, context: ValidationContext, problems: _Problems) -> pd.Series:
    frame, raw, column = cells.frame, cells.raw, cells.column
    long = per_unique(raw, lambda v: len(v) > _MAX_TEXT).astype(bool)
    problems.add_rows(frame, long, column.name, "text.too_long", lambda _: {"limit": _MAX_TEXT})
    control = per_unique(raw, lambda v: _CONTROL.search(v) is not None).astype(bool)
    problems.add_rows(
        frame,
        control & ~long,
        column.name,
        "text.control",
        lambda r: {"codepoint": _control_codepoint(r[column.name])},
    )
    return raw.astype(object)


def _control_codepoint(text: str) -> int:
    found = _CONTROL.search(text)
    return ord(found.group()) if found else 0


def _value(column: Column, what: Term | None = None) -> Callable[[pd.Series], dict[str, Param]]:
    """The parameters of a message about one cell: the cell as written (and what it counts)."""
    if what is None:
        return lambda row: {"value": row[column.name]}
    return lambda row: {"value": row[column.name], "what": what}


def _plain(value: Any) -> Param:
    """A cell of a typed frame as a plain Python value (problems cross process boundaries)."""
    return value.item() if isinstance(value, np.generic) else value


_Parser = Callable[[_Cells, ValidationContext, _Problems], pd.Series]
_PARSERS: Final[dict[ColumnType, _Parser]] = {
    ColumnType.COUNT: _parse_count,
    ColumnType.YEAR: _parse_year,
    ColumnType.LEVEL: _parse_level,
    ColumnType.PROGRAMME: _parse_programme,
    ColumnType.FIELD: _parse_field,
    ColumnType.PERIOD: _parse_period,
    ColumnType.REGION: _parse_region,
    ColumnType.TEXT: _parse_text,
}


def _check_rows(
    typed: pd.DataFrame, schema: KindSchema, context: ValidationContext, problems: _Problems
) -> None:
    """Rules across columns of one row."""
    if context.allowed_fields is not None and "field_code" in typed.columns:
        allowed = context.allowed_fields
        foreign = typed["field_code"].notna() & ~typed["field_code"].isin(allowed)
        mine: Param = ", ".join(sorted(allowed)) or Term("none")
        problems.add_rows(
            typed,
            foreign,
            "field_code",
            FOREIGN_FIELD,
            lambda r: {"value": r["field_code"], "mine": mine},
        )
    if schema.kind is Kind.OUTCOMES:
        for column, limit in (
            ("placed", "graduates"),
            ("employed_in_field", "placed"),
            ("employed_locally", "placed"),
        ):
            over = (typed[column] > typed[limit]).fillna(False)
            problems.add_rows(typed, over, column, "value.exceeds", _exceeds(column, limit))
    if schema.kind is Kind.DEMAND_SURVEY:
        before = (typed["target_year"] < typed["survey_year"]).fillna(False)
        problems.add_rows(
            typed,
            before,
            "target_year",
            "survey.target_before",
            _survey_years,
        )
        far = (typed["target_year"] > typed["survey_year"] + MAX_SURVEY_HORIZON).fillna(False)
        problems.add_rows(
            typed,
            far,
            "target_year",
            "survey.target_too_far",
            lambda r: {**_survey_years(r), "horizon": MAX_SURVEY_HORIZON},
        )
        late = (typed["survey_year"] > context.year_ceiling).fillna(False)
        problems.add_rows(
            typed,
            late,
            "survey_year",
            "survey.in_future",
            lambda r: {"survey": _plain(r["survey_year"])},
        )


def _survey_years(row: pd.Series) -> dict[str, Param]:
    return {"target": _plain(row["target_year"]), "survey": _plain(row["survey_year"])}


def _exceeds(column: str, limit: str) -> Callable[[pd.Series], dict[str, Param]]:
    return lambda row: {
        "column": column,
        "value": _plain(row[column]),
        "limit": limit,
        "limit_value": _plain(row[limit]),
    }


def _check_duplicate_keys(typed: pd.DataFrame, schema: KindSchema, problems: _Problems) -> None:
    key = list(schema.key)
    duplicated = typed.duplicated(key, keep=False) & typed[key].notna().all(axis=1)
    if not duplicated.any():
        return
    dup = typed.loc[duplicated, [*key, ROW_COLUMN]]
    first_rows = dup.groupby(key, dropna=False)[ROW_COLUMN].transform("min")
    repeats = dup[dup[ROW_COLUMN] != first_rows]
    for (_, row), first in zip(repeats.iterrows(), first_rows[repeats.index], strict=True):
        described = ", ".join(f"{k}={row[k]}" for k in key)
        problems.add(
            Problem.of(
                int(row[ROW_COLUMN]), None, "key.duplicate", described=described, first=int(first)
            )
        )
