"""Turn the bytes of an uploaded file into a table of text cells.

Readers do not interpret values: every cell comes back as a string (or ``""`` when blank), with
the row number a person would see in the file, so that validation can say exactly where a value
is wrong. Formats: CSV (UTF-8, UTF-8 with BOM, GBK/GB18030; comma, tab or semicolon separated),
XLSX (first worksheet, first row is the header) and JSON (a list of records, or an object holding
one under ``records``, ``rows`` or ``data``).
"""

from __future__ import annotations

import csv
import gc
import io
import itertools
import json
import math
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePath
from typing import Any, Final

import numpy as np
import pandas as pd

from data.problems import Problem, UploadRejected

ROW_COLUMN: Final = "_row"

#: Default ceiling on an upload's size; settings can raise it for bulk loads.
DEFAULT_MAX_BYTES: Final = 100 * 1024 * 1024


@dataclass(frozen=True)
class ReadLimits:
    """Bounds on what one file may hold beyond its size, so that a small hostile file (an
    .xlsx that unpacks to gigabytes, a CSV of 100,000 columns, JSON nested 100,000 deep)
    is refused early with the bound named instead of exhausting memory or time.

    Every upload kind has about ten columns and cells of a few dozen characters; the
    defaults are far above any real file.
    """

    max_columns: int = 200
    max_cell_chars: int = 1000
    max_rows: int = 5_000_000
    #: An .xlsx may unpack to this many times ``max_bytes`` (real workbooks: 3-10×).
    max_unpack_ratio: float = 20.0
    #: Digits of an integer in a JSON file (Python refuses more than 4,300 with a crash).
    max_json_digits: int = 40


class FileFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"
    JSON = "json"


@dataclass(frozen=True)
class RawTable:
    """Cells of a file as text, plus where each row stands in the file.

    ``frame`` has one string column per header (headers as written in the file) and the
    :data:`ROW_COLUMN` with the row number of each record.
    """

    frame: pd.DataFrame
    format: FileFormat
    encoding: str | None

    @property
    def headers(self) -> list[str]:
        return [c for c in self.frame.columns if c != ROW_COLUMN]


def detect_format(content: bytes, filename: str | None = None) -> FileFormat:
    """Trust the content first (an .xlsx is a zip archive), then the file name, then CSV."""
    if content[:4] == b"PK\x03\x04":
        return FileFormat.XLSX
    suffix = PurePath(filename).suffix.lower() if filename else ""
    if suffix in {".xlsx", ".xlsm"}:
        return FileFormat.XLSX
    if suffix == ".json":
        return FileFormat.JSON
    if suffix in {".csv", ".txt", ".tsv"}:
        return FileFormat.CSV
    head = content.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return FileFormat.JSON if head in (b"[", b"{") else FileFormat.CSV


def read_table(
    content: bytes,
    filename: str | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    limits: ReadLimits | None = None,
) -> RawTable:
    """Read any supported file into a :class:`RawTable`, or reject it with a file-level problem
    (or the rows and cells that pass ``limits``)."""
    limits = limits or ReadLimits()
    if len(content) > max_bytes:
        raise UploadRejected(
            [Problem.of(None, None, "file.too_large", size=len(content), limit=max_bytes)]
        )
    if not content.strip(b"\xef\xbb\xbf \t\r\n"):
        raise UploadRejected([Problem.of(None, None, "file.empty")])
    fmt = detect_format(content, filename)
    if fmt is FileFormat.XLSX:
        table = _read_xlsx(content, limits, max_unpacked=int(max_bytes * limits.max_unpack_ratio))
    elif fmt is FileFormat.JSON:
        table = _read_json(content, limits)
    else:
        table = _read_csv(content, limits)
    if table.frame.empty:
        raise UploadRejected([Problem.of(None, None, "file.no_rows")])
    return table


def decode_text(content: bytes) -> tuple[str, str]:
    """Decode CSV bytes as UTF-8 (with or without BOM), falling back to GB18030 (a GBK superset).

    Chinese offices still save CSV from Excel as GBK; a GBK file almost never decodes as valid
    UTF-8, so trying UTF-8 first is safe.
    """
    try:
        return content.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return content.decode("gb18030"), "gbk"
    except UnicodeDecodeError as error:
        raise UploadRejected(
            [Problem.of(None, None, "file.encoding", offset=error.start)]
        ) from error


@contextmanager
def paused_garbage_collection() -> Iterator[None]:
    """Pause the cyclic garbage collector while building millions of small objects.

    Parsing a large file allocates millions of strings and lists, none of them cyclic; the
    collector's repeated full passes over them made reading four times slower.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _read_csv(content: bytes, limits: ReadLimits) -> RawTable:
    with paused_garbage_collection():
        return _parse_csv(content, limits)


def _parse_csv(content: bytes, limits: ReadLimits) -> RawTable:
    text, encoding = decode_text(content)
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", "\t", ";"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    quoted = '"' in text
    try:
        header = next(reader)
        _check_width(len(header), limits)
        # One more record than allowed is enough to know the file has too many.
        records = itertools.islice(reader, limits.max_rows + 1)
        if quoted:
            # Quoted cells may span lines: ask the reader where each record ends.
            numbered = [(reader.line_num, record) for record in records]
        else:
            # One record per line: numbering by position is exact and much faster.
            numbered = list(enumerate(records, start=2))
    except csv.Error as error:
        raise UploadRejected(
            [Problem.of(reader.line_num, None, "csv.malformed", error=str(error))]
        ) from error
    _check_length(len(numbered), limits)
    # A cell is never longer than its line: only a file with a long line (or quoted cells,
    # which may span lines) needs its cells measured.
    if quoted or _longest_line_bytes(content) > limits.max_cell_chars:
        _check_cells(((line, header, record) for line, record in numbered), limits)
    _check_header(header, row=1)
    width = len(header)
    # A record is blank when every cell is empty (a blank line, or ",,," from a spreadsheet).
    kept = [(line, record) for line, record in numbered if any(record)]
    ragged = [
        Problem.of(line, None, "row.ragged", cells=len(record), width=width)
        for line, record in kept
        if len(record) != width
    ]
    if ragged:
        raise UploadRejected(ragged)
    columns = list(zip(*(record for _, record in kept), strict=True)) or [()] * width
    frame = pd.DataFrame(
        {
            name: pd.Series(values, dtype=object)
            for name, values in zip(header, columns, strict=True)
        }
    )
    frame[ROW_COLUMN] = [line for line, _ in kept]
    return RawTable(frame, FileFormat.CSV, encoding)


def _read_xlsx(content: bytes, limits: ReadLimits, *, max_unpacked: int) -> RawTable:
    from openpyxl import load_workbook  # heavy; only files that are XLSX pay for it

    _check_unpacked_size(content, max_unpacked)
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise UploadRejected(
            [Problem.of(None, None, "xlsx.unreadable", error=str(error))]
        ) from error
    try:
        sheet = workbook.worksheets[0]
        rows_iter = sheet.iter_rows(values_only=True)
        header_cells = next(rows_iter, None)
        if header_cells is None:
            raise UploadRejected([Problem.of(None, None, "xlsx.empty_sheet")])
        _check_width(len(header_cells), limits)
        header = [_cell_text(cell) for cell in header_cells]
        while header and header[-1] == "":
            header.pop()
        _check_header(header, row=1)
        width = len(header)
        records: list[list[str]] = []
        rows: list[int] = []
        problems: list[Problem] = []
        for number, cells in enumerate(rows_iter, start=2):
            _check_length(number - 1, limits)
            texts = [_cell_text(cell) for cell in cells]
            _check_cells([(number, header, texts)], limits)
            if any(texts[width:]):
                problems.append(Problem.of(number, None, "xlsx.right_of_header"))
                continue
            texts = (texts + [""] * width)[:width]
            if not any(t.strip() for t in texts):
                continue
            records.append(texts)
            rows.append(number)
    finally:
        workbook.close()
    if problems:
        raise UploadRejected(problems)
    frame = pd.DataFrame(records, columns=header, dtype=object)
    frame[ROW_COLUMN] = rows
    return RawTable(frame, FileFormat.XLSX, None)


def _cell_text(value: Any) -> str:
    """Excel cell to text without losing what the user typed: 2019.0 stays '2019'."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return repr(value)
    if hasattr(value, "strftime"):
        return str(value.strftime("%Y-%m-%d"))
    return str(value)


_JSON_CONTAINERS: Final = ("records", "rows", "data")


def _read_json(content: bytes, limits: ReadLimits) -> RawTable:
    text, encoding = decode_text(content)

    def bounded_int(digits: str) -> int:
        if len(digits.lstrip("-")) > limits.max_json_digits:
            raise UploadRejected(
                [
                    Problem.of(
                        None,
                        None,
                        "json.too_many_digits",
                        digits=len(digits.lstrip("-")),
                        limit=limits.max_json_digits,
                    )
                ]
            )
        return int(digits)

    try:
        document = json.loads(text, parse_int=bounded_int)
    except RecursionError:
        raise UploadRejected([Problem.of(None, None, "json.too_deep")]) from None
    except json.JSONDecodeError as error:
        raise UploadRejected(
            [
                Problem.of(
                    None,
                    None,
                    "json.invalid",
                    line=error.lineno,
                    position=error.colno,
                    error=error.msg,
                )
            ]
        ) from error
    if isinstance(document, dict):
        found = [key for key in _JSON_CONTAINERS if isinstance(document.get(key), list)]
        if not found:
            raise UploadRejected(
                [Problem.of(None, None, "json.no_list", keys=", ".join(_JSON_CONTAINERS))]
            )
        document = document[found[0]]
    if not isinstance(document, list):
        raise UploadRejected([Problem.of(None, None, "json.not_list")])
    if not document:
        raise UploadRejected([Problem.of(None, None, "json.no_records")])
    _check_length(len(document), limits)
    header: list[str] = []
    seen: set[str] = set()
    problems: list[Problem] = []
    for number, record in enumerate(document, start=1):
        if not isinstance(record, dict):
            problems.append(Problem.of(number, None, "json.not_object"))
            continue
        for key in record:
            if key not in seen:
                seen.add(key)
                header.append(str(key))
                _check_width(len(header), limits)
    if problems:
        raise UploadRejected(problems)
    records: list[list[str]] = []
    for number, record in enumerate(document, start=1):
        texts = []
        for key in header:
            value = record.get(key)
            if isinstance(value, (dict, list)):
                problems.append(Problem.of(number, key, "json.nested_value"))
                texts.append("")
            else:
                texts.append(_cell_text(value))
        records.append(texts)
    if problems:
        raise UploadRejected(problems)
    _check_cells(((number, header, texts) for number, texts in enumerate(records, start=1)), limits)
    frame = pd.DataFrame(records, columns=header, dtype=object)
    frame[ROW_COLUMN] = list(range(1, len(records) + 1))
    return RawTable(frame, FileFormat.JSON, encoding)


def _check_header(header: list[str], row: int) -> None:
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        if not name.strip():
            problems.append(Problem.of(row, None, "header.blank", position=position))
        elif name in seen:
            problems.append(
                Problem.of(row, name, "header.repeated", first=seen[name], second=position)
            )
        else:
            seen[name] = position
    if problems:
        raise UploadRejected(problems)


def _check_width(columns: int, limits: ReadLimits) -> None:
    if columns > limits.max_columns:
        raise UploadRejected(
            [
                Problem.of(
                    1, None, "file.too_many_columns", columns=columns, limit=limits.max_columns
                )
            ]
        )


def _check_length(records: int, limits: ReadLimits) -> None:
    if records > limits.max_rows:
        raise UploadRejected(
            [Problem.of(None, None, "file.too_many_records", limit=limits.max_rows)]
        )


def _check_cells(records: Iterable[tuple[int, list[str], list[str]]], limits: ReadLimits) -> None:
    """Refuse cells longer than the limit, naming each (the cell itself is not echoed)."""
    problems = []
    for row, header, texts in records:
        for position, text in enumerate(texts):
            if len(text) > limits.max_cell_chars:
                column = header[position] if position < len(header) else None
                problems.append(
                    Problem.of(
                        row, column, "cell.too_long", length=len(text), limit=limits.max_cell_chars
                    )
                )
    if problems:
        raise UploadRejected(problems)


def _longest_line_bytes(content: bytes) -> int:
    """Bytes in the longest line (at least its characters, in any encoding), at C speed."""
    breaks = np.flatnonzero(np.frombuffer(content, dtype=np.uint8) == ord("\n"))
    edges = np.concatenate(([-1], breaks, [len(content)]))
    return int(np.diff(edges).max()) - 1


def _check_unpacked_size(content: bytes, limit: int) -> None:
    """Refuse an .xlsx whose parts unpack to more than ``limit`` bytes, before unpacking:
    a zip archive states each part's size, and Python's reader stops at the stated size."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise UploadRejected(
            [Problem.of(None, None, "xlsx.unreadable", error=str(error))]
        ) from error
    if unpacked > limit:
        raise UploadRejected(
            [Problem.of(None, None, "xlsx.too_large_unpacked", size=unpacked, limit=limit)]
        )
