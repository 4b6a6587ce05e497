"""Numbers of persons as they are served: counts as integers, means to one decimal.

Which columns are persons is declared once, per column, in
:data:`~data.store.tables.OUTPUT_SPECS` (:class:`~data.store.tables.Persons`). A column name
means the same in every output (``gap`` is persons wherever it appears), so any frame built from
run outputs — a page of the balance, the shortage ranking, a scenario, a dashboard table, an
export — is rounded by its column names, and none has to say which output it came from.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from data.store.tables import OUTPUT_SPECS, Persons

#: Decimals a mean of persons is served with.
MEAN_DECIMALS = 1


def person_columns() -> Mapping[str, Persons]:
    """Every column of a run output that holds persons, by name."""
    return {
        column.name: column.persons
        for spec in OUTPUT_SPECS.values()
        for column in spec.columns
        if column.persons is not None
    }


def round_persons(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its persons rounded: counts to integers (nullable ``Int64`` where a value
    is missing, so that it stays missing), means to :data:`MEAN_DECIMALS`. The caller's frame
    is left as it is; a frame without such columns (or with text in them, as a table built
    for display may have) is returned unchanged."""
    rounded: dict[str, pd.Series] = {}
    for name, persons in person_columns().items():
        if name in frame.columns and pd.api.types.is_numeric_dtype(frame[name]):
            values = frame[name]
            if persons is Persons.COUNT:
                whole = values.round()
                rounded[name] = whole.astype("Int64" if whole.isna().any() else "int64")
            else:
                rounded[name] = values.round(MEAN_DECIMALS)
    for spec in OUTPUT_SPECS.values():
        if spec.persons_kinds and "kind" in frame.columns:
            rows = frame["kind"].isin(spec.persons_kinds).to_numpy()
            for name in spec.persons_columns:
                if name in frame.columns and rows.any():
                    rounded[name] = _round_rows(frame[name], rows)
    return frame.assign(**rounded) if rounded else frame


def _round_rows(values: pd.Series, rows: np.ndarray) -> pd.Series:
    """``values`` with the chosen rows as integers and the others as they are (an object
    column, so that JSON writes ``120`` on those rows and ``0.83`` on the others)."""
    mixed = values.astype(object)
    chosen = values[rows]
    mixed[rows] = [None if pd.isna(v) else round(float(v)) for v in chosen]
    return mixed
