"""Engine fits shared within a run: one fit per panel, and the numbers of fitting anew."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from worlds import HR_BUREAU, hiring_frame, load_world, upload

from data.ingest import open_store
from data.store import Store
from features.panel import Panel
from features.talent import TalentData
from forecasting.balance import compute_balance
from forecasting.engine import ForecastEngine
from forecasting.fits import fitted, shared_fits
from forecasting.settings import BalanceSettings

SETTINGS = BalanceSettings(horizon=4, n_samples=200, n_jobs=1)


def panel(values: list[float]) -> Panel:
    frame = pd.DataFrame(
        {
            "series_id": "a",
            "period": [str(2010 + i) for i in range(len(values))],
            "value": values,
        }
    )
    return Panel.from_frame(frame)


def test_a_panel_is_fitted_once_per_block_and_on_every_call_outside_one() -> None:
    fits: list[Panel] = []

    def fit(p: Panel) -> ForecastEngine:
        fits.append(p)
        return ForecastEngine(2)

    series = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    with shared_fits():
        first = fitted("rate", panel(series), 2, lambda: fit(panel(series)))
        again = fitted("rate", panel(series), 2, lambda: fit(panel(series)))
        assert again is first, "the same content is the same panel"
        fitted("rate", panel(series), 3, lambda: fit(panel(series)))
        fitted("hiring", panel(series), 2, lambda: fit(panel(series)))
        fitted("rate", panel([*series[:-1], 6.5]), 2, lambda: fit(panel(series)))
        assert len(fits) == 4, "another horizon, place or value fits anew"
    fitted("rate", panel(series), 2, lambda: fit(panel(series)))
    assert len(fits) == 5, "the block's fits are gone when it ends"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    load_world(store)
    yield store
    store.dispose()


@pytest.mark.slow
def test_balances_sharing_fits_are_those_fitted_anew(world: Store) -> None:
    """As in a run: the balance of the data before a hiring revision, then after it."""
    before = TalentData.from_store(world)
    revised = hiring_frame(first=2024, last=2024, factors={"ic": 1.4})
    upload(world, "hiring", revised[revised["field_code"] == "ic"], HR_BUREAU, "ic.csv")
    after = TalentData.from_store(world)
    with shared_fits():
        shared = [compute_balance(data, SETTINGS) for data in (before, after)]
    for data, result in zip((before, after), shared, strict=True):
        alone = compute_balance(data, SETTINGS)
        pd.testing.assert_frame_equal(result.balance, alone.balance)
        pd.testing.assert_frame_equal(result.drivers, alone.drivers)
