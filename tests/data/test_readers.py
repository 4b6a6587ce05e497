"""Reading uploaded bytes: formats, encodings, row numbers and file-level problems."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from support import csv_bytes, xlsx_bytes

from data.problems import UploadRejected
from data.readers import ROW_COLUMN, FileFormat, read_table

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
