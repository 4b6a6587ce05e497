"""The coverage gate reads honest coverage: intervals calibrated on older backtest origins,
scored on the newest, judged with the sampling error of the rows they were scored on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.panel import Panel
from forecasting.backtest import ModelRef, Windows, backtest
from forecasting.calibration import calibrate
from forecasting.engine import ForecastEngine, backtest_report
from forecasting.executors import SerialExecutor
from forecasting.metrics import coverage
from forecasting.promotion import Check, Gates, check_gates, coverage_limits
from forecasting.regions import pool_backtests

BASIC = ["naive", "drift"]


def walks(n: int, length: int, seed: int, *, calm_until: int | None = None) -> Panel:
    """Random walks; from ``calm_until`` on their steps are six times as large."""
    rng = np.random.default_rng(seed)
    spread = np.ones(length)
    if calm_until is not None:
        spread[calm_until:] = 6.0
    return Panel.from_arrays(
        {f"s{i}": 100 + np.cumsum(rng.normal(0, 1, length) * spread) for i in range(n)}, freq="Y"
    )


def coverage_checks(engine: ForecastEngine) -> dict[str, Check]:
    result = check_gates({}, backtest_report("hiring", engine), Gates())
    return {check.name: check for check in result.checks if check.name.startswith("coverage_")}


def in_sample_coverage(engine: ForecastEngine) -> float:
    """What the gate used to read: intervals calibrated on the backtest rows, scored on them."""
    result = engine.backtest_
    members = engine.selection_.members
    combined = engine.selection_.combine([result.models[m].mean for m in members])
    calibration = calibrate(result.actual, combined, result.scale)
    lower, upper = calibration.intervals(combined, result.scale, (80,))
    return float(np.mean(coverage(result.actual, lower[80], upper[80])))


def test_the_coverage_gate_fails_on_a_volatility_break() -> None:
    """Calm for 18 years, then six times as volatile: intervals calibrated on the calm past
    cover a fraction of what happened, and the gate says so."""
    engine = ForecastEngine(4, models=BASIC).fit(walks(200, 20, seed=0, calm_until=18))
    report = backtest_report("hiring", engine)
    selected = report[report["model"] == "selected"].iloc[0]
    assert selected["coverage_80"] < 0.4
    assert selected["coverage_rows"] == 200
    assert engine.report_.coverage_offset == 2, "scored on the near-end window"
    checks = coverage_checks(engine)
    assert not checks["coverage_80:hiring"].passed
    assert not checks["coverage_95:hiring"].passed
    assert "200 held-out series" in checks["coverage_80:hiring"].detail
    # Scored on the rows it was calibrated on, the same forecast looked fine.
    assert in_sample_coverage(engine) > 0.7


def test_a_small_stable_panel_passes() -> None:
    """A new city's first run: a dozen series, a short history. Its coverage on a dozen rows
    is noisy (often 100%), which is no reason to hold it back."""
    engine = ForecastEngine(4, models=BASIC).fit(walks(12, 14, seed=2))
    assert engine.report_.coverage_rows == 12
    checks = coverage_checks(engine)
    assert set(checks) == {"coverage_80:hiring", "coverage_95:hiring"}
    assert all(check.passed for check in checks.values()), [c.detail for c in checks.values()]


def test_a_large_stable_panel_passes_near_nominal() -> None:
    engine = ForecastEngine(4, models=BASIC).fit(walks(200, 20, seed=1))
    assert engine.report_.coverage[80] == pytest.approx(0.8, abs=0.1)
    assert all(check.passed for check in coverage_checks(engine).values())


def test_a_selection_made_as_of_the_held_out_origin_gets_its_near_end_forecasts() -> None:
    """The held-out check selects on older windows; when it picks models the served forecast
    does not use, their near-end forecasts are backtested on the same rows."""
    panel = walks(10, 16, seed=4)
    windows = Windows(4, count=0, step=2, partial=True)
    near = backtest(panel, [ModelRef("naive")], windows)
    both = ForecastEngine._add_members(panel, near, ("naive", "drift"), windows, SerialExecutor())
    assert set(both.models) == {"naive", "drift"}
    np.testing.assert_array_equal(both.models["naive"].mean, near.models["naive"].mean)
    alone = backtest(panel, [ModelRef("drift")], windows)
    np.testing.assert_allclose(both.models["drift"].mean, alone.models["drift"].mean)


def test_without_an_older_origin_there_is_nothing_to_score() -> None:
    engine = ForecastEngine(3, models=BASIC, windows=1, near_windows=False).fit(walks(8, 12, 3))
    assert engine.report_.coverage_rows == 0
    assert np.isnan(engine.report_.coverage[80])
    assert all(check.passed for check in coverage_checks(engine).values())


@pytest.mark.parametrize(
    ("share", "rows", "bounds", "passes"),
    [
        (1.00, 12, (0.70, 0.95), True),  # a new city's first run
        (0.22, 200, (0.70, 0.95), False),  # a volatility break
        (0.60, 10, (0.70, 0.95), True),
        (0.60, 400, (0.70, 0.95), False),
        (0.99, 400, (0.70, 0.95), False),
    ],
)
def test_coverage_is_judged_with_its_sampling_error(
    share: float, rows: int, bounds: tuple[float, float], passes: bool
) -> None:
    least, most = coverage_limits(share, rows, 0.95)
    assert 0 <= least <= share <= most <= 1
    assert (most >= bounds[0] and least <= bounds[1]) is passes
    table = {"kind": "x", "model": "selected", "coverage_80": share, "coverage_rows": rows}
    result = check_gates({}, pd.DataFrame([table]), Gates(coverage_80=bounds))
    check = next(c for c in result.checks if c.name == "coverage_80:x")
    assert check.passed is passes


@pytest.mark.parametrize(
    ("share", "regions", "passes"),
    [
        (0.64, 1, False),  # one region of 640 rows: surely below 70%
        (0.64, 16, True),  # 16 cities of 40 rows sharing their years: as sure as one city
        (0.40, 16, False),  # far below the bound: no city of 40 rows covers that little by chance
    ],
)
def test_a_pooled_coverage_is_as_sure_as_its_largest_region(
    share: float, regions: int, passes: bool
) -> None:
    """A province pools its cities' held-out rows; rows of the same newest years err
    together, so 16 cities of 40 rows are judged like one city of 40, not like 640 rows."""
    city = {"kind": "x", "model": "selected", "coverage_80": share, "coverage_rows": 640 // regions}
    table = pool_backtests(pd.DataFrame([city] * regions)) if regions > 1 else pd.DataFrame([city])
    assert int(table["coverage_rows"].iloc[0]) == 640
    result = check_gates({}, table, Gates())
    check = next(c for c in result.checks if c.name == "coverage_80:x")
    assert check.passed is passes
    if regions > 1:
        assert check.code == "coverage.pooled"
        assert f"640 held-out series of {regions} regions" in check.detail
        assert "the largest region's 40" in check.detail


def test_the_confidence_is_a_setting() -> None:
    strict, _ = coverage_limits(0.6, 10, 0.5)
    assert strict == pytest.approx(0.6, abs=0.03)
    with pytest.raises(ValueError, match="coverage_confidence"):
        Gates(coverage_confidence=1.0)
