"""Choosing what to forecast with, from backtest errors.

Per-series selection on annual series of 6-25 points picks noise: a series has one or two
backtest windows, and the "best" model there is often lucky. The engine therefore selects per
*group* of series (by default the whole panel of one frequency): every single model and every
median, mean and backtest-weighted mean of up to ``max_members`` models is scored on the pooled
backtest rows,
and the best one is used for every series of the group. The default score (``"owa"``) is the
M4 "overall weighted average" form: the mean of sMAPE and MASE, each relative to the naive
forecast, so both target metrics count equally. ``"mase"`` scores on the relative MASE alone,
for panels whose values sit around zero — rates on the logit scale, log ratios — where sMAPE
divides by |actual| + |forecast| close to zero: a step of 0.02 against 0.01 counts as a 67%
error there, so a handful of near-zero steps would decide the choice, and not on accuracy.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, get_args

import numpy as np
import pandas as pd

from forecasting.backtest import BacktestResult
from forecasting.metrics import mase, smape
from models.combination import Method, combine_arrays, member_weights

#: What candidates are scored on (module docstring).
Score = Literal["owa", "mase"]
SCORES: Final[tuple[Score, ...]] = get_args(Score)


def members_of(label: str) -> tuple[str, ...]:
    """The member models named in a :attr:`Selection.label` (``theta``,
    ``median(ets, theta)``, ``weighted mean(ets 0.60, theta 0.40)``), read back by the format
    the label is written in: a model named inside another's name (``naive`` in
    ``seasonal_naive``) is not one of its members."""
    if "(" not in label:
        return (label,)
    inner = label[label.index("(") + 1 : label.rindex(")")]
    return tuple(part.split()[0] for part in inner.split(",") if part.strip())


@dataclass(frozen=True)
class Selection:
    """The chosen forecast: one model (``members`` of length 1) or a combination."""

    members: tuple[str, ...]
    method: Method
    score: float
    weights: tuple[float, ...] | None = None

    @property
    def label(self) -> str:
        if len(self.members) == 1:
            return self.members[0]
        if self.weights is not None:
            parts = ", ".join(
                f"{m} {w:.2f}" for m, w in zip(self.members, self.weights, strict=True)
            )
            return f"weighted mean({parts})"
        return f"{self.method}({', '.join(self.members)})"

    def combine(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        """Combine member arrays (in ``members`` order) the way this selection prescribes."""
        return combine_arrays(arrays, self.method, self.weights)


def relative_score(
    result: BacktestResult,
    forecast: np.ndarray,
    rows: np.ndarray,
    baseline: str,
    score: Score = "owa",
) -> float:
    """The ``score`` of ``forecast`` on ``rows`` relative to the baseline's: 1.0 equals the
    baseline, lower is better."""
    actual = result.actual[rows]
    scale = result.scale[rows]
    reference = result.models[baseline].mean[rows]
    base_mase = float(np.mean(mase(actual, reference, scale)))
    ours_mase = float(np.mean(mase(actual, forecast[rows], scale)))
    if score == "mase":
        return _ratio(ours_mase, base_mase)
    base_smape = float(np.mean(smape(actual, reference)))
    ours_smape = float(np.mean(smape(actual, forecast[rows])))
    return 0.5 * (_ratio(ours_smape, base_smape) + _ratio(ours_mase, base_mase))


def candidate_scores(
    result: BacktestResult,
    candidates: Sequence[str],
    baseline: str,
    *,
    rows: np.ndarray | None = None,
    max_members: int = 4,
    score: Score = "owa",
) -> pd.DataFrame:
    """``score`` of every single model and every median/mean combination of the candidates."""
    rows = np.arange(result.n_rows) if rows is None else rows
    single = {
        name: relative_score(result, result.models[name].mean, rows, baseline, score)
        for name in candidates
    }
    records = []
    for size in range(1, min(max_members, len(candidates)) + 1):
        for members in itertools.combinations(candidates, size):
            arrays = [result.models[m].mean for m in members]
            options: list[tuple[Method, tuple[float, ...] | None]] = [("mean", None)]
            if size > 2:
                options.append(("median", None))
            if size > 1:
                # Backtest-weighted mean: weights inversely proportional to each member's score.
                raw = member_weights(single, members)
                options.append(("mean", tuple(w / sum(raw) for w in raw)))
            for method, weighting in options:
                forecast = combine_arrays(arrays, method, weighting)
                records.append(
                    {
                        "members": members,
                        "method": method,
                        "weights": weighting,
                        "size": size,
                        "score": relative_score(result, forecast, rows, baseline, score),
                    }
                )
    return pd.DataFrame.from_records(records).sort_values(["score", "size"]).reset_index(drop=True)


def select(
    result: BacktestResult,
    candidates: Sequence[str],
    baseline: str,
    *,
    rows: np.ndarray | None = None,
    max_members: int = 4,
    tolerance: float = 0.0025,
    score: Score = "owa",
) -> tuple[Selection, pd.DataFrame]:
    """The best candidate by ``score`` (module docstring), preferring larger combinations
    among near-ties.

    Within ``tolerance`` of the best score the difference is noise, and a combination of more
    models is the safer bet out of sample.
    """
    table = candidate_scores(
        result, candidates, baseline, rows=rows, max_members=max_members, score=score
    )
    best = float(table["score"].iloc[0])
    near = table[table["score"] <= best * (1 + tolerance)]
    chosen = near.sort_values(["size", "score"], ascending=[False, True]).iloc[0]
    selection = Selection(
        tuple(chosen["members"]), chosen["method"], float(chosen["score"]), chosen["weights"]
    )
    return selection, table


def _ratio(value: float, reference: float) -> float:
    if reference > 0:
        return value / reference
    return 1.0 if value == 0 else 2.0
