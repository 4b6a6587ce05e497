"""Backtest windows, selection among combinations, and conformal calibration."""

from __future__ import annotations

import numpy as np
import pytest

from features.panel import Panel
from forecasting.backtest import (
    BacktestResult,
    ModelRef,
    Predictions,
    Windows,
    backtest,
    cut_window,
    fit_predict,
)
from forecasting.calibration import Calibration, calibrate, empirical_minimum
from forecasting.engine import ForecastEngine, backtest_report
from forecasting.executors import ProcessExecutor, SerialExecutor
from forecasting.metrics import coverage
from forecasting.selection import Selection, candidate_scores, members_of, select
from models.base import ModelError
from models.lightgbm_global import LightGBMGlobal


def trending_panel(n: int = 12, length: int = 20, seed: int = 0) -> Panel:
    rng = np.random.default_rng(seed)
    series = {
        f"s{i}": 100 + 3 * np.arange(length) + rng.normal(0, 1, length).cumsum() for i in range(n)
    }
    return Panel.from_arrays(series, freq="Y")


def test_windows_cut_the_right_actuals() -> None:
    panel = Panel.from_arrays({"a": np.arange(10.0), "b": np.arange(5.0)}, freq="Y")
    history, kept, actual = cut_window(panel, offset=4, horizon=2)
    assert kept.tolist() == [0], "b keeps one value: too little history"
    assert history.series(0).tolist() == [0, 1, 2, 3, 4, 5]
    assert actual.tolist() == [[6.0, 7.0]]
    assert Windows(horizon=3, count=3, step=2).offsets() == [3, 5, 7]


def test_backtest_rows_and_forecasts() -> None:
    panel = trending_panel()
    result = backtest(
        panel, [ModelRef("naive"), ModelRef("drift")], Windows(horizon=4, count=2, step=2)
    )
    assert result.n_rows == 2 * panel.n_series
    assert set(result.window) == {0, 1}
    # naive forecasts the last value before the origin
    row = int(np.flatnonzero((result.series == 3) & (result.window == 1))[0])
    y = panel.series(3)
    assert result.models["naive"].mean[row].tolist() == [y[-7]] * 4
    assert result.actual[row].tolist() == y[-6:-2].tolist()
    assert np.isfinite(result.models["drift"].mean).all()


def test_process_executor_gives_the_same_backtest_as_serial() -> None:
    panel = trending_panel(n=30)
    models = [ModelRef("naive"), ModelRef("drift")]
    windows = Windows(horizon=3, count=2, step=1)
    serial = backtest(panel, models, windows, executor=SerialExecutor(), chunk_size=7)
    parallel = backtest(panel, models, windows, executor=ProcessExecutor(2), chunk_size=7)
    np.testing.assert_array_equal(serial.series, parallel.series)
    np.testing.assert_allclose(serial.models["drift"].mean, parallel.models["drift"].mean)
    np.testing.assert_allclose(serial.actual, parallel.actual)


def test_fit_predict_covers_every_series_in_order() -> None:
    panel = trending_panel(n=9)
    forecasts = fit_predict(panel, [ModelRef("drift")], 2, chunk_size=4)
    assert forecasts["drift"].ids == panel.ids
    last = np.array([y[-1] for _, y in panel])
    assert (forecasts["drift"].mean[:, 0] != last).all()


def test_models_learning_a_fixed_number_of_steps_are_made_for_the_horizon_asked() -> None:
    """The final fit and the backtests create LightGBM for their horizon (9 here, past its
    yearly default of 6), so every step has its own model instead of an extension."""
    panel = trending_panel(n=30, length=24)
    forecasts = fit_predict(panel, [ModelRef("lightgbm", (("n_estimators", 20),))], 9)
    direct = LightGBMGlobal(max_horizon=9, n_estimators=20).fit(panel).predict(9)
    np.testing.assert_array_equal(forecasts["lightgbm"].mean, direct.mean)
    refs = [ModelRef("lightgbm", (("n_estimators", 20),))]
    result = backtest(panel, refs, Windows(horizon=9, count=1))
    history, _, _ = cut_window(panel, 9, 9)
    window = LightGBMGlobal(max_horizon=9, n_estimators=20).fit(history).predict(9)
    np.testing.assert_array_equal(result.models["lightgbm"].mean, window.mean)


def test_selection_prefers_the_model_that_wins_the_backtest() -> None:
    panel = trending_panel()
    result = backtest(
        panel, [ModelRef("naive"), ModelRef("drift")], Windows(horizon=4, count=2, step=2)
    )
    selection, table = select(result, ["naive", "drift"], "naive")
    assert selection.members == ("drift",)
    assert selection.score < 1
    assert table["score"].is_monotonic_increasing
    scores = candidate_scores(result, ["naive", "drift"], "naive")
    naive_row = scores[scores["members"] == ("naive",)]
    assert float(naive_row["score"].iloc[0]) == pytest.approx(1.0)


def test_conformal_intervals_cover_their_level_on_fresh_errors() -> None:
    rng = np.random.default_rng(3)
    rows, horizon = 400, 5
    growth = np.sqrt(np.arange(1, horizon + 1))
    forecast = np.zeros((rows, horizon))
    scale = rng.uniform(0.5, 2.0, rows)
    actual = scale[:, None] * rng.standard_t(5, (rows, horizon)) * growth
    calibration = calibrate(actual, forecast, scale)
    fresh_scale = rng.uniform(0.5, 2.0, 4000)
    fresh = fresh_scale[:, None] * rng.standard_t(5, (4000, horizon)) * growth
    lower, upper = calibration.intervals(np.zeros((4000, horizon)), fresh_scale, (80, 95))
    assert float(np.mean(coverage(fresh, lower[80], upper[80]))) == pytest.approx(0.80, abs=0.03)
    assert float(np.mean(coverage(fresh, lower[95], upper[95]))) == pytest.approx(0.95, abs=0.02)
    widths = (upper[95] - lower[95])[0] / fresh_scale[0]
    assert (np.diff(widths) >= 0).all(), "intervals never narrow further ahead"


def test_few_errors_give_t_intervals_that_cover_their_level_and_nest() -> None:
    """Six errors per step: too few for an empirical 80% or 95% interval. The t fallback
    covers close to its level over many such calibrations (the largest of six errors, what
    the conformal quantile saturates at, covers about 71% at either level)."""
    rng = np.random.default_rng(0)
    trials, n = 4000, 6
    inside = {80: 0, 95: 0}
    for _ in range(trials):
        errors = rng.normal(0, 1, (n, 1))
        quantiles = Calibration(errors, None, None).nested_quantiles((95, 80))
        fresh = rng.normal()
        for level, (low, high) in quantiles.items():
            assert low[0] <= 0 <= high[0], "an interval holds its forecast"
            inside[level] += int(low[0] <= fresh <= high[0])
        assert quantiles[95][0][0] < quantiles[80][0][0]
        assert quantiles[95][1][0] > quantiles[80][1][0]
    assert inside[80] / trials == pytest.approx(0.80, abs=0.025)
    assert inside[95] / trials == pytest.approx(0.95, abs=0.015)


def test_what_each_level_rests_on_is_reported() -> None:
    rng = np.random.default_rng(1)
    plenty = Calibration(rng.normal(0, 1, (50, 3)), None, None)
    assert plenty.basis(80).basis == plenty.basis(95).basis == "backtest quantiles"
    thin = Calibration(rng.normal(0, 1, (12, 3)), None, None)
    assert thin.basis(80).basis == "backtest quantiles"
    assert thin.basis(95).basis == "t fit"
    assert thin.basis(95).fewest_errors == 12
    assert "an empirical 95% interval needs 39" in thin.basis(95).describe()
    assert Calibration(np.full((1, 2), np.nan), None, None).basis(80).basis == "model"
    assert [empirical_minimum(level) for level in (50, 80, 95)] == [3, 9, 39]


def test_enough_errors_keep_the_conformal_quantiles() -> None:
    errors = np.arange(1.0, 41.0)[:, None] - 20.5
    low, high = Calibration(errors, None, None).quantiles(95)
    assert (low[0], high[0]) == (-19.5, 19.5), "the 40 errors' extremes at ⌈41·0.975⌉/40"


def test_a_heavy_tailed_lower_level_still_leaves_the_higher_one_wider() -> None:
    """Twelve errors, one far out: the empirical 80% bound reaches the outlier's side
    further than a t fit at 95% would; 95% is widened beyond it, not left equal."""
    errors = np.r_[np.linspace(-1, 1, 11), 30.0][:, None]
    quantiles = Calibration(errors, None, None).nested_quantiles((80, 95))
    assert quantiles[95][1][0] > quantiles[80][1][0]
    assert quantiles[95][0][0] < quantiles[80][0][0]


def test_calibration_extends_beyond_the_backtest_horizon() -> None:
    errors = np.tile(np.array([[1.0, -1.0]]), (50, 1))
    calibration = calibrate(errors, np.zeros_like(errors), np.ones(50))
    lower, upper = calibration.intervals(np.zeros((1, 4)), np.ones(1), (80,))
    assert upper[80][0, 3] > upper[80][0, 1] > 0
    assert lower[80][0, 3] < 0


def test_partial_windows_reach_only_their_first_steps() -> None:
    assert Windows(horizon=6, count=2, step=2, partial=True).offsets() == [2, 4, 6, 8]
    panel = Panel.from_arrays({"a": np.arange(10.0)}, freq="Y")
    _, kept, actual = cut_window(panel, offset=2, horizon=4)
    assert kept.tolist() == [0]
    assert actual[0, :2].tolist() == [8.0, 9.0]
    assert np.isnan(actual[0, 2:]).all()


def test_each_step_is_calibrated_on_the_nearest_origins_reaching_it() -> None:
    horizon = 4
    near = np.full((100, horizon), np.nan)
    near[:, :2] = np.tile(np.linspace(-1, 1, 100)[:, None], (1, 2))  # offset 2: small errors
    far = np.tile(np.linspace(-10, 10, 100)[:, None], (1, horizon))  # offset 4: large errors
    errors = np.concatenate([near, far])
    offsets = np.array([2] * 100 + [4] * 100)
    nearest = calibrate(errors, np.zeros_like(errors), np.ones(200), offsets, nearest=1)
    pooled = calibrate(errors, np.zeros_like(errors), np.ones(200))
    low, high = nearest.quantiles(80)
    assert high[0] == pytest.approx(0.8, abs=0.05), "step 1 uses the offset-2 origin only"
    assert high[2] == pytest.approx(8.0, abs=0.5), "step 3 is reached by offset 4 only"
    assert pooled.quantiles(80)[1][0] > 3, "pooling lets far origins widen the first steps"
    assert low[0] == pytest.approx(-0.8, abs=0.05)


def test_a_calibration_as_of_an_origin_uses_only_what_was_known_then() -> None:
    """As of offset 2: rows of that origin (and newer) are left out, older rows are cut to the
    steps whose actuals preceded it, and offsets count from then."""
    errors = np.arange(24, dtype=float).reshape(6, 4)
    errors[:2, 2:] = np.nan  # origin 2: a near-end window, two steps known
    offsets = np.array([2, 2, 4, 4, 6, 6])
    calibration = calibrate(errors, np.zeros_like(errors), np.ones(6), offsets, nearest=2)
    then = calibration.as_of(2)
    assert then.offsets is not None
    assert then.offsets.tolist() == [2, 2, 4, 4]
    assert then.horizon == 4
    assert np.isnan(then.errors[:2, 2:]).all(), "origin 4 had seen two steps by then"
    np.testing.assert_array_equal(then.errors[2:], errors[4:])
    assert calibration.as_of(6).empty
    with pytest.raises(ValueError, match="offsets"):
        calibrate(errors, np.zeros_like(errors), np.ones(6)).as_of(2)


def test_complete_paths_and_the_errors_each_step_is_calibrated_on() -> None:
    errors = np.arange(24, dtype=float).reshape(6, 4)
    errors[:2, 2:] = np.nan
    offsets = np.array([2, 2, 4, 4, 6, 6])
    nearest = calibrate(errors, np.zeros_like(errors), np.ones(6), offsets, nearest=1)
    paths, origins = nearest.complete_paths()
    assert origins.tolist() == [4, 4, 6, 6], "every whole path, whatever the nearest rule"
    np.testing.assert_array_equal(paths, errors[2:])
    assert nearest.step_errors(0).tolist() == [0.0, 4.0], "step 1: the offset-2 origin"
    assert nearest.step_errors(3).tolist() == [11.0, 15.0], "step 4: offset 4 reaches it first"
    pooled = calibrate(errors, np.zeros_like(errors), np.ones(6), offsets, nearest=None)
    assert pooled.step_errors(0).size == 6


def test_largest_misses_are_read_in_the_series_own_units() -> None:
    """A row with a tiny scale has the largest scaled error but not the largest miss."""
    actual = np.array([[0.3, 0.6, 0.9], [1.0, 0.5, 0.2], [0.0, np.nan, np.nan]])
    scale = np.array([0.01, 1.0, 0.5])
    calibration = calibrate(actual, np.zeros_like(actual), scale)
    assert np.nanmax(np.abs(calibration.errors)) == pytest.approx(90.0)
    misses = calibration.largest_misses(6)
    np.testing.assert_allclose(misses[:3], [1.0, 1.0, 1.0])  # never narrower further ahead
    np.testing.assert_allclose(misses[3:], np.sqrt(np.arange(4, 7) / 3))  # √h past the backtest
    unscaled = calibrate(actual, np.zeros_like(actual), np.full(3, 1e-12))
    assert np.isinf(unscaled.largest_misses(3)).all(), "no row to tell: no bound"


def test_a_selections_members_are_read_back_from_its_label_by_name_not_by_substring() -> None:
    one = Selection(("seasonal_naive",), "median", 0.5)
    combined = Selection(("holt_winters", "theta"), "median", 0.5)
    weighted = Selection(("damped", "seasonal_naive"), "mean", 0.5, weights=(0.6, 0.4))
    for selection in (one, combined, weighted):
        assert members_of(selection.label) == selection.members
    # "naive" and "holt" are other models whose names sit inside these members' names.
    assert "naive" not in members_of(one.label)
    assert "holt" not in members_of(combined.label)


def test_the_mase_score_selects_on_scaled_errors_where_smape_is_unstable() -> None:
    # Logit rates near 0.5 sit around 0: half the steps at 0.01, half at 1.0. Model "level"
    # misses every step by 0.1 (the smaller absolute error), "proportional" by 30% of the
    # value (0.003 on the small steps, 0.3 on the large): sMAPE, dividing by values near 0,
    # calls the 0.1 misses of 0.01 huge and prefers "proportional"; scaled errors prefer
    # "level". All misses lie on the same side, so no combination beats the better member.
    actual = np.tile([0.01, 1.0, 0.01, 1.0], (6, 1))
    forecasts = {"naive": actual - 0.3, "level": actual + 0.1, "proportional": actual * 1.3}
    empty: dict[int, np.ndarray] = {}
    result = BacktestResult(
        horizon=4,
        levels=(),
        series=np.arange(6),
        window=np.zeros(6, dtype=int),
        actual=actual,
        scale=np.full(6, 0.5),
        models={name: Predictions(mean, empty, empty) for name, mean in forecasts.items()},
    )
    by_mase, _ = select(result, ["level", "proportional"], "naive", score="mase")
    assert by_mase.members == ("level",)
    assert by_mase.score == pytest.approx(0.1 / 0.3)
    by_owa, _ = select(result, ["level", "proportional"], "naive")
    assert by_owa.members != ("level",), "the case must be one sMAPE decides differently"


def test_the_engine_selects_on_the_score_it_is_given() -> None:
    panel = trending_panel()
    for score in ("mase", "owa"):
        engine = ForecastEngine(4, models=["naive", "drift", "theta"], score=score).fit(panel)
        report = backtest_report("rate", engine).set_index("model")
        relative_mase = report.loc["selected", "mase"] / report.loc["naive", "mase"]
        matches = report.loc["selected", "relative"] == pytest.approx(relative_mase, abs=1e-9)
        assert matches == (score == "mase")
    with pytest.raises(ModelError, match="score must be one of 'owa', 'mase', got 'smape'"):
        ForecastEngine(4, score="smape").fit(panel)  # type: ignore[arg-type]
