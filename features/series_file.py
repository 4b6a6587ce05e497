"""The generic series file: ``series_id,period,value`` in, forecasts out (see the README).

Any forecasting job outside the talent data (an analyst's own file) goes through here. Reading
reuses the upload readers, so CSV in UTF-8 or GBK, XLSX and JSON all work, and errors name the
file row; the panel then validates the contents (mixed frequencies, duplicates, non-numbers).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from data.readers import DEFAULT_MAX_BYTES, ROW_COLUMN, read_table
from features.panel import GapPolicy, Panel, PanelError

COLUMNS = ("series_id", "period", "value")


def read_series_file(
    content: bytes,
    filename: str | None = None,
    *,
    gaps: GapPolicy = "error",
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Panel:
    """Parse and validate a series file into a :class:`Panel`.

    Raises :class:`~data.problems.UploadRejected` for unreadable files and
    :class:`~features.panel.PanelError` for contents that cannot be forecast.
    """
    table = read_table(content, filename, max_bytes=max_bytes)
    headers = {header.strip().lower(): header for header in table.headers}
    missing = [name for name in COLUMNS if name not in headers]
    extra = [header for key, header in headers.items() if key not in COLUMNS]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing column(s): {', '.join(missing)}")
        if extra:
            parts.append(f"unexpected column(s): {', '.join(extra)}")
        raise PanelError(
            "; ".join(parts) + f". A series file has exactly the columns {','.join(COLUMNS)}"
        )
    frame = table.frame.rename(columns={headers[name]: name for name in COLUMNS})
    blank_ids = frame["series_id"].str.strip() == ""
    if blank_ids.any():
        rows = ", ".join(str(r) for r in frame.loc[blank_ids, ROW_COLUMN].head(5))
        raise PanelError(f"series_id is blank on row(s) {rows}")
    return Panel.from_frame(frame, gaps=gaps, row_col=ROW_COLUMN)


def forecast_file(frame: pd.DataFrame, levels: Sequence[int]) -> bytes:
    """Forecast rows as CSV bytes (UTF-8), columns in the order the README documents."""
    columns = ["series_id", "period", "forecast"]
    for level in sorted(levels):
        columns += [f"lo_{level}", f"hi_{level}"]
    return frame.loc[:, columns].round(6).to_csv(index=False).encode()
