"""Helpers that turn frames into the files users upload (importable from any test module)."""

from __future__ import annotations

import io

import pandas as pd


def csv_bytes(frame: pd.DataFrame, encoding: str = "utf-8") -> bytes:
    """A data frame as the CSV file a user would upload."""
    return frame.to_csv(index=False).encode(encoding)


def xlsx_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_excel(buffer, index=False, engine="openpyxl")
    return buffer.getvalue()
