"""Counts forecast on the log scale: growth kept as a rate, samples never negative."""

from __future__ import annotations

import numpy as np

from features.panel import Panel
from forecasting.counts import fit_counts, frame_in_counts, from_logs, log_counts, sample_counts
from forecasting.supply import forecast_frame


def growing_panel() -> Panel:
    rng = np.random.default_rng(3)
    years = np.arange(16)
    booming = 200 * 1.10**years * np.exp(rng.normal(0, 0.02, years.size))
    shrinking = 500 * 0.95**years * np.exp(rng.normal(0, 0.02, years.size))
    tiny = np.array([3, 0, 2, 1, 0, 4, 2, 1, 0, 3, 1, 2, 0, 1, 2, 1], dtype=float)
    return Panel.from_arrays(
        {"boom": booming, "decline": shrinking, "tiny": tiny}, freq="Y", starts={"boom": "2010"}
    )


def breaking_panel(seed: int = 0) -> Panel:
    """Ten years of postings with a known truth: 24 steady fields of about 1,000 (1% noise), a
    third of which break into 12% growth a year halfway, and four tiny fields posting
    Poisson(2) a year (a 99.9th percentile of 8)."""
    rng = np.random.default_rng(seed)
    years = np.arange(10)
    series = {}
    for k in range(24):
        level = 1000 * np.exp(rng.normal(0, 0.01, years.size))
        if k % 3 == 0:
            level = level * np.where(years >= 5, 1.12 ** (years - 4), 1.0)
        series[f"steady{k}"] = np.round(level)
    for k in range(4):
        series[f"tiny{k}"] = rng.poisson(2.0, years.size).astype(float)
    return Panel.from_arrays(series, freq="Y")


def test_tiny_fields_do_not_inherit_a_steady_fields_miss_as_a_factor_of_millions() -> None:
    """The steady fields that broke trend missed by 20-30 of their (tiny) naive scales; pooled
    as scaled errors and put on a tiny field's large log scale, ten years out, those misses
    were factors of 10^20 and more. Samples now stay within the largest ratio any backtest
    forecast missed by (log(1 + 7) for a tiny field going from 0 to 7), grown like a random
    walk past the backtest horizon; medians and the chance of exceeding any plausible supply
    do not move."""
    panel = breaking_panel()
    engine = fit_counts(panel, 10, n_jobs=1)
    samples = sample_counts(engine, 1000, seed=1)
    point = engine.predict().mean
    bound = engine.calibration_.largest_misses(10)
    assert bound[-1] < np.log(100), "no backtest forecast missed by a factor of 100"
    assert (np.abs(np.log1p(samples) - point[None]) <= bound[None, None, :] + 1e-9).all()
    tiny = [panel.ids.index(f"tiny{k}") for k in range(4)]
    assert samples[:, tiny].max() < 100
    assert samples[:, tiny].mean(axis=0).max() < 20

    engine.bounded_misses = False  # the same draws as the engine sampled before the bound
    exploded = sample_counts(engine, 1000, seed=1)
    assert exploded[:, tiny].max() > 1e6, "without the bound the tails explode"
    np.testing.assert_allclose(np.median(samples, axis=0), np.median(exploded, axis=0))
    typical = np.array([np.mean(y) for _, y in panel])[None, :, None]
    for ratio in (0.5, 1.0, 2.0):  # a supply of half, once or twice the usual postings
        shares = (samples > ratio * typical).mean(axis=0)
        np.testing.assert_allclose(shares, (exploded > ratio * typical).mean(axis=0), atol=0.01)


def test_a_booming_series_keeps_its_growth_rate_six_years_out() -> None:
    panel = growing_panel()
    engine = fit_counts(panel, 6, n_jobs=1)
    frame = frame_in_counts(forecast_frame("hiring", engine.predict(), engine.selection_.label))
    boom = frame[frame["series_id"] == "boom"]["forecast"].to_numpy()
    expected = 200 * 1.10 ** np.arange(16, 22)
    # A straight line through the raw counts would reach about 1 - 0.6/0.77 = 10% short.
    np.testing.assert_allclose(boom, expected, rtol=0.06)
    decline = frame[frame["series_id"] == "decline"]["forecast"].to_numpy()
    np.testing.assert_allclose(decline, 500 * 0.95 ** np.arange(16, 22), rtol=0.06)


def test_count_samples_are_never_negative_and_match_the_stated_median() -> None:
    panel = growing_panel()
    engine = fit_counts(panel, 4, n_jobs=1)
    samples = sample_counts(engine, 400, seed=1)
    assert samples.shape == (400, 3, 4)
    assert (samples >= 0).all()
    frame = frame_in_counts(forecast_frame("hiring", engine.predict(), engine.selection_.label))
    stated = frame[frame["series_id"] == "boom"]["forecast"].to_numpy()
    np.testing.assert_allclose(np.median(samples[:, 0, :], axis=0), stated, rtol=0.05)
    assert (frame.loc[:, ["lo_95", "lo_80", "forecast"]].to_numpy() >= 0).all()


def test_log_scale_round_trip_leaves_the_callers_panel_alone() -> None:
    panel = growing_panel()
    before = panel.values.copy()
    logged = log_counts(panel)
    np.testing.assert_array_equal(panel.values, before)
    np.testing.assert_allclose(from_logs(logged.values), before)
    assert from_logs(np.array([-3.0])).item() == 0.0
