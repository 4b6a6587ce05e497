"""Write demo uploads as files (in their messy shapes) and read them back as canonical frames.

Writing is byte-deterministic, XLSX included (fixed zip timestamps and document properties),
so regenerating the committed files only changes them when the data changes.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from typing import Final

import pandas as pd

from data.catalog import Catalog
from data.demo.manifest import LEVELS_ZH, FileSpec
from data.readers import read_table
from data.schemas import SCHEMAS, ColumnType
from data.validation import ValidationContext, validate
from data.vocabulary import ALL_LEVELS, Kind

_FIXED_ZIP_TIME: Final = (2026, 1, 1, 0, 0, 0)
_FIXED_PROPERTY_TIME: Final = "2026-01-01T00:00:00Z"
_ALL_LEVEL_SPELLINGS: Final = (ALL_LEVELS, LEVELS_ZH[ALL_LEVELS])
_W3CDTF: Final = re.compile(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)")


def render(spec: FileSpec, frame: pd.DataFrame, field_names_zh: dict[str, str]) -> bytes:
    """The bytes of one upload file written as ``spec`` says."""
    table = _display_frame(spec, frame, field_names_zh)
    if spec.format == "xlsx":
        return _xlsx(table)
    if spec.format == "json":
        return _json(table)
    return _csv(table, spec)


def _display_frame(
    spec: FileSpec, frame: pd.DataFrame, field_names_zh: dict[str, str]
) -> pd.DataFrame:
    """Cells as the sender writes them (Python values; ``None`` is a blank cell)."""
    schema = SCHEMAS[Kind(spec.kind)]
    out = pd.DataFrame(index=frame.index)
    for name in frame.columns:
        column = schema.column(name)
        values = frame[name].astype(object).where(frame[name].notna(), None)
        if column.type is ColumnType.LEVEL:
            if spec.level_names == "zh":
                values = values.map(lambda v: LEVELS_ZH.get(v, v) if v is not None else None)
            if spec.blank_all_level:
                values = values.map(lambda v: None if v in _ALL_LEVEL_SPELLINGS else v)
        elif column.type is ColumnType.FIELD and spec.field_names == "zh":
            values = values.map(lambda v: field_names_zh.get(v, v))
        elif column.type is ColumnType.YEAR:
            values = values.map(lambda v: None if v is None else int(v))
        elif column.type is ColumnType.COUNT:
            # Spreadsheet exports format counts as 1,234 (years are never formatted).
            values = values.map(
                lambda v: None if v is None else (f"{int(v):,}" if spec.thousands else int(v))
            )
        if column.type is ColumnType.PROGRAMME and spec.mangled_year is not None:
            mangled = frame["year"] == spec.mangled_year
            values = values.where(~mangled, values.map(_excel_mangle))
        out[spec.headers.get(name, name)] = values
    return out


def _excel_mangle(code: str) -> str:
    """What Excel does to a numeric code column: 080901 becomes 80901."""
    return code.lstrip("0") if code.isdigit() else code


def _csv(table: pd.DataFrame, spec: FileSpec) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator=spec.line_terminator)
    writer.writerow(list(table.columns))
    for row in table.itertuples(index=False):
        writer.writerow(["" if value is None else str(value) for value in row])
    return buffer.getvalue().encode(spec.encoding)


def _json(table: pd.DataFrame) -> bytes:
    """A ``{"records": [...]}`` document, one record a line; blank cells are left out."""
    records = [
        json.dumps(
            {k: v for k, v in zip(table.columns, row, strict=True) if v is not None},
            ensure_ascii=False,
        )
        for row in table.itertuples(index=False)
    ]
    return ('{"records": [\n' + ",\n".join(records) + "\n]}\n").encode("utf-8")


def _xlsx(table: pd.DataFrame) -> bytes:
    from openpyxl import Workbook  # heavy; only the XLSX files need it

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("data")
    sheet.append(list(table.columns))
    for row in table.itertuples(index=False):
        sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return deterministic_zip(buffer.getvalue())


def deterministic_zip(content: bytes) -> bytes:
    """Rewrite an XLSX with fixed timestamps so that the same data gives the same bytes."""
    source = zipfile.ZipFile(io.BytesIO(content))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "docProps/core.xml":
                data = _W3CDTF.sub(rb"\g<1>" + _FIXED_PROPERTY_TIME.encode() + rb"\g<3>", data)
            info = zipfile.ZipInfo(item.filename, date_time=_FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = item.external_attr
            target.writestr(info, data)
    return buffer.getvalue()


def parse(content: bytes, spec: FileSpec, catalog: Catalog) -> pd.DataFrame:
    """A file read and validated exactly as ingestion would (canonical typed columns)."""
    table = read_table(content, spec.filename)
    return validate(table, spec.kind, ValidationContext(catalog=catalog))


def comparable(frame: pd.DataFrame, kind: str, columns: list[str] | None = None) -> pd.DataFrame:
    """A frame reduced to ``columns`` with uniform dtypes and row order, for equality checks.

    Counts and years become nullable integers and text becomes ``object``, so a frame built
    by the generator and the same rows parsed from a file compare equal.
    """
    schema = SCHEMAS[Kind(kind)]
    names = [c for c in schema.names if c in frame.columns and (columns is None or c in columns)]
    out = frame.loc[:, names].copy()
    for name in names:
        column = schema.column(name)
        if column.type in (ColumnType.COUNT, ColumnType.YEAR):
            out[name] = pd.to_numeric(out[name]).astype("Int64")
        else:
            out[name] = out[name].astype(object)
    key = [k for k in schema.key if k in names]
    return out.sort_values(key, kind="stable").reset_index(drop=True)
