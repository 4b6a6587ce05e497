"""The panel: many regular time series in one validated container.

Every forecasting job starts from a long frame ``series_id, period, value`` (the README,
"An analyst forecasts a file of series"). :meth:`Panel.from_frame` validates it once, at the
boundary, with errors that name the problem, the affected series and a fix; everything after
it (models, backtests, the engine) trusts the panel and works on plain NumPy arrays.

Storage follows the "grouped array" layout: all values concatenated in one float array, with
``indptr`` marking where each series starts, so cutting, chunking and shipping series to worker
processes is cheap.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import pandas as pd

#: Frequencies the engine supports, with their season length.
SEASON_LENGTHS: Final[dict[str, int]] = {"Y": 1, "Q": 4, "M": 12}
_PANDAS_FREQ: Final[dict[str, str]] = {"Y": "Y-DEC", "Q": "Q-DEC", "M": "M"}
FREQUENCY_NAMES: Final[dict[str, str]] = {"Y": "yearly", "Q": "quarterly", "M": "monthly"}

GapPolicy = Literal["error", "interpolate"]


class PanelError(ValueError):
    """The input cannot be turned into a panel; the message says what and how to fix it."""


class MissingPeriods(PanelError):
    """A series skips periods and gaps are refused: the caller names its own way of letting
    them be interpolated (``gaps="interpolate"`` here; a flag of a command line)."""


def period_frequency(text: str) -> str | None:
    """Frequency of a canonical period string (``YYYY``, ``YYYY-Qn``, ``YYYY-MM``)."""
    if len(text) == 4 and text.isdigit():
        return "Y"
    if len(text) == 7 and text[:4].isdigit() and text[4] == "-":
        if text[5] in "Qq" and text[6] in "1234":
            return "Q"
        if text[5:].isdigit() and 1 <= int(text[5:]) <= 12:
            return "M"
    return None


def to_period(text: str, freq: str) -> pd.Period:
    return pd.Period(text.upper(), freq=_PANDAS_FREQ[freq])


@dataclass(frozen=True, eq=False)
class Panel:
    """Regular series of one frequency, each with at least one observation.

    ``values[indptr[i]:indptr[i + 1]]`` is series ``ids[i]``, starting at ``starts[i]`` and
    continuing without gaps. Values are finite floats.
    """

    ids: tuple[str, ...]
    values: np.ndarray
    indptr: np.ndarray
    starts: tuple[pd.Period, ...]
    freq: str

    # -- construction -----------------------------------------------------------------------

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        gaps: GapPolicy = "error",
        id_col: str = "series_id",
        period_col: str = "period",
        value_col: str = "value",
        row_col: str | None = None,
    ) -> Panel:
        """Validate a long frame and build the panel (the frame is not modified).

        ``period`` may hold strings (``2023``, ``2023-Q2``, ``2023-05``) or pandas Periods.
        Missing periods inside a series are an error unless ``gaps="interpolate"``, which fills
        them linearly (hiring series scraped from job boards miss a month now and then).
        ``row_col`` names a column with the file's row numbers, for error messages; without
        it rows are counted from 2 (the first data row under a header).
        """
        missing = [c for c in (id_col, period_col, value_col) if c not in frame.columns]
        if missing:
            raise PanelError(
                f"missing column(s) {', '.join(missing)}; a series file needs the columns "
                f"{id_col},{period_col},{value_col}"
            )
        if frame.empty:
            raise PanelError("no rows: the input holds no observations")
        data = pd.DataFrame(
            {
                "series_id": frame[id_col].astype(str).str.strip(),
                "period": frame[period_col],
                "value": frame[value_col],
            }
        )
        data.index = (
            pd.Index(frame[row_col].to_numpy()) if row_col else pd.RangeIndex(2, len(frame) + 2)
        )
        data["period"], freq = _parse_periods(data)
        data["value"] = _parse_values(data)
        _check_duplicates(data)
        data = data.sort_values(["series_id", "period"], kind="stable")
        ids: list[str] = []
        chunks: list[np.ndarray] = []
        starts: list[pd.Period] = []
        for series_id, group in data.groupby("series_id", sort=True):
            ordinals = np.fromiter((p.ordinal for p in group["period"]), dtype=np.int64)
            values = group["value"].to_numpy(dtype=float)
            span = ordinals[-1] - ordinals[0] + 1
            if span != len(ordinals):
                values = _fill_gaps(str(series_id), ordinals, values, group["period"], gaps)
            ids.append(str(series_id))
            chunks.append(values)
            starts.append(group["period"].iloc[0])
        lengths = np.fromiter((len(c) for c in chunks), dtype=np.int64)
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        return cls(tuple(ids), np.concatenate(chunks), indptr, tuple(starts), freq)

    @classmethod
    def from_arrays(
        cls,
        series: dict[str, np.ndarray] | Sequence[tuple[str, np.ndarray]],
        *,
        freq: str,
        starts: dict[str, pd.Period | str] | None = None,
    ) -> Panel:
        """A panel from arrays (tests, simulations); every series starts at ``2000`` unless
        ``starts`` says otherwise."""
        items = list(series.items()) if isinstance(series, dict) else list(series)
        if not items:
            raise PanelError("no series")
        if freq not in SEASON_LENGTHS:
            raise PanelError(f"unknown frequency {freq!r}; use one of Y, Q, M")
        arrays = [np.asarray(values, dtype=float) for _, values in items]
        for (name, _), values in zip(items, arrays, strict=True):
            if values.size == 0 or not np.isfinite(values).all():
                raise PanelError(f"series {name!r} is empty or has NaN/Inf values")
        default = pd.Period("2000-01", freq=_PANDAS_FREQ[freq])
        first = [
            pd.Period(str((starts or {}).get(name, default)), freq=_PANDAS_FREQ[freq])
            for name, _ in items
        ]
        lengths = np.fromiter((len(a) for a in arrays), dtype=np.int64)
        return cls(
            tuple(str(name) for name, _ in items),
            np.concatenate(arrays),
            np.concatenate([[0], np.cumsum(lengths)]),
            tuple(first),
            freq,
        )

    # -- access -----------------------------------------------------------------------------

    @property
    def season_length(self) -> int:
        return SEASON_LENGTHS[self.freq]

    @property
    def n_series(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.indptr)

    def series(self, position: int) -> np.ndarray:
        """Values of the series at ``position`` (a read-only view)."""
        view = self.values[self.indptr[position] : self.indptr[position + 1]]
        view.flags.writeable = False
        return view

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        for position, series_id in enumerate(self.ids):
            yield series_id, self.series(position)

    def last_periods(self) -> list[pd.Period]:
        return [
            start + int(length) - 1 for start, length in zip(self.starts, self.lengths, strict=True)
        ]

    def future_periods(self, horizon: int) -> list[pd.PeriodIndex]:
        """The ``horizon`` periods after each series' last observation."""
        return [
            pd.period_range(start=last + 1, periods=horizon, freq=last.freq)
            for last in self.last_periods()
        ]

    # -- derived panels ---------------------------------------------------------------------

    def take(self, positions: Sequence[int] | np.ndarray) -> Panel:
        """The series at ``positions``, in that order."""
        positions = [int(p) for p in positions]
        if not positions:
            raise PanelError("a panel needs at least one series")
        chunks = [self.values[self.indptr[p] : self.indptr[p + 1]] for p in positions]
        lengths = np.fromiter((len(c) for c in chunks), dtype=np.int64)
        return Panel(
            tuple(self.ids[p] for p in positions),
            np.concatenate(chunks).copy(),
            np.concatenate([[0], np.cumsum(lengths)]),
            tuple(self.starts[p] for p in positions),
            self.freq,
        )

    def drop_last(self, count: int, *, min_length: int = 1) -> tuple[Panel, np.ndarray]:
        """Each series without its last ``count`` values, and the positions that kept at least
        ``min_length`` values (series that would become too short are left out).

        This is how a backtest window sees the past: the panel as it was ``count`` periods ago.
        """
        if count < 0:
            raise ValueError("count must be >= 0")
        keep = np.flatnonzero(self.lengths - count >= max(min_length, 1))
        if keep.size == 0:
            return self, keep
        chunks = [self.values[self.indptr[p] : self.indptr[p + 1] - count] for p in keep]
        lengths = np.fromiter((len(c) for c in chunks), dtype=np.int64)
        panel = Panel(
            tuple(self.ids[p] for p in keep),
            np.concatenate(chunks).copy(),
            np.concatenate([[0], np.cumsum(lengths)]),
            tuple(self.starts[p] for p in keep),
            self.freq,
        )
        return panel, keep

    def to_frame(self) -> pd.DataFrame:
        """Back to the long format (``period`` as canonical strings)."""
        periods = [
            pd.period_range(start=start, periods=int(length), freq=start.freq)
            for start, length in zip(self.starts, self.lengths, strict=True)
        ]
        return pd.DataFrame(
            {
                "series_id": np.repeat(np.array(self.ids, dtype=object), self.lengths),
                "period": [format_period(p) for index in periods for p in index],
                "value": self.values,
            }
        )


def format_period(period: pd.Period) -> str:
    """Canonical text of a period: ``2023``, ``2023-Q2`` or ``2023-05``."""
    freq = period.freqstr[0]
    if freq in {"Y", "A"}:
        return f"{period.year:04d}"
    if freq == "Q":
        return f"{period.year:04d}-Q{period.quarter}"
    return f"{period.year:04d}-{period.month:02d}"


def _parse_periods(data: pd.DataFrame) -> tuple[pd.Series, str]:
    raw = data["period"]
    if isinstance(raw.dtype, pd.PeriodDtype):
        freq = raw.dtype.freq.name[0].replace("A", "Y")
        if freq not in SEASON_LENGTHS:
            raise PanelError(
                f"period frequency {raw.dtype.freq.name} is not yearly, quarterly or monthly"
            )
        return raw, freq
    text = raw.astype(str).str.strip()
    freqs = text.map(period_frequency)
    bad = freqs.isna()
    if bad.any():
        examples = _examples(data.loc[bad], text[bad])
        raise PanelError(f"{int(bad.sum())} period(s) are not YYYY, YYYY-Qn or YYYY-MM: {examples}")
    found = sorted(set(freqs))
    if len(found) > 1:
        counts = freqs.value_counts()
        minority = freqs != counts.index[0]
        examples = _examples(data.loc[minority], text[minority])
        names = ", ".join(f"{FREQUENCY_NAMES[f]} ({counts[f]} rows)" for f in counts.index)
        raise PanelError(
            f"the file mixes frequencies: {names}; one frequency per file. Rows that differ from "
            f"the most common one: {examples}. Split the file, or aggregate first"
        )
    freq = found[0]
    codes, uniques = pd.factorize(text)
    periods = np.array([to_period(u, freq) for u in uniques], dtype=object)[codes]
    return pd.Series(periods, index=data.index, dtype=f"period[{_PANDAS_FREQ[freq]}]"), freq


def _parse_values(data: pd.DataFrame) -> pd.Series:
    raw = data["value"]
    numbers = pd.to_numeric(raw, errors="coerce")
    not_numeric = numbers.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
    if not_numeric.any():
        raise PanelError(
            f"{int(not_numeric.sum())} value(s) are not numbers: "
            f"{_examples(data.loc[not_numeric], raw[not_numeric].astype(str))}"
        )
    missing = numbers.isna()
    if missing.any():
        raise PanelError(
            f"{int(missing.sum())} value(s) are missing: "
            f"{_examples(data.loc[missing], raw[missing].astype(str))}; "
            "drop those rows (a gap inside a series can then be interpolated) or fill them"
        )
    infinite = ~np.isfinite(numbers.to_numpy(dtype=float))
    if infinite.any():
        mask = pd.Series(infinite, index=data.index)
        raise PanelError(
            f"{int(infinite.sum())} value(s) are infinite: "
            f"{_examples(data.loc[mask], raw[mask].astype(str))}"
        )
    return numbers.astype(float)


def _check_duplicates(data: pd.DataFrame) -> None:
    duplicated = data.duplicated(["series_id", "period"], keep=False)
    if duplicated.any():
        dup = data.loc[duplicated]
        examples = ", ".join(
            f"{sid} {format_period(p)}"
            for sid, p in dup[["series_id", "period"]]
            .drop_duplicates()
            .head(5)
            .itertuples(index=False)
        )
        raise PanelError(
            f"{int(duplicated.sum())} rows repeat a (series_id, period) pair, e.g. {examples}; "
            "keep one value per series and period (sum or average them first)"
        )


def _fill_gaps(
    series_id: str,
    ordinals: np.ndarray,
    values: np.ndarray,
    periods: pd.Series,
    gaps: GapPolicy,
) -> np.ndarray:
    full = np.arange(ordinals[0], ordinals[-1] + 1)
    if gaps == "error":
        missing = np.setdiff1d(full, ordinals)
        first = periods.iloc[0]
        shown = ", ".join(format_period(first + int(o - ordinals[0])) for o in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise MissingPeriods(
            f"series {series_id!r} has missing periods: {shown}{more}; add them, or let the "
            "gaps be interpolated"
        )
    return np.interp(full, ordinals, values)


def _examples(rows: pd.DataFrame, shown: pd.Series, limit: int = 5) -> str:
    """A few offending rows as ``series (row n): value``; the index holds file row numbers."""
    items = [
        f"series {sid!r} (row {int(position)}): {value!r}"
        for position, sid, value in zip(
            rows.index[:limit], rows["series_id"][:limit], shown[:limit], strict=True
        )
    ]
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return "; ".join(items) + more
