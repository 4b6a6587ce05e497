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
