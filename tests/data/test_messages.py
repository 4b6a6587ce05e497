"""Problems of an upload in English and Chinese: every code has both wordings, a problem keeps
its code and parameters across processes, and the reason a person reads follows their language
while the stored English stays as it was."""

from __future__ import annotations

import ast
import pickle
from pathlib import Path

import pytest
from support import CHINESE, MESSAGE_CODE, assert_catalogue_complete

from data import ingest, readers, validation
from data.catalog import Catalog
from data.catalog import catalog as catalog_module
from data.messages import LANGUAGES, MESSAGES, TERMS, Term, term_text
from data.problems import MAX_REASON_CHARS, Problem, UploadRejected
from data.readers import read_table
from data.validation import ValidationContext, validate
from data.vocabulary import LEVEL_ALIASES, LEVEL_NAMES_ZH, LEVELS, level_spelling


def test_every_problem_code_has_both_languages_and_renders_its_parameters() -> None:
    assert_catalogue_complete(MESSAGES)


def test_every_term_is_translated_and_every_level_is_a_term() -> None:
    for key, term in TERMS.items():
        assert term.en, key
        assert CHINESE.search(term.zh), key
    assert [term_text(Term(f"level.{level}"), "zh") for level in LEVELS] == [
        LEVEL_NAMES_ZH[level] for level in LEVELS
    ]
    levels = (Term("level.bachelor"), Term("level.master"))
    assert term_text(levels, "en") == "bachelor, master"
    assert term_text(levels, "zh") == "本科、硕士"


def _codes_in(module: object) -> set[str]:
    source = Path(str(getattr(module, "__file__", ""))).read_text(encoding="utf-8")
    return {
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and MESSAGE_CODE.match(node.value)
    }


def _catalog_codes_in(module: object) -> set[str]:
    """Codes of the problems ``module`` makes, each of which must be a ``Problem.of`` with a
    literal code (its file names, such as ``fields.csv``, are no codes)."""
    source = Path(str(getattr(module, "__file__", ""))).read_text(encoding="utf-8")
    codes: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and "Problem" in ast.unparse(node.func)):
            continue
        assert ast.unparse(node.func) == "Problem.of", f"a problem without a code: {node.lineno}"
        code = node.args[2]
        assert isinstance(code, ast.Constant), f"a code that is not written out: {node.lineno}"
        codes.add(str(code.value))
    return codes


def test_the_readers_validation_and_catalog_use_exactly_the_catalogued_codes() -> None:
    catalog_codes = _catalog_codes_in(catalog_module) | _catalog_codes_in(ingest)
    assert catalog_codes, "the catalog's problems were not found"
    used = _codes_in(readers) | _codes_in(validation) | catalog_codes
    assert used == set(MESSAGES), (
        f"missing from data.messages: {sorted(used - set(MESSAGES))}; "
        f"never raised: {sorted(set(MESSAGES) - used)}"
    )
    with pytest.raises(KeyError, match=r"no message for the problem code 'count\.imaginary'"):
        Problem.of(2, "enrolled", "count.imaginary", value="1")


# -- real problems in both languages -------------------------------------------------------------


@pytest.fixture
def context(default_catalog: Catalog) -> ValidationContext:
    return ValidationContext(catalog=default_catalog, max_year=2026)


def rejected(text: str, kind: str, context: ValidationContext) -> UploadRejected:
    with pytest.raises(UploadRejected) as caught:
        validate(read_table(text.encode(), "upload.csv"), kind, context)
    return caught.value


@pytest.mark.parametrize(
    ("text", "kind", "code", "wording"),
    [
        (
            "survey_year,target_year,field_code,headcount\n2025,2027,ic,1.5\n",
            "demand_survey",
            "number.not_whole",
            (
                "'1.5' is not a whole count of persons",
                "'1.5' 不是整数，人数须为整数",
            ),
        ),
        (
            "year,programme_code,level,enrolled\n2019.5,080901,bachelor,10\n",
            "enrollment",
            "number.not_whole",
            (
                "'2019.5' is not a whole year",
                "'2019.5' 不是整数，年份须为整数",
            ),
        ),
        (
            "period,field_code,postings\n2024,ic,5\n2024-05,ic,6\n",
            "hiring",
            "period.mixed_frequency",
            (
                "'2024-05' is monthly but the file's first period is yearly; "
                "one frequency per file",
                "'2024-05' 是月度数据，而文件的第一个期间是年度数据；一个文件只能有一种频率",
            ),
        ),
        (
            "year,programme_code,level,enrolled\n2019,080901,doctor,10\n",
            "enrollment",
            "programme.wrong_level",
            (
                "programme 080901 is not offered at level doctor in the catalog "
                "(catalog levels: bachelor)",
                "专业目录中专业 080901 没有博士层次（目录中的层次：本科）",
            ),
        ),
        (
            "year,programme_code,level,graduates,placed\n2019,080901,bachelor,100,101\n",
            "outcomes",
            "value.exceeds",
            (
                "placed (101) is greater than graduates (100)",
                "placed（101）大于 graduates（100）",
            ),
        ),
        (
            "survey_year,target_year,field_code,headcount\n2025,2024,ic,3\n",
            "demand_survey",
            "survey.target_before",
            (
                "target year 2024 is before the survey year 2025",
                "目标年份 2024 早于调查年份 2025",
            ),
        ),
    ],
)
def test_a_problem_reads_the_same_in_english_and_says_it_in_chinese(
    text: str,
    kind: str,
    code: str,
    wording: tuple[str, str],
    context: ValidationContext,
) -> None:
    english, chinese = wording
    (problem,) = rejected(text, kind, context).problems
    assert problem.code == code
    assert problem.reason == english
    assert problem.reason_in("en") == english
    assert problem.reason_in("zh") == chinese
    assert problem.to_dict("zh") == {
        "row": problem.row,
        "column": problem.column,
        "code": code,
        "reason": chinese,
    }


def test_a_file_level_problem_has_a_code_and_both_wordings() -> None:
    with pytest.raises(UploadRejected) as caught:
        read_table(b"x" * 2048, "big.csv", max_bytes=1024)
    (problem,) = caught.value.problems
    assert problem.code == "file.too_large"
    assert problem.reason == (
        "file is 2,048 bytes, over the limit of 1,024 bytes; split it into several uploads"
    )
    assert (
        problem.reason_in("zh") == "文件大小为 2,048 字节，超过 1,024 字节的上限；请拆分为几次上传"
    )


def test_a_chinese_reason_quotes_a_long_cell_only_briefly(context: ValidationContext) -> None:
    cell = "9" * 900 + "x"
    (problem,) = rejected(
        f"year,programme_code,level,enrolled\n2019,080901,bachelor,{cell}\n", "enrollment", context
    ).problems
    chinese = problem.reason_in("zh")
    assert len(chinese) == len(problem.reason) == MAX_REASON_CHARS
    assert chinese.startswith("'999")
    assert chinese.endswith("…")


def test_a_problem_without_a_code_reads_its_english_reason_in_every_language() -> None:
    # A problem written out by hand (as a test expects it) compares by place and reason.
    problem = Problem(3, "weight", "'1.5' is not in (0, 1]")
    assert problem.code is None
    assert [problem.reason_in(lang) for lang in LANGUAGES] == ["'1.5' is not in (0, 1]"] * 2
    assert problem.to_dict("zh")["reason"] == "'1.5' is not in (0, 1]"


def test_problems_cross_a_process_boundary_with_their_codes(context: ValidationContext) -> None:
    refusal = rejected("period,field_code,postings\n2024,ic,5\n2024-05,ic,-6\n", "hiring", context)
    copy = pickle.loads(pickle.dumps(refusal))
    assert isinstance(copy, UploadRejected)
    assert copy.total == refusal.total == 2
    assert [(p.row, p.column, p.code, p.params) for p in copy.problems] == [
        (p.row, p.column, p.code, p.params) for p in refusal.problems
    ]
    assert [p.reason_in("zh") for p in copy.problems] == [
        p.reason_in("zh") for p in refusal.problems
    ]
    assert {p.code for p in copy.problems} == {"count.negative", "period.mixed_frequency"}


# -- level spellings -----------------------------------------------------------------------------

#: The spellings the README promises, and the common ones people type for each level.
SPELLINGS = {
    "secondary_vocational": ["中职", "中专", "中职/中专", "中等职业教育", "Secondary Vocational"],
    "higher_vocational": [
        "高职/专科",
        "高职",
        "专科",
        "大专",
        "高职专科",
        "高职（专科）",
        "高职(专科)",
        "高职 / 专科",
        "高职／专科",
        "专科（高职）",
        "高职高专",
        "higher_vocational",
    ],
    "bachelor": ["本科", "bachelor", "Bachelor", "大学本科"],
    "master": ["硕士", "硕士研究生", "研究生（硕士）", "硕士生"],
    "doctor": ["博士", "博士研究生", "研究生（博士）", "博士生"],
    "all": ["不限", "不限层次", "学历不限", "any"],
}


@pytest.mark.parametrize(("level", "spellings"), SPELLINGS.items())
def test_every_common_level_spelling_is_accepted(
    level: str, spellings: list[str], context: ValidationContext
) -> None:
    rows = "".join(
        f"2024-{month:02d},ic,{spelling},5\n" for month, spelling in enumerate(spellings, start=1)
    )
    accepted = validate(
        read_table(f"period,field_code,level,postings\n{rows}".encode(), "hiring.csv"),
        "hiring",
        context,
    )
    assert list(accepted["level"]) == [level] * len(spellings)


def test_level_aliases_are_written_as_they_are_looked_up() -> None:
    assert all(level_spelling(alias) == alias for alias in LEVEL_ALIASES)


def test_a_level_that_is_no_level_is_still_refused(context: ValidationContext) -> None:
    (problem,) = rejected(
        "period,field_code,level,postings\n2024-01,ic,专科本科,5\n", "hiring", context
    ).problems
    assert problem.code == "level.unknown"
    assert problem.reason_in("zh").startswith("未知层次 '专科本科'；请使用 ")
