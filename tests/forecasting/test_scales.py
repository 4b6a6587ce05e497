"""The openings scale: postings per opening, from hires, outcome rates or the admin."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.talent import expit
from forecasting.scales import estimate_scales

YEARS = range(2012, 2026)
LEVELS = ("bachelor", "master")


def market(
    scales: dict[str, float],
    *,
    hires_fields: tuple[str, ...],
    seed: int = 0,
    beta: float = 0.8,
    field_sd: float = 0.05,
) -> pd.DataFrame:
    """A market where postings = k_f × openings and graduates choose the field by tightness:
    logit(in-field share) = -0.2 + beta × x + field effect with x = log(openings ÷ supply at
    the base share), hires = min(openings, supply). Openings wander around that supply so
    that some years are slack and some tight."""
    rng = np.random.default_rng(seed)
    rows = []
    for f, (code, k) in enumerate(scales.items()):
        effect = rng.normal(0, field_sd)
        for level in LEVELS:
            potential = 1000.0 * (1 + f % 3)
            log_ratio = rng.normal(0, 0.3) + np.cumsum(rng.normal(0, 0.12, len(YEARS)))
            for year, x in zip(YEARS, log_ratio, strict=True):
                openings = potential * float(expit(-0.2)) * np.exp(x)
                share = float(expit(-0.2 + beta * x + effect + rng.normal(0, 0.03)))
                supply = potential * share
                postings = k * openings * np.exp(rng.normal(0, 0.03))
                rows.append(
                    {
                        "field_code": code,
                        "level": level,
                        "year": year,
                        "postings": postings,
                        "hires": min(openings, supply) if code in hires_fields else np.nan,
                        "supply": supply,
                        "potential": potential,
                        "graduates": potential * 1.2,
                        "infield_share": share,
                        "placement_rate": 0.9,
                        "tightness_index": np.log(postings / potential),
                    }
                )
    return pd.DataFrame(rows)


TRUE = {"ai": 3.0, "ic": 1.5, "biomedicine": 4.5, "health": 2.0, "tourism": 1.2, "culture": 2.5}


def test_hires_pin_the_scale_of_their_field() -> None:
    estimate = estimate_scales(market(TRUE, hires_fields=tuple(TRUE)), tuple(TRUE))
    table = estimate.table().set_index("field_code")
    for code, k in TRUE.items():
        assert table.loc[code, "source"] == "hires"
        assert table.loc[code, "scale_p50"] == pytest.approx(k, rel=0.1)
        assert table.loc[code, "scale_p10"] <= k * 1.05
        assert table.loc[code, "scale_p90"] >= k * 0.95


def test_fields_without_hires_are_placed_by_the_outcome_relation() -> None:
    anchors = ("ai", "ic", "health", "tourism")
    estimate = estimate_scales(market(TRUE, hires_fields=anchors), tuple(TRUE))
    assert estimate.relations["infield_share"].usable
    assert estimate.relations["infield_share"].beta == pytest.approx(0.8, rel=0.25)
    table = estimate.table().set_index("field_code")
    for code in ("biomedicine", "culture"):
        assert table.loc[code, "source"] == "outcome rates"
        assert table.loc[code, "scale_p50"] == pytest.approx(TRUE[code], rel=0.25)
    # Ranking the two by scale needs only the relation: 4.5 vs 2.5 postings per opening.
    assert table.loc["biomedicine", "scale_p50"] > table.loc["culture", "scale_p50"]


def test_the_admin_scale_wins_and_is_reported_with_its_source() -> None:
    frame = market(TRUE, hires_fields=())
    estimate = estimate_scales(frame, tuple(TRUE), {"ai": (3.0, "association census 2024")})
    row = estimate.table().set_index("field_code").loc["ai"]
    assert row["source"] == "admin: association census 2024"
    assert row["scale_p50"] == pytest.approx(3.0, rel=0.02)
    with pytest.raises(ValueError, match="unknown field 'nope'"):
        estimate_scales(frame, tuple(TRUE), {"nope": (2.0, "x")})
    with pytest.raises(ValueError, match="must be positive"):
        estimate_scales(frame, tuple(TRUE), {"ai": (0.0, "x")})


def test_without_any_anchor_scales_are_assumed_and_say_so() -> None:
    estimate = estimate_scales(market(TRUE, hires_fields=()), tuple(TRUE))
    table = estimate.table()
    assert (table["source"] == "outcome rates").all()
    assert table["note"].str.contains("balanced on average").all()
    assert estimate.shared_sd >= 0.4, "the level of every scale is an assumption"
    draws = estimate.draw(2000, np.random.default_rng(1))
    spread = np.quantile(draws, 0.9, axis=0) - np.quantile(draws, 0.1, axis=0)
    assert (spread > 0.8).all(), "80% intervals wider than a factor e^0.8"
    # The shared level makes the fields' draws move together.
    assert np.corrcoef(draws[:, 0], draws[:, 1])[0, 1] > 0.3


def test_no_market_history_leaves_the_prior() -> None:
    empty = market(TRUE, hires_fields=()).iloc[0:0]
    estimate = estimate_scales(empty, tuple(TRUE))
    table = estimate.table()
    assert (table["source"] == "prior across fields").all()
    assert (table["scale_p90"] / table["scale_p10"] > 5).all()
