"""The accuracy benchmark's paired comparison: "best" only beyond the noise of which series
happen to be hard."""

from __future__ import annotations

import numpy as np

from experiments.benchmarks.accuracy import ENGINE, PER_SERIES, paired_differences, standing


def _row(model: str, mase: np.ndarray, smape: np.ndarray) -> dict[str, object]:
    return {"model": model, PER_SERIES: {"MASE": mase, "sMAPE": smape}}


def _centred(rng: np.random.Generator, n: int) -> np.ndarray:
    noise = rng.normal(0, 0.05, n)
    return noise - noise.mean()


def test_verdicts_follow_the_paired_interval_not_the_means() -> None:
    rng = np.random.default_rng(3)
    hardness = rng.gamma(2.0, 1.0, size=200)  # shared by every model: cancels when paired
    ours = hardness + rng.normal(0, 0.05, 200)
    rows = [
        _row(ENGINE, ours, 10 * ours),
        # Worse by 0.1 on every series: tiny next to the spread of hardness, yet certain.
        _row("steady loser", ours + 0.1, 10 * ours + 1),
        # As accurate on average, series by series different.
        _row("twin", ours + _centred(rng, 200), 10 * ours),
        _row("PEER winner", ours - 0.2 + rng.normal(0, 0.05, 200), 10 * ours - 2),
    ]
    paired = paired_differences(rows).set_index("model")

    assert paired.loc["steady loser", "MASE"] == "better"
    assert paired.loc["twin", "MASE"] == "tied"
    assert paired.loc["PEER winner", "MASE"] == "worse"
    assert paired.loc["PEER winner", "MASE low"] > 0
    assert paired.loc["steady loser", "MASE high"] < 0


def test_standing_names_the_models_ahead_beyond_noise() -> None:
    rng = np.random.default_rng(4)
    ours = rng.gamma(2.0, 1.0, size=150)
    tied = [_row(ENGINE, ours, ours), _row("twin", ours + _centred(rng, 150), ours)]
    assert standing(paired_differences(tied), "MASE") == "tied-best"

    ahead = [*tied, _row("PEER winner", ours - 0.3, ours - 0.3)]
    assert standing(paired_differences(ahead), "sMAPE") == "behind PEER winner"

    alone = [_row(ENGINE, ours, ours), _row("loser", ours + 0.3, ours + 0.3)]
    assert standing(paired_differences(alone), "MASE") == "best"
