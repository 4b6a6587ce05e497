"""Plotly figures of the dashboard, built server-side and drawn in the browser by ``charts.js``.

Building figures in Python keeps the numbers in one place (the run's outputs, read with pandas)
and lets the tests check a chart's data without a browser; the page only embeds
``fig.to_json()``. Labels arrive already translated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import pandas as pd
import plotly.graph_objects as go

from forecasting.wording import format_probability

TEMPLATE: Final = "plotly_white"
FONT: Final = {"family": "system-ui, 'Noto Sans CJK SC', 'Microsoft YaHei', sans-serif", "size": 13}
#: Colour of each quantity, with the fills of its 80% and 95% bands.
COLOURS: Final[dict[str, tuple[str, str, str]]] = {
    "supply": ("#1f5fa8", "rgba(31,95,168,0.30)", "rgba(31,95,168,0.13)"),
    "demand": ("#b85410", "rgba(184,84,16,0.30)", "rgba(184,84,16,0.13)"),
    "gap": ("#6a3d9a", "rgba(106,61,154,0.30)", "rgba(106,61,154,0.13)"),
}
#: Light to dark: P(shortage) 0 is calm, 1 is alarming.
SHORTAGE_SCALE: Final = [
    [0.0, "#f7fbff"],
    [0.25, "#fde0a6"],
    [0.5, "#fdae61"],
    [0.75, "#e4572e"],
    [1.0, "#99101b"],
]


@dataclass(frozen=True)
class FanLabels:
    """Translated legend entries of a fan chart."""

    title: str
    history: str
    median: str
    band_80: str
    band_95: str
    unit: str
    zero: str = ""


def shortage_heatmap(
    matrix: pd.DataFrame, row_labels: Sequence[str], title: str, colorbar: str
) -> go.Figure:
    """P(shortage): one row per field (in the order of ``matrix``), one column per year.

    ``matrix`` is indexed by field code with one column per year; missing cells (a field not
    taught at a level) stay empty rather than looking like "no shortage".
    """
    z = [[None if pd.isna(v) else round(float(v), 4) for v in row] for row in matrix.to_numpy()]
    # Hover labels say ">99%" rather than rounding a near-certainty up to "100%".
    text = [["" if v is None else format_probability(v) for v in row] for row in z]
    years = [str(year) for year in matrix.columns]
    figure = go.Figure(
        go.Heatmap(
            z=z,
            x=years,
            y=list(row_labels),
            customdata=[[code] * len(years) for code in matrix.index],
            text=text,
            zmin=0,
            zmax=1,
            colorscale=SHORTAGE_SCALE,
            xgap=2,
            ygap=2,
            colorbar={"title": {"text": colorbar}, "tickformat": ".0%", "thickness": 14},
            hovertemplate="%{y} · %{x}<br>" + colorbar + ": %{text}<extra></extra>",
        )
    )
    figure.update_layout(
        template=TEMPLATE,
        font=FONT,
        title={"text": title, "x": 0, "xanchor": "left"},
        height=max(260, 90 + 24 * len(row_labels)),
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
        xaxis={"type": "category", "side": "bottom", "fixedrange": True},
        yaxis={"autorange": "reversed", "automargin": True, "fixedrange": True},
    )
    return figure


def fan_chart(
    rows: pd.DataFrame, quantity: str, last_observed_year: int, labels: FanLabels
) -> go.Figure:
    """History as a line, then the forecast median with its 80% and 95% bands.

    ``rows`` are one field and level's balance rows; ``quantity`` is ``supply``, ``demand``
    or ``gap``. The median starts at the last observed point so the two lines join.
    """
    line, inner, outer = COLOURS[quantity]
    rows = rows.sort_values("year")
    past = rows[rows["year"] <= last_observed_year]
    future = rows[rows["year"] > last_observed_year]
    figure = go.Figure()
    if not future.empty:
        years = [int(y) for y in future["year"]]
        for low, high, colour, name in (
            ("p05", "p95", outer, labels.band_95),
            ("p10", "p90", inner, labels.band_80),
        ):
            lower = _values(future[f"{quantity}_{low}"])
            upper = _values(future[f"{quantity}_{high}"])
            figure.add_trace(
                go.Scatter(
                    x=years + years[::-1],
                    y=upper + lower[::-1],
                    mode="lines",
                    fill="toself",
                    fillcolor=colour,
                    line={"width": 0},
                    name=name,
                    hoverinfo="skip",
                )
            )
        joined = pd.concat([past.tail(1), future])
        figure.add_trace(
            go.Scatter(
                x=[int(y) for y in joined["year"]],
                y=_values(joined[f"{quantity}_p50"]),
                mode="lines+markers",
                line={"color": line, "width": 2, "dash": "dash"},
                marker={"size": 5},
                name=labels.median,
                hovertemplate="%{x}: %{y:,.0f}<extra>" + labels.median + "</extra>",
            )
        )
    if not past.empty:
        figure.add_trace(
            go.Scatter(
                x=[int(y) for y in past["year"]],
                y=_values(past[f"{quantity}_p50"]),
                mode="lines+markers",
                line={"color": line, "width": 2.5},
                marker={"size": 5},
                name=labels.history,
                hovertemplate="%{x}: %{y:,.0f}<extra>" + labels.history + "</extra>",
            )
        )
    if labels.zero:
        figure.add_hline(
            y=0, line={"color": "#555", "width": 1, "dash": "dot"}, annotation_text=labels.zero
        )
    figure.update_layout(
        template=TEMPLATE,
        font=FONT,
        title={"text": labels.title, "x": 0, "xanchor": "left"},
        height=340,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        xaxis={"tickformat": "d", "tickangle": 0},
        yaxis={"title": {"text": labels.unit}, "tickformat": ",d", "automargin": True},
        legend={"orientation": "h", "yanchor": "top", "y": -0.12, "x": 0},
        hovermode="closest",
    )
    return figure


def _values(column: pd.Series) -> list[float | None]:
    return [None if pd.isna(v) else round(float(v), 2) for v in column]
