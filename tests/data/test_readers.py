"""Reading uploaded bytes: formats, encodings, row numbers and file-level problems."""

from __future__ import annotations

import io
import json
import zipfile

import pandas as pd
import pytest
from support import csv_bytes, xlsx_bytes

from data.problems import UploadRejected
from data.readers import ROW_COLUMN, FileFormat, ReadLimits, read_table

FRAME = pd.DataFrame(
    {
        "年份": [2019, 2020],
        "专业代码": ["080717T", "080901"],
        "层次": ["本科", "本科"],
        "招生数": [120, 1500],
    }
)


def _cells(content: bytes, filename: str | None = None) -> list[list[str]]:
    table = read_table(content, filename)
    return table.frame.drop(columns=ROW_COLUMN).to_numpy().tolist()


EXPECTED = [["2019", "080717T", "本科", "120"], ["2020", "080901", "本科", "1500"]]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_csv_encodings_give_the_same_cells(encoding: str) -> None:
    table = read_table(csv_bytes(FRAME, encoding), "enrollment.csv")
    assert table.headers == ["年份", "专业代码", "层次", "招生数"]
    assert table.frame.drop(columns=ROW_COLUMN).to_numpy().tolist() == EXPECTED
    assert table.encoding == ("gbk" if encoding == "gbk" else "utf-8")
    assert table.format is FileFormat.CSV


def test_xlsx_keeps_leading_zeros_of_text_cells_and_integral_numbers() -> None:
    table = read_table(xlsx_bytes(FRAME), "enrollment.xlsx")
    assert table.format is FileFormat.XLSX
    assert table.frame.drop(columns=ROW_COLUMN).to_numpy().tolist() == EXPECTED
    assert table.frame[ROW_COLUMN].tolist() == [2, 3]


def test_xlsx_is_recognised_by_content_whatever_the_name() -> None:
    assert read_table(xlsx_bytes(FRAME), "upload.bin").format is FileFormat.XLSX


def test_json_list_and_wrapped_records() -> None:
    records = FRAME.to_dict(orient="records")
    for document in (records, {"records": records}, {"data": records}):
        content = json.dumps(document, ensure_ascii=False).encode()
        table = read_table(content, "survey.json")
        assert table.format is FileFormat.JSON
        assert table.frame.drop(columns=ROW_COLUMN).to_numpy().tolist() == EXPECTED
        assert table.frame[ROW_COLUMN].tolist() == [1, 2]


def test_tab_separated_text_is_read() -> None:
    content = FRAME.to_csv(index=False, sep="\t").encode()
    assert _cells(content, "x.txt") == EXPECTED


def test_row_numbers_are_spreadsheet_rows_skipping_blank_lines() -> None:
    content = b"year,enrolled\n2019,1\n\n,\n2020,2\n"
    table = read_table(content, "x.csv")
    assert table.frame[ROW_COLUMN].tolist() == [2, 5]


@pytest.mark.parametrize(
    ("content", "filename", "reason"),
    [
        (b"", "x.csv", "file is empty"),
        (b"\xef\xbb\xbf  \n", "x.csv", "file is empty"),
        (b"year,enrolled\n", "x.csv", "header but no data rows"),
        (b"[]", "x.json", "no records"),
        (b'{"rows": 3}', "x.json", "list of records"),
        (b"[1, 2]", "x.json", "not a JSON object"),
        (b'[{"a": 1},', "x.json", "invalid JSON"),
        (b'[{"a": {"b": 1}}]', "x.json", "nested object"),
        (b"PK\x03\x04garbage", "x.xlsx", "not a readable .xlsx"),
        (b"year,,enrolled\n1,2,3\n", "x.csv", "header cell 2 is blank"),
        (b"year,year\n1,2\n", "x.csv", "header appears twice"),
        ("年份,招生数\n2019,1\n".encode("utf-16"), "x.csv", "neither UTF-8 nor GBK"),
    ],
)
def test_file_level_problems(content: bytes, filename: str, reason: str) -> None:
    with pytest.raises(UploadRejected) as rejected:
        read_table(content, filename)
    assert reason in str(rejected.value)


def test_ragged_rows_are_named() -> None:
    content = b"year,enrolled\n2019,1\n2020,2,3\n2021\n"
    with pytest.raises(UploadRejected) as rejected:
        read_table(content, "x.csv")
    rows = [(p.row, p.reason) for p in rejected.value.problems]
    assert rows == [
        (3, "has 3 cells but the header has 2"),
        (4, "has 1 cells but the header has 2"),
    ]


def test_oversized_file_is_rejected_before_parsing() -> None:
    content = b"year,enrolled\n" + b"2019,1\n" * 1000
    with pytest.raises(UploadRejected) as rejected:
        read_table(content, "x.csv", max_bytes=1000)
    (problem,) = rejected.value.problems
    assert problem.row is None
    assert "over the limit of 1,000 bytes" in problem.reason


def test_reading_does_not_interpret_values() -> None:
    content = b"year,enrolled\n 2019 ,1.50\nnan,-3\n"
    assert _cells(content, "x.csv") == [[" 2019 ", "1.50"], ["nan", "-3"]]


def _refusal(content: bytes, filename: str, **kwargs: object) -> list[str]:
    with pytest.raises(UploadRejected) as rejected:
        read_table(content, filename, **kwargs)  # type: ignore[arg-type]
    return [str(problem) for problem in rejected.value.problems]


@pytest.mark.parametrize("filename", ["wide.csv", "wide.json", "wide.xlsx"])
def test_a_file_of_too_many_columns_is_refused_with_the_limit(filename: str) -> None:
    wide = pd.DataFrame([[1] * 300], columns=[f"c{i}" for i in range(300)])
    content = {
        "wide.csv": csv_bytes(wide, "utf-8"),
        "wide.json": wide.to_json(orient="records").encode(),
        "wide.xlsx": xlsx_bytes(wide),
    }[filename]
    problems = _refusal(content, filename)
    assert any("columns, over the limit of 200" in problem for problem in problems), problems


def test_long_cells_are_named_by_row_and_column_without_echoing_them() -> None:
    secret = "x" * 5000
    plain = f"year,note\n2024,ok\n2025,{secret}\n".encode()
    quoted = f'year,note\n2024,"ok"\n2025,"{secret[:2500]}\n{secret[:2500]}"\n'.encode()
    records = json.dumps([{"year": 2024, "note": "ok"}, {"year": 2025, "note": secret}]).encode()
    for content, filename, row in (
        (plain, "a.csv", 3),
        (quoted, "b.csv", 4),
        (records, "c.json", 2),
    ):
        problems = _refusal(content, filename)
        assert len(problems) == 1
        assert problems[0].startswith(f"row {row}, column 'note': cell has"), problems
        assert "over the limit of 1,000" in problems[0]
        assert "xxxx" not in problems[0]


def test_too_many_records_are_refused_before_the_rest_is_read() -> None:
    content = ("year,value\n" + "2024,1\n" * 5).encode()
    problems = _refusal(content, "a.csv", limits=ReadLimits(max_rows=3))
    assert problems == ["file: file has more than 3 records; split it into several uploads"]
    assert len(read_table(content, "a.csv", limits=ReadLimits(max_rows=5)).frame) == 5


def test_an_xlsx_that_unpacks_far_beyond_its_size_is_refused_before_unpacking() -> None:
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b" " * 30_000_000)
    content = bomb.getvalue()
    assert len(content) < 100_000
    problems = _refusal(content, "bomb.xlsx", max_bytes=1_000_000)
    assert len(problems) == 1
    assert "unpacks to 30,000,0" in problems[0]
    assert "over the limit of 20,000,000" in problems[0]
    # an ordinary workbook is well within the default ratio
    assert len(read_table(xlsx_bytes(FRAME), "ok.xlsx", max_bytes=100_000).frame) == 2


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'[{"year": ' + b"9" * 5000 + b"}]", "a number has 5,000 digits, over the limit of 40"),
        (b'[{"year": -' + b"9" * 41 + b"}]", "a number has 41 digits"),
    ],
)
def test_hostile_json_is_refused_with_a_reason(content: bytes, reason: str) -> None:
    problems = _refusal(content, "x.json")
    assert len(problems) == 1
    assert reason in problems[0], problems
