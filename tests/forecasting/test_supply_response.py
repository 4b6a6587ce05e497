"""Supply responds to the market: a field growing tighter draws more of its graduates in."""

from __future__ import annotations

import numpy as np
import pytest
from support import steady_data, tiny_catalog

from data.catalog import Catalog
from features.talent import TalentData
from forecasting.balance import compute_balance, recent_tightness
from forecasting.market import market_history
from forecasting.settings import BalanceSettings
from forecasting.supply import forecast_supply, respond_to_tightness

SETTINGS = BalanceSettings(horizon=4, n_samples=200)


@pytest.fixture
def steady(default_catalog: Catalog) -> TalentData:
    # The steady one-programme AI city of the balance tests (supply 10,000 a year).
    return steady_data(tiny_catalog(default_catalog, [("080717T", "bachelor", 4, "ai")]), 20_000)


def test_tighter_markets_raise_in_field_rates_and_supply(steady: TalentData) -> None:
    supply = forecast_supply(steady, SETTINGS, frozen_rates=("infield",))
    market = market_history(steady)
    recent = recent_tightness(market, supply.fields, supply.levels)
    n = SETTINGS.n_samples
    no_scale = np.zeros((n, len(supply.fields)))
    ai = supply.fields.index("ai")
    bachelor = supply.levels.index("bachelor")
    base = float(np.exp(recent[ai, bachelor]))  # postings per graduate available, recently
    available = supply.by_field_level / supply.rates["infield"].mean()  # rough, for openings
    openings = np.zeros_like(supply.by_field_level)
    openings[:, ai, bachelor, :] = base * available[:, ai, bachelor, :] * 2.0  # twice as tight
    beta = np.full(n, 0.8)
    tighter = respond_to_tightness(supply, openings, no_scale, recent, beta)
    same = respond_to_tightness(supply, openings, no_scale, recent, np.zeros(n))
    before = supply.by_field_level[:, ai, bachelor, :].mean()
    assert same.by_field_level[:, ai, bachelor, :].mean() == pytest.approx(before, rel=1e-9)
    after = tighter.by_field_level[:, ai, bachelor, :].mean()
    # logit(0.5) + 0.8 × log 2 → in-field rate 0.5 → 0.635: supply up by about 27%.
    assert after / before == pytest.approx(0.635 / 0.5, rel=0.05)
    programme = supply.programmes.index("080717T|bachelor")
    assert (tighter.rates["infield"][:, programme] > supply.rates["infield"][:, programme]).all()
    others = [p for p in range(len(supply.programmes)) if p != programme]
    assert np.allclose(tighter.rates["infield"][:, others], supply.rates["infield"][:, others])


def test_the_balance_records_the_scales_it_turned_postings_into_openings_with(
    steady: TalentData,
) -> None:
    result = compute_balance(steady, SETTINGS)
    scales = result.outputs()["demand_scales"].set_index("field_code")
    assert scales.loc["ai", "source"] == "prior across fields"  # no hires, no relation
    assert (
        scales.loc["ai", "scale_p10"]
        < scales.loc["ai", "scale_p50"]
        < scales.loc["ai", "scale_p90"]
    )
    history = result.balance[
        (result.balance["field_code"] == "ai") & (result.balance["year"] == 2025)
    ]
    # History in openings: the 20,000 postings divided by the median scale.
    median = scales.loc["ai", "scale_p50"]
    bachelor = history[history["level"] == "bachelor"].iloc[0]
    assert bachelor["demand_p50"] == pytest.approx(20_000 / median, rel=1e-6)
