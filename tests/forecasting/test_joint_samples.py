"""Joint samples: each sample is one backtest cross-section, shared across series and engines.

Series hit by a common shock must stay correlated in the samples, so that totals over series
are as wide as they really are; independent series must stay independent; engines given the
same draws must pick the same origins; and each series' spread must stay the calibrated one.
"""

from __future__ import annotations

import numpy as np
import pytest

from features.panel import Panel
from forecasting.engine import FALLBACK_COMMON_SHARE, ForecastEngine
from forecasting.joint import JointDraws, OriginErrors
from models.base import ModelError

HORIZON = 4
#: Many non-overlapping windows pooled: enough origins to measure the common shock on.
MANY_WINDOWS = {"models": ["naive"], "windows": 10, "step": 4, "nearest_origins": None}


def shocked_walks(n: int, length: int, seed: int, *, common: float, own: float) -> Panel:
    """Random walks whose steps are one shock shared by all series plus their own."""
    rng = np.random.default_rng(seed)
    shared = common * rng.standard_normal(length)
    return Panel.from_arrays(
        {f"s{i}": 100 + np.cumsum(shared + own * rng.standard_normal(length)) for i in range(n)},
        freq="Y",
    )


def real_total_sd(n: int, common: float, own: float, sims: int = 20_000) -> float:
    """Spread of the error of the naive forecast of the n-series total, HORIZON steps ahead,
    measured by simulating the process forward."""
    rng = np.random.default_rng(123)
    shared = common * rng.standard_normal((sims, 1, HORIZON))
    individual = own * rng.standard_normal((sims, n, HORIZON))
    return float((shared + individual).sum(axis=(1, 2)).std())


def mean_correlation(paths: np.ndarray, step: int) -> float:
    matrix = np.corrcoef(paths[:, :, step].T)
    return float(matrix[np.triu_indices(matrix.shape[0], 1)].mean())


def test_a_common_shock_keeps_series_correlated_and_totals_honest() -> None:
    n, common, own = 40, 1.0, 0.3
    real = real_total_sd(n, common, own)
    ratios = []
    for seed in range(4):
        engine = ForecastEngine(HORIZON, **MANY_WINDOWS).fit(
            shocked_walks(n, 60, seed, common=common, own=own)
        )
        paths = engine.sample(2000, seed=1)
        assert mean_correlation(paths, HORIZON - 1) > 0.5
        ratios.append(float(paths[:, :, -1].sum(axis=1).std()) / real)
    # Each panel's estimate rests on ten origins, so one panel may be off by a third or so;
    # drawing every series independently gave about a fifth of the real spread.
    assert min(ratios) > 0.45
    assert np.mean(ratios) == pytest.approx(1.0, abs=0.25)


def test_independent_series_stay_independent() -> None:
    n, own = 40, 1.0
    real = real_total_sd(n, 0.0, own)
    engine = ForecastEngine(HORIZON, **MANY_WINDOWS).fit(
        shocked_walks(n, 60, 3, common=0.0, own=own)
    )
    paths = engine.sample(2000, seed=1)
    assert abs(mean_correlation(paths, HORIZON - 1)) < 0.05
    # The mean of 40 residuals is noise, not a shock: shrunk away, the total is not widened.
    assert float(paths[:, :, -1].sum(axis=1).std()) / real == pytest.approx(1.0, abs=0.2)
    assert engine.origin_errors_ is not None
    assert engine.origin_errors_.common_share()[-1] < 0.05


def test_engines_given_the_same_draws_pick_the_same_origins() -> None:
    """Two engines whose series share the same shocks (say intake and hiring of one city):
    with one JointDraws their totals move together, with their own draws they do not."""
    rng = np.random.default_rng(5)
    shared = rng.standard_normal(60)
    first = Panel.from_arrays(
        {f"a{i}": 100 + np.cumsum(shared + 0.3 * rng.standard_normal(60)) for i in range(30)},
        freq="Y",
    )
    second = Panel.from_arrays(
        {f"b{i}": 50 + np.cumsum(0.5 * shared + 0.2 * rng.standard_normal(60)) for i in range(20)},
        freq="Y",
    )
    one = ForecastEngine(HORIZON, **MANY_WINDOWS).fit(first)
    two = ForecastEngine(HORIZON, **MANY_WINDOWS).fit(second)
    assert one.origin_errors_ is not None
    assert two.origin_errors_ is not None
    np.testing.assert_array_equal(one.origin_errors_.offsets, two.origin_errors_.offsets)
    joint = JointDraws.draw(2000, seed=7)
    together = [
        e.sample(2000, seed=s, joint=joint)[:, :, -1].sum(axis=1) for e, s in ((one, 1), (two, 2))
    ]
    apart = [e.sample(2000, seed=s)[:, :, -1].sum(axis=1) for e, s in ((one, 1), (two, 2))]
    assert np.corrcoef(*together)[0, 1] > 0.8
    assert abs(np.corrcoef(*apart)[0, 1]) < 0.1


def test_same_seed_and_draws_give_the_same_samples() -> None:
    engine = ForecastEngine(HORIZON, models=["naive", "drift"]).fit(
        shocked_walks(12, 20, 1, common=1, own=1)
    )
    np.testing.assert_array_equal(engine.sample(300, seed=4), engine.sample(300, seed=4))
    joint = JointDraws.draw(300, seed=9)
    np.testing.assert_array_equal(
        engine.sample(300, seed=4, joint=joint), engine.sample(300, seed=4, joint=joint)
    )
    assert not np.array_equal(engine.sample(300, seed=4), engine.sample(300, seed=5))
    with pytest.raises(ModelError, match="joint draws hold 300 samples"):
        engine.sample(200, seed=4, joint=joint)


def test_sampled_intervals_cover_what_the_calibrated_intervals_cover() -> None:
    """Under a common shock too, each series' sampled spread is the calibrated one: samples
    fall inside predict()'s 80% intervals about 80% of the time, the samples' own 80%
    intervals are about as wide (a little narrower: the conformal bounds add a finite-sample
    margin), and both cover the values that really came about about equally often."""
    full = shocked_walks(60, 24 + HORIZON, seed=2, common=0.7, own=1.0)
    train, _ = full.drop_last(HORIZON)
    actual = np.stack([y[-HORIZON:] for _, y in full])
    engine = ForecastEngine(HORIZON, models=["naive", "drift"], windows=3).fit(train)
    forecast = engine.predict()
    paths = engine.sample(4000, seed=3)
    inside = (paths >= forecast.lower[80][None]) & (paths <= forecast.upper[80][None])
    assert float(inside.mean()) == pytest.approx(0.8, abs=0.05)
    low, high = np.quantile(paths, [0.1, 0.9], axis=0)
    widths = (high - low) / (forecast.upper[80] - forecast.lower[80])
    assert 0.85 < float(np.median(widths)) <= 1.0
    sampled = float(np.mean((actual >= low) & (actual <= high)))
    stated = float(np.mean((actual >= forecast.lower[80]) & (actual <= forecast.upper[80])))
    assert sampled == pytest.approx(stated, abs=0.08)


def test_without_backtest_errors_samples_share_part_of_their_spread() -> None:
    rng = np.random.default_rng(4)
    panel = Panel.from_arrays(
        {f"s{i}": 100 + rng.normal(0, 10, 4).cumsum() for i in range(6)}, freq="Y"
    )
    engine = ForecastEngine(3, models=["naive"]).fit(panel)
    assert engine.origin_errors_ is None
    paths = engine.sample(4000, seed=0)
    assert mean_correlation(paths, 0) == pytest.approx(FALLBACK_COMMON_SHARE, abs=0.06)


def test_origin_errors_split_common_and_own_parts() -> None:
    rng = np.random.default_rng(0)
    offsets = np.repeat([4, 6, 8, 10], 200)
    shocks = np.repeat(rng.normal(0, 2, (4, 3)), 200, axis=0)
    shared = OriginErrors.from_errors(shocks + rng.normal(0, 0.5, (800, 3)), offsets)
    assert shared.offsets.tolist() == [4, 6, 8, 10]
    assert (shared.common_share() > 0.8).all()
    # The mean of 200 independent residuals is noise, not a shock, and is shrunk away.
    alone = OriginErrors.from_errors(rng.normal(0, 1, (800, 3)), offsets)
    assert (alone.common_share() < 0.05).all()
    single = OriginErrors.from_errors(np.ones((2, 3)), np.array([4, 6]))
    assert (single.common == 0).all(), "one row per origin says nothing about a cross-section"
    draws = shared.draw(np.array([0, 3]), 5, np.random.default_rng(1))
    assert draws.shape == (2, 5, 3)


def test_joint_draws_are_validated_and_map_to_origin_ranks() -> None:
    joint = JointDraws.draw(1000, seed=1)
    assert joint.n_samples == 1000
    index = joint.origin_index(3)
    assert set(index.tolist()) == {0, 1, 2}
    np.testing.assert_array_equal(index, JointDraws.draw(1000, seed=1).origin_index(3))
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        JointDraws(np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="positive"):
        JointDraws.draw(0)
