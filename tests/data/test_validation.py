"""Validation of every upload kind: what is accepted, and what is rejected with which message."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from data.catalog import Catalog
from data.problems import MAX_REASON_CHARS, MAX_REPORTED_PROBLEMS, Problem, UploadRejected
from data.readers import ROW_COLUMN, read_table
from data.schemas import SCHEMAS
from data.validation import ValidationContext, parse_period, validate
from data.vocabulary import Kind


@pytest.fixture
def context(default_catalog: Catalog) -> ValidationContext:
    return ValidationContext(catalog=default_catalog, max_year=2026)


def check(text: str, kind: str, context: ValidationContext) -> pd.DataFrame:
    return validate(read_table(text.encode(), "upload.csv"), kind, context)


def problems(text: str, kind: str, context: ValidationContext) -> list[Problem]:
    with pytest.raises(UploadRejected) as rejected:
        check(text, kind, context)
    assert "nothing was stored" in str(rejected.value)
    return rejected.value.problems


def where(found: list[Problem]) -> set[tuple[int | None, str | None]]:
    return {(p.row, p.column) for p in found}


# -- accepted files --------------------------------------------------------------------------


def test_enrollment_with_chinese_headers_units_and_level_names(context: ValidationContext) -> None:
    text = (
        "年份,专业代码,层次,招生数（人）,院校\n"
        '2019,080717t,本科,"1,200",天津大学\n'
        "2020,080901,本科,95,\n"
    )
    rows = check(text, "enrollment", context)
    assert rows.loc[:, ["year", "programme_code", "level", "enrolled", "institution"]].to_dict(
        "records"
    ) == [
        {
            "year": 2019,
            "programme_code": "080717T",
            "level": "bachelor",
            "enrolled": 1200,
            "institution": "天津大学",
        },
        {
            "year": 2020,
            "programme_code": "080901",
            "level": "bachelor",
            "enrolled": 95,
            "institution": "",
        },
    ]
    assert rows["region"].tolist() == ["120000", "120000"]
    assert rows[ROW_COLUMN].tolist() == [2, 3]
    assert str(rows["enrolled"].dtype) == "Int64"


def test_leading_zero_lost_by_excel_is_restored_when_unambiguous(
    context: ValidationContext,
) -> None:
    rows = check(
        "year,programme_code,level,enrolled\n2019,80901,bachelor,10\n", "enrollment", context
    )
    assert rows["programme_code"].tolist() == ["080901"]


def test_outcomes_optional_counts_stay_unknown_not_zero(context: ValidationContext) -> None:
    text = (
        "year,programme_code,level,graduates,placed,employed_locally\n"
        "2019,080901,bachelor,100,90,\n"
    )
    rows = check(text, "outcomes", context)
    assert rows["employed_in_field"].isna().all()
    assert rows["employed_locally"].isna().all()
    assert rows["placed"].tolist() == [90]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023", ("2023", "Y")),
        ("2023年", ("2023", "Y")),
        ("2023-Q2", ("2023-Q2", "Q")),
        ("2023q4", ("2023-Q4", "Q")),
        ("2023年第三季度", ("2023-Q3", "Q")),
        ("2023-05", ("2023-05", "M")),
        ("2023/5", ("2023-05", "M")),
        ("2023年5月", ("2023-05", "M")),
        ("2023-05-01", ("2023-05", "M")),
        ("2023-13", None),
        ("2023-Q5", None),
        ("May 2023", None),
        ("2023-05-17", None),
    ],
)
def test_period_spellings(text: str, expected: tuple[str, str] | None) -> None:
    assert parse_period(text) == expected


def test_hiring_defaults_level_to_all_and_accepts_field_names(context: ValidationContext) -> None:
    text = "期间,产业领域,岗位数,求职人数\n2024-01,集成电路,300,120\n2024-02,ai,280,\n"
    rows = check(text, "hiring", context)
    assert rows["field_code"].tolist() == ["ic", "ai"]
    assert rows["level"].tolist() == ["all", "all"]
    assert rows["job_seekers"].tolist()[0] == 120
    assert pd.isna(rows["job_seekers"].tolist()[1])


def test_demand_survey_accepted(context: ValidationContext) -> None:
    text = "survey_year,target_year,field_code,headcount,level\n2024,2026,ic,500,硕士\n"
    rows = check(text, "demand_survey", context)
    assert rows.loc[0, "level"] == "master"


def test_validation_does_not_modify_the_raw_table(context: ValidationContext) -> None:
    table = read_table(b"year,programme_code,level,enrolled\n 2019 ,080901,bachelor,10\n", "x.csv")
    before = table.frame.copy()
    validate(table, "enrollment", context)
    pd.testing.assert_frame_equal(table.frame, before)


# -- rejected files: each error names row, column and reason ---------------------------------


def test_missing_and_unknown_columns(context: ValidationContext) -> None:
    found = problems(
        "year,programme_code,enrolled,colour\n2019,080901,3,red\n", "enrollment", context
    )
    assert where(found) == {(1, "level"), (1, "colour")}
    reasons = " ".join(p.reason for p in found)
    assert "required column is missing" in reasons
    assert "unknown column for kind enrollment" in reasons


def test_two_headers_meaning_the_same_column(context: ValidationContext) -> None:
    found = problems(
        "year,年份,programme_code,level,enrolled\n2019,2019,080901,本科,3\n", "enrollment", context
    )
    assert where(found) == {(1, "年份")}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("abc", "'abc' is not a number"),
        ("-3", "'-3' is negative"),
        ("2.5", "'2.5' is not a whole count of persons"),
        ("nan", "(NaN/Inf)"),
        ("Infinity", "(NaN/Inf)"),
        ("-inf", "(NaN/Inf)"),
        ("", "value is missing"),
        ("1e12", "implausibly large"),
    ],
)
def test_bad_counts(value: str, reason: str, context: ValidationContext) -> None:
    text = (
        "year,programme_code,level,enrolled\n"
        f"2019,080901,bachelor,10\n2020,080901,bachelor,{value}\n"
    )
    (problem,) = problems(text, "enrollment", context)
    assert (problem.row, problem.column) == (3, "enrolled")
    assert reason in problem.reason


def test_whole_numbers_written_with_decimals_are_accepted(context: ValidationContext) -> None:
    rows = check(
        "year,programme_code,level,enrolled\n2019.0,080901,bachelor,10.0\n", "enrollment", context
    )
    assert rows.loc[0, "enrolled"] == 10


@pytest.mark.parametrize("year", ["1900", "2031", "19x9", "2019.5"])
def test_bad_years(year: str, context: ValidationContext) -> None:
    (problem,) = problems(
        f"year,programme_code,level,enrolled\n{year},080901,bachelor,1\n", "enrollment", context
    )
    assert (problem.row, problem.column) == (2, "year")


def test_unknown_programme_codes_are_listed_with_a_suggestion(context: ValidationContext) -> None:
    text = (
        "year,programme_code,level,enrolled\n"
        "2019,080799,bachelor,1\n2019,080717X,bachelor,1\n2020,080799,bachelor,1\n"
    )
    found = problems(text, "enrollment", context)
    assert where(found) == {(2, "programme_code"), (3, "programme_code"), (4, "programme_code")}
    assert all("unknown codes in this file: 080717X, 080799" in p.reason for p in found)
    assert "did you mean 080717T?" in found[1].reason


def test_programme_at_a_level_the_catalog_does_not_offer(context: ValidationContext) -> None:
    (problem,) = problems(
        "year,programme_code,level,enrolled\n2019,080717T,doctor,1\n", "enrollment", context
    )
    assert problem.column == "programme_code"
    assert "not offered at level doctor" in problem.reason
    assert "catalog levels: bachelor" in problem.reason


def test_unknown_level(context: ValidationContext) -> None:
    (problem,) = problems(
        "year,programme_code,level,enrolled\n2019,080901,undergrad,1\n", "enrollment", context
    )
    assert (problem.row, problem.column) == (2, "level")
    assert "unknown level 'undergrad'" in problem.reason


def test_all_levels_is_not_a_programme_level(context: ValidationContext) -> None:
    found = problems(
        "year,programme_code,level,enrolled\n2019,080901,all,1\n", "enrollment", context
    )
    assert (2, "level") in where(found)


def test_unknown_field_codes_are_listed(context: ValidationContext) -> None:
    text = "period,field_code,postings\n2024-01,quantum,1\n2024-02,crypto,2\n"
    found = problems(text, "hiring", context)
    assert where(found) == {(2, "field_code"), (3, "field_code")}
    assert "unknown fields in this file: crypto, quantum" in found[0].reason


def test_placed_and_employed_cannot_exceed_their_base(context: ValidationContext) -> None:
    text = (
        "year,programme_code,level,graduates,placed,employed_in_field,employed_locally\n"
        "2019,080901,bachelor,100,101,10,10\n"
        "2020,080901,bachelor,100,90,91,95\n"
    )
    found = problems(text, "outcomes", context)
    assert where(found) == {(2, "placed"), (3, "employed_in_field"), (3, "employed_locally")}
    assert "placed (101) is greater than graduates (100)" in found[0].reason


def test_duplicate_keys_in_one_file_name_both_rows(context: ValidationContext) -> None:
    text = (
        "year,programme_code,level,enrolled\n"
        "2019,080901,bachelor,1\n2020,080901,bachelor,2\n2019,080901,本科,3\n"
    )
    (problem,) = problems(text, "enrollment", context)
    assert problem.row == 4
    assert "duplicate key (year=2019, programme_code=080901, level=bachelor" in problem.reason
    assert "already on row 2" in problem.reason


def test_same_programme_in_two_institutions_is_not_a_duplicate(context: ValidationContext) -> None:
    text = (
        "year,programme_code,level,enrolled,institution\n"
        "2019,080901,bachelor,1,A\n2019,080901,bachelor,2,B\n"
    )
    assert len(check(text, "enrollment", context)) == 2


@pytest.mark.parametrize(("cell", "code"), [("Uni\x00versity", "U+0000"), ("A\x07B", "U+0007")])
def test_text_with_a_control_character_is_refused(
    cell: str, code: str, context: ValidationContext
) -> None:
    # PostgreSQL cannot store NUL at all; no backend should hold what the other refuses.
    text = f"year,programme_code,level,enrolled,institution\n2019,080901,bachelor,1,{cell}\n"
    (problem,) = problems(text, "enrollment", context)
    assert (problem.row, problem.column) == (2, "institution")
    assert problem.reason == f"text contains a control character ({code})"


@pytest.mark.parametrize("period", ["2024-13", "24-01", "2024/Q1/2", "Jan 2024", "1950-01"])
def test_malformed_or_out_of_range_periods(period: str, context: ValidationContext) -> None:
    (problem,) = problems(f"period,field_code,postings\n{period},ai,1\n", "hiring", context)
    assert (problem.row, problem.column) == (2, "period")


def test_one_frequency_per_file(context: ValidationContext) -> None:
    text = "period,field_code,postings\n2024-01,ai,1\n2024-02,ai,1\n2024,ic,1\n"
    (problem,) = problems(text, "hiring", context)
    assert problem.row == 4
    assert "is yearly but the file's first period is monthly" in problem.reason


def test_region_codes_must_be_the_configured_region(context: ValidationContext) -> None:
    text = (
        "period,field_code,postings,region\n"
        "2024-01,ai,1,110000\n2024-02,ai,1,12010\n2024-03,ai,1,120101\n2024-04,ai,1,120000\n"
    )
    found = problems(text, "hiring", context)
    assert where(found) == {(2, "region"), (3, "region"), (4, "region")}
    unknown = [p for p in found if p.code == "region.unknown"]
    assert [p.row for p in unknown] == [2, 4]
    assert "use one of 120000" in unknown[0].reason


def test_a_row_without_a_region_is_of_the_configured_city(context: ValidationContext) -> None:
    chongqing = replace(context, city_region="500000")
    text = "period,field_code,postings,region\n2024-01,ai,1,\n2024-02,ai,1,500000\n"
    assert check(text, "hiring", chongqing)["region"].tolist() == ["500000", "500000"]


def test_with_several_regions_every_row_names_one_of_them(context: ValidationContext) -> None:
    province = replace(context, city_region="130000", regions=("130100", "130200"))
    good = "period,field_code,postings,region\n2024-01,ai,1,130200\n2024-01,ai,2,130100\n"
    assert check(good, "hiring", province)["region"].tolist() == ["130200", "130100"]

    text = "period,field_code,postings,region\n2024-01,ai,1,\n2024-02,ai,1,130300\n"
    missing, unknown = sorted(problems(text, "hiring", province), key=lambda p: p.row or 0)
    assert (missing.row, missing.column, missing.code) == (2, "region", "region.missing")
    assert (unknown.row, unknown.column, unknown.code) == (3, "region", "region.unknown")
    for problem in (missing, unknown):
        assert "130100, 130200" in problem.reason


def test_survey_target_year_rules(context: ValidationContext) -> None:
    text = (
        "survey_year,target_year,field_code,headcount\n"
        "2024,2023,ai,1\n2024,2040,ai,1\n2024,2027,ai,1\n"
    )
    found = problems(text, "demand_survey", context)
    assert where(found) == {(2, "target_year"), (3, "target_year")}
    assert "before the survey year" in found[0].reason
    assert "more than 15 years after" in found[1].reason


def test_every_problem_is_reported_in_one_pass(context: ValidationContext) -> None:
    text = (
        "year,programme_code,level,enrolled\n"
        "2019,080901,bachelor,-1\n2019,999999,bachelor,1\nxx,080901,本科,1\n2019,080901,bachelor,3\n"
    )
    found = problems(text, "enrollment", context)
    assert where(found) == {(2, "enrolled"), (3, "programme_code"), (4, "year"), (5, None)}


def test_huge_number_of_problems_is_capped_but_counted(context: ValidationContext) -> None:
    count = MAX_REPORTED_PROBLEMS + 500
    body = "".join(f"2019,080901,bachelor,-{i + 1},school {i}\n" for i in range(count))
    with pytest.raises(UploadRejected) as rejected:
        check("year,programme_code,level,enrolled,institution\n" + body, "enrollment", context)
    assert rejected.value.total == count
    assert f"and {count - 20} more" in rejected.value.summary()
    assert len(rejected.value.problems) == MAX_REPORTED_PROBLEMS
    assert rejected.value.problems[0].row == 2


def test_every_kind_documents_chinese_headers() -> None:
    for schema in SCHEMAS.values():
        for column in schema.columns:
            assert any(ord(ch) > 0x2E80 for alias in column.aliases for ch in alias), (
                f"{schema.kind}: column {column.name} has no Chinese header"
            )
    assert set(SCHEMAS) == set(Kind)


def test_an_association_may_only_send_rows_for_its_own_fields(
    default_catalog: Catalog,
) -> None:
    scoped = ValidationContext(catalog=default_catalog, allowed_fields=frozenset({"ic"}))
    text = "period,field_code,postings\n2024-05,ic,120\n2024-05,集成电路,80\n2024-05,ai,90\n"
    with pytest.raises(UploadRejected) as rejected:
        check(text.replace("2024-05,集成电路,80", "2024-06,集成电路,80"), "hiring", scoped)
    assert rejected.value.problems == [
        Problem(4, "field_code", "field 'ai' is not one of your fields (ic)")
    ]
    own = check("period,field_code,postings\n2024-05,集成电路,120\n", "hiring", scoped)
    assert list(own["field_code"]) == ["ic"]


def test_a_refusal_quotes_cells_only_briefly(context: ValidationContext) -> None:
    """A reason quotes the offending cell; a long one must not echo the file back."""
    cell = "9" * 900 + "x"  # under the reader's cell limit, but not a number
    with pytest.raises(UploadRejected) as rejected:
        check(
            f"year,programme_code,level,enrolled\n2019,080901,bachelor,{cell}\n",
            "enrollment",
            context,
        )
    (problem,) = rejected.value.problems
    assert (problem.row, problem.column) == (2, "enrolled")
    assert len(problem.reason) == MAX_REASON_CHARS
    assert problem.reason.startswith("'999")
    assert problem.reason.endswith("…")
