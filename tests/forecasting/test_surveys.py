"""Surveys move demand within bounds: a few low uploads cannot overturn the postings forecast."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.demand import MAX_SURVEY_SHARE, _combine_with_surveys

YEARS = np.arange(2026, 2031)


def ic_openings() -> np.ndarray:
    """IC bachelor openings forecast at ~5,000 (±10%): (samples, fields, levels, years)."""
    rng = np.random.default_rng(0)
    return np.exp(rng.normal(np.log(5000), 0.1, (2000, 1, 1, len(YEARS))))


def combine(
    headcount: float,
    residual_sd: float,
    n_surveys: int = 1,
    openings: np.ndarray | None = None,
    surveyed: np.ndarray = YEARS,
) -> np.ndarray:
    """``openings`` (default :func:`ic_openings`), and ``n_surveys`` associations each stating
    ``headcount`` for the ``surveyed`` years with the given track record (no bias)."""
    openings = ic_openings() if openings is None else openings
    sources = [f"assoc{i}" for i in range(n_surveys)]
    surveys = pd.DataFrame(
        [(s, 2025, int(y), "ic", "bachelor", headcount) for s in sources for y in surveyed],
        columns=["source", "survey_year", "target_year", "field_code", "level", "headcount"],
    )
    bias = pd.DataFrame(
        {
            "source": sources,
            "field_code": "ic",
            "n_surveys": 3,
            "log_bias": 0.0,
            "factor": 1.0,
            "residual_sd": residual_sd,
        }
    )
    combined = _combine_with_surveys(
        openings, surveys, bias, years=YEARS, fields=("ic",), levels=("bachelor",), seed=1
    )
    return combined[:, 0, 0, :]


def test_a_survey_in_line_with_the_forecast_narrows_it() -> None:
    alone = combine(5000, residual_sd=10.0)  # a useless survey changes nothing
    helped = combine(5200, residual_sd=0.15)
    assert np.median(helped) == np.clip(np.median(helped), 4900, 5200)
    assert np.std(np.log(helped)) < np.std(np.log(alone))


def test_two_low_surveys_cannot_overturn_the_forecast() -> None:
    # Two associations with a perfect-looking record state a third of the forecast.
    combined = combine(1776, residual_sd=0.15, n_surveys=2)
    median = float(np.median(combined))
    assert median > 3500, f"surveys outweighed the postings forecast: median {median:.0f}"
    # Together they never get more than MAX_SURVEY_SHARE of the weight (in log space).
    floor = np.exp(MAX_SURVEY_SHARE * np.log(1776) + (1 - MAX_SURVEY_SHARE) * np.log(5000))
    assert median >= 0.95 * floor


def test_a_survey_stating_no_need_is_finite() -> None:
    combined = combine(0, residual_sd=0.15)
    assert np.isfinite(combined).all()
    assert float(np.median(combined)) < 5000, "a stated need of zero pulls demand down"


def test_a_sample_with_no_openings_in_the_last_surveyed_year_stays_plausible_after_it() -> None:
    """Surveys reach 2028; in 10 samples the postings draw of 2028 is next to nothing (an
    empty supply draw times a tightness ratio gives 1e-20 of an opening). The surveys pull
    those samples far up in 2028, but later years, whose postings are ordinary again, keep
    at most the adjustment of a sample with ordinary postings in 2028 (before, they were
    10^20 times their postings and the cell's mean was absurd)."""
    openings = ic_openings()
    collapsed = np.arange(10)
    openings[collapsed, 0, 0, 2] = 1e-20
    combined = combine(5000, residual_sd=0.15, openings=openings, surveyed=YEARS[:3])
    later = combined[:, 3:]
    carried = np.log(later / openings[:, 0, 0, 3:])[:, 0]
    kept = np.setdiff1d(np.arange(openings.shape[0]), collapsed)
    assert carried[collapsed].max() <= carried[kept].max() + 1e-9
    assert carried[kept].max() < np.log(3), "a survey in line with postings moves little"
    assert later.mean() < 1.1 * np.median(later)
    np.testing.assert_allclose(np.median(later, axis=0), np.median(later[kept], axis=0), rtol=0.01)
