"""The engine end to end: robustness on awkward panels, calibration, counts, reproducibility."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from features.panel import Panel
from forecasting import executors
from forecasting.engine import ForecastEngine
from forecasting.metrics import coverage
from models.base import ModelError, NotFittedError

BASIC = ["naive", "drift"]


def random_walks(n: int, length: int, seed: int, drift: float = 0.0) -> Panel:
    rng = np.random.default_rng(seed)
    return Panel.from_arrays(
        {f"s{i}": 50 + np.cumsum(drift + rng.normal(0, 1, length)) for i in range(n)}, freq="Y"
    )


def test_predict_before_fit_is_refused() -> None:
    with pytest.raises(NotFittedError, match="call fit"):
        ForecastEngine(3).predict()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"horizon": 0}, "horizon"),
        ({"horizon": 3, "windows": 0}, "windows"),
        ({"horizon": 3, "levels": (80, 120)}, "levels"),
        ({"horizon": 3, "models": ["nonsense"]}, "unknown model"),
        ({"horizon": 3, "models": ["naive", "drift", "naive"]}, "naive named more than once"),
    ],
)
def test_bad_parameters_fail_with_a_clear_error(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ModelError, match=message):
        ForecastEngine(**kwargs).fit(random_walks(3, 10, 0))


def test_short_and_tiny_series_never_crash_or_give_nan() -> None:
    panel = Panel.from_arrays(
        {
            "one": np.array([7.0]),
            "two": np.array([3.0, 4.0]),
            "flat": np.full(12, 5.0),
            "normal": np.linspace(10, 30, 15),
            "zeros": np.zeros(8),
        },
        freq="Y",
    )
    forecast = ForecastEngine(4, models=BASIC).fit(panel).predict()
    frame = forecast.to_frame()
    assert len(frame) == 5 * 4
    assert np.isfinite(frame.drop(columns=["series_id", "period"]).to_numpy()).all()
    assert "one" in forecast.fallback
    one = frame[frame["series_id"] == "one"]
    assert (one["forecast"] == 7.0).all()


def test_panel_without_any_backtest_window_still_forecasts() -> None:
    panel = Panel.from_arrays({"a": np.array([1.0, 2.0]), "b": np.array([5.0])}, freq="Y")
    engine = ForecastEngine(3, models=BASIC).fit(panel)
    assert engine.selection_.members == ("naive",)
    assert np.isfinite(engine.predict().mean).all()


def test_counts_stay_non_negative() -> None:
    panel = Panel.from_arrays(
        {f"s{i}": np.maximum(0, 30 - 3 * np.arange(12) + i) for i in range(6)}, freq="Y"
    )
    forecast = ForecastEngine(6, models=BASIC).fit(panel).predict()
    assert (forecast.mean >= 0).all()
    assert (forecast.lower[95] >= 0).all()
    allowed = ForecastEngine(6, models=BASIC, non_negative=False).fit(panel).predict()
    assert (allowed.mean < 0).any()


def test_intervals_are_calibrated_out_of_sample() -> None:
    """Random walks with drift: the engine's intervals cover close to their level on the
    next values, while the drift model's own intervals (trusting its σ) are what they are."""
    horizon = 4
    full = random_walks(300, 18 + horizon, seed=11, drift=0.5)
    train, _ = full.drop_last(horizon)
    actual = np.stack([y[-horizon:] for _, y in full])
    forecast = ForecastEngine(horizon, models=BASIC, windows=3, step=1).fit(train).predict()
    for level, tolerance in ((80, 0.06), (95, 0.04)):
        observed = float(np.mean(coverage(actual, forecast.lower[level], forecast.upper[level])))
        assert observed == pytest.approx(level / 100, abs=tolerance)


def test_results_do_not_depend_on_parallelism() -> None:
    panel = random_walks(40, 15, seed=5, drift=0.2)
    serial = ForecastEngine(3, models=BASIC, n_jobs=1).fit(panel).predict()
    parallel = ForecastEngine(3, models=BASIC, n_jobs=2).fit(panel).predict()
    np.testing.assert_allclose(serial.mean, parallel.mean)
    np.testing.assert_allclose(serial.upper[80], parallel.upper[80])


def test_a_parallel_fit_starts_its_worker_processes_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each spawned process imports the model libraries (about a second); a fit maps four
    times (backtest, near backtest, holdout, final fit) and must not pay that four times."""
    started: list[int] = []
    real = executors.spawned_pool

    def counted(workers: int) -> ProcessPoolExecutor:
        started.append(workers)
        return real(workers)

    monkeypatch.setattr(executors, "spawned_pool", counted)
    ForecastEngine(4, models=BASIC, n_jobs=2).fit(random_walks(120, 15, seed=6, drift=0.2))
    assert started == [2]

    started.clear()  # every map a single task (one chunk of series): no processes at all
    ForecastEngine(4, models=BASIC, n_jobs=2).fit(random_walks(30, 15, seed=6, drift=0.2))
    assert started == []


def test_report_explains_the_choice() -> None:
    panel = random_walks(20, 16, seed=2, drift=1.0)
    engine = ForecastEngine(3, models=BASIC).fit(panel)
    report = engine.report_
    assert set(report.models["model"]) == {"naive", "drift"}
    best = report.combinations.iloc[0]
    assert report.selection.score <= float(best["score"]) * 1.003
    assert report.selection.members in set(report.combinations["members"])
    assert set(report.coverage) == {80, 95}
    assert report.coverage_rows == 20, "scored on every series at the newest origin"
    assert report.seconds["total"] > 0
    assert engine.predict(levels=(50,)).levels == (50,)


def test_without_backtest_errors_intervals_come_from_the_models() -> None:
    """Four years of history and a three-year horizon leave no backtest window: the intervals
    must still be real intervals, not zero-width."""
    rng = np.random.default_rng(4)
    panel = Panel.from_arrays(
        {f"s{i}": 100 + rng.normal(0, 10, 4).cumsum() for i in range(5)}, freq="Y"
    )
    engine = ForecastEngine(3, models=BASIC).fit(panel)
    assert engine.backtest_.n_rows == 0
    for levels in ((80, 95), (50,)):
        forecast = engine.predict(levels=levels)
        for level in levels:
            assert (forecast.upper[level] - forecast.lower[level] > 0).all()


def test_sample_paths_match_the_intervals_and_keep_dependence_over_steps() -> None:
    panel = random_walks(200, 20, seed=8, drift=0.3)
    engine = ForecastEngine(4, models=BASIC, windows=3).fit(panel)
    paths = engine.sample(2000, seed=1)
    assert paths.shape == (2000, 200, 4)
    forecast = engine.predict()
    inside = (paths >= forecast.lower[80][None]) & (paths <= forecast.upper[80][None])
    assert float(inside.mean()) == pytest.approx(0.8, abs=0.05)
    deviations = paths - forecast.mean[None]
    first, last = deviations[..., 0].ravel(), deviations[..., 3].ravel()
    assert np.corrcoef(first, last)[0, 1] > 0.3, "a path that starts high stays high"
    again = engine.sample(2000, seed=1)
    np.testing.assert_array_equal(paths, again)


def test_sample_paths_respect_counts_and_extend_past_the_backtest() -> None:
    panel = Panel.from_arrays(
        {f"s{i}": np.maximum(0, 20 - 2 * np.arange(10) + i % 3) for i in range(8)}, freq="Y"
    )
    engine = ForecastEngine(12, models=BASIC).fit(panel)
    assert engine.report_.windows.horizon < 12, "ten points cannot backtest twelve steps"
    paths = engine.sample(300, seed=0)
    assert paths.shape == (300, 8, 12)
    assert (paths >= 0).all()
    assert np.isfinite(paths).all()


def test_sample_without_backtest_errors_uses_the_model_intervals() -> None:
    panel = Panel.from_arrays({"a": np.array([10.0, 12.0, 11.0]), "b": np.array([5.0])}, freq="Y")
    paths = ForecastEngine(2, models=BASIC).fit(panel).sample(500, seed=2)
    assert paths.shape == (500, 2, 2)
    assert paths[:, 0].std() > 0
