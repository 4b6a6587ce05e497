"""Accuracy of the forecasting engine on the product's own annual series, against its members
and statsforecast.

The demo city (Tianjin) is loaded into a temporary store and read back as the training
pipeline reads it. Each kind of annual series the pipeline forecasts is built by the
pipeline's own panel code and on the scale the engine is fitted on:

- ``enrollment``: entrants per programme still enrolling, on log(1 + count)
  (:func:`forecasting.supply.intake_panel`);
- ``graduates``: graduates per programme, on log(1 + count). The pipeline derives graduates
  from enrolled cohorts and forecast intake rather than forecasting them, so this kind scores
  how the engine would do on them;
- ``rates``: placement, in-field and local rates per field and level, on the logit
  (:func:`forecasting.supply.rate_panel`);
- ``hiring``: yearly postings per field and level, on log(1 + count) (the yearly path of
  :mod:`forecasting.demand`, which the demo's ten complete years take);
- ``tightness``: log of postings ÷ realised supply per field and level
  (:func:`forecasting.demand.tightness_panel`).

Every series loses its last ``--holdout`` years (series left with fewer than ``--min-train``
years are left out); every model fits the rest and forecasts the held-out years: the engine
with its defaults, the engine with the settings the pipeline fits that kind with, every
registered yearly member alone, and statsforecast's AutoETS, AutoARIMA, DynamicOptimizedTheta
and Theta alone and their median (a series a peer cannot fit, such as AutoETS on six values
or fewer, gets statsforecast's naive fallback). Reported per model as in ``accuracy.py``:
MASE and sMAPE on the engine's scale (also as ratios to naive), MASE and sMAPE on the
original scale (counts, rates, ratios: sMAPE of a logit or log ratio near zero divides by
almost nothing), the coverage of the 80% and 95% intervals (the same on either scale: the
bounds map back monotonically) and milliseconds per series on one core; and, per kind, the
MASE and sMAPE of the engine as the pipeline fits that kind minus every other model's, paired
over series with a 95% bootstrap interval (``better``/``worse`` only beyond that noise).

    python experiments/benchmarks/annual_kinds.py --holdout 3
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from data.demo import load_demo
from data.ingest import open_store
from experiments.benchmarks.accuracy import (
    SLOW_FAMILIES,
    Transform,
    best_models,
    engine_row,
    model_table,
    paired_differences,
    peer_median_ms,
    peer_rows,
    standing,
    zoo_rows,
)
from experiments.benchmarks.recording import publish
from features.panel import Panel
from features.talent import TalentData, expit
from forecasting.counts import from_logs, log_counts
from forecasting.demand import realised_tightness, tightness_panel
from forecasting.engine import BASELINES
from forecasting.supply import intake_panel, observed_supply, rate_panel

#: Engine settings the pipeline fits each scale with: counts in
#: :func:`forecasting.counts.fit_counts`, rates and tightness in ``forecasting.supply`` and
#: ``forecasting.demand`` (neither is kept at or above zero: logits and log ratios go below,
#: and both are selected on scaled errors alone, sMAPE being unstable around zero).
COUNT_SETTINGS: Mapping[str, Any] = {"non_negative": False, "bounded_misses": True}
SIGNED_SETTINGS: Mapping[str, Any] = {"non_negative": False, "score": "mase"}

METRICS = ("MASE", "sMAPE", "MASE orig", "sMAPE orig")
#: The engine fitted with the settings the pipeline fits each kind with: what the product uses,
#: and what the paired table compares with every other model.
PIPELINE_ENGINE = "ENGINE (pipeline settings)"


@dataclass(frozen=True)
class Kind:
    """One kind of annual series: its panel on the engine's scale, the map back to the
    original scale, and the engine settings the pipeline uses for it."""

    name: str
    scale: str
    panel: Panel
    original: Transform
    settings: Mapping[str, Any]


def demo_data() -> TalentData:
    """The demo city as the pipeline reads it, from a temporary SQLite store."""
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(f"sqlite:///{Path(folder) / 'store.db'}")
        try:
            load_demo(store)
            return TalentData.from_store(store)
        finally:
            store.dispose()


def _enrollment(data: TalentData) -> Kind | None:
    panel = intake_panel(data)
    if panel is None:
        return None
    return Kind("enrollment", "log(1 + count)", log_counts(panel), from_logs, COUNT_SETTINGS)


def _graduates(data: TalentData) -> Kind:
    panel = log_counts(data.programme_panel("graduates"))
    return Kind("graduates", "log(1 + count)", panel, from_logs, COUNT_SETTINGS)


def _rates(data: TalentData) -> Kind | None:
    panel = rate_panel(data)
    return None if panel is None else Kind("rates", "logit", panel, expit, SIGNED_SETTINGS)


def _hiring(data: TalentData) -> Kind:
    panel = log_counts(data.hiring_panel())
    return Kind("hiring", "log(1 + count)", panel, from_logs, COUNT_SETTINGS)


def _tightness(data: TalentData) -> Kind | None:
    postings = data.annual_hiring().rename(columns={"postings": "demand"})
    realised = realised_tightness(postings, observed_supply(data))
    if realised.empty:
        return None
    return Kind("tightness", "log ratio", tightness_panel(realised), np.exp, SIGNED_SETTINGS)


KINDS: dict[str, Callable[[TalentData], Kind | None]] = {
    "enrollment": _enrollment,
    "graduates": _graduates,
    "rates": _rates,
    "hiring": _hiring,
    "tightness": _tightness,
}


def hold_out(panel: Panel, holdout: int, min_train: int) -> tuple[Panel, np.ndarray]:
    """The panel without each series' last ``holdout`` values and those values (series,
    holdout); series left shorter than ``min_train`` are dropped."""
    train, kept = panel.drop_last(holdout, min_length=min_train)
    if kept.size == 0:
        raise ValueError(
            f"no series has {min_train + holdout} years: lower --holdout or --min-train"
        )
    actual = np.stack([panel.series(int(p))[-holdout:] for p in kept])
    return train, actual


def kind_table(
    kind: Kind, holdout: int, *, slow: bool, min_train: int
) -> tuple[str, pd.DataFrame, pd.DataFrame, str]:
    """Title, table, paired comparison (the engine with the pipeline's settings, which is what
    the product forecasts the kind with, minus every other model, as in
    ``accuracy.py``) and note of one kind: every model fitted on the training years and scored
    on the held-out ones."""
    train, actual = hold_out(kind.panel, holdout, min_train)
    original = kind.original
    rows = zoo_rows(train, actual, holdout, slow, original=original)
    default, selected, _ = engine_row(train, actual, holdout, original=original)
    piped, piped_selected, _ = engine_row(
        train,
        actual,
        holdout,
        name=PIPELINE_ENGINE,
        settings=kind.settings,
        original=original,
    )
    rows += [default, piped, *peer_rows(train, actual, holdout, original=original)]
    table = model_table(rows, BASELINES[train.freq])
    paired = paired_differences(rows, reference=PIPELINE_ENGINE)
    best = best_models(table, METRICS)
    ratio = default["ms/series"] / peer_median_ms(table)
    title = (
        f"{kind.name} ({kind.scale}): {train.n_series} of {kind.panel.n_series} series, "
        f"holdout {holdout} years"
    )
    note = (
        f"{kind.name}: engine (default) selected {selected}, with pipeline settings "
        f"{piped_selected}; best "
        + ", ".join(f"{metric} {model}" for metric, model in best.items())
        + f"; engine (pipeline settings) among all models MASE {standing(paired, 'MASE')}, sMAPE "
        f"{standing(paired, 'sMAPE')}; engine time / peer median time {ratio:.2f}"
    )
    return title, table.round(3), paired.round(3), note


def run(
    data: TalentData,
    names: list[str],
    holdout: int,
    *,
    slow: bool = False,
    min_train: int = 4,
    limit: int | None = None,
) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Tables and notes for the kinds ``names``; ``limit`` keeps the first series of each."""
    tables: dict[str, pd.DataFrame] = {}
    notes: list[str] = []
    for name in names:
        kind = KINDS[name](data)
        if kind is None:
            notes.append(f"{name}: no series in the data")
            continue
        if limit is not None:
            panel = kind.panel.take(range(min(limit, kind.panel.n_series)))
            kind = dataclasses.replace(kind, panel=panel)
        title, table, paired, note = kind_table(kind, holdout, slow=slow, min_train=min_train)
        tables[title] = table
        tables[
            f"{kind.name}: engine (pipeline settings) minus each model, paired over series (95% "
            "bootstrap)"
        ] = paired
        notes.append(note)
    return tables, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--holdout", type=int, default=3, help="years held out per series")
    parser.add_argument(
        "--min-train", type=int, default=4, help="fewest training years a scored series keeps"
    )
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    parser.add_argument(
        "--slow", action="store_true", help=f"also run {', '.join(sorted(SLOW_FAMILIES))} alone"
    )
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    tables, notes = run(
        demo_data(), args.kinds, args.holdout, slow=args.slow, min_train=args.min_train
    )
    publish("annual_kinds", tables, notes, save=not args.no_record)


if __name__ == "__main__":
    main()
