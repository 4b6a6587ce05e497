"""The balance backtest: replays from what the store held then, both baselines, totals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from worlds import COMMISSION, load_by_year, load_world, programme_frames, upload

from data.catalog import Catalog, catalog_from_frames
from data.ingest import open_store
from data.store import Store
from features.talent import TalentData
from forecasting.balance_backtest import (
    PERSISTENCE_TREND,
    REVISED,
    choose_demand_model,
    persistence,
    persistence_with_trend,
    replay_data,
    score_persistence_trend,
    total_coverage,
)
from forecasting.pipeline import TrainingConfig, train
from forecasting.promotion import Gates
from forecasting.quotas import QuotaSettings
from forecasting.settings import BalanceSettings


def remapped(catalog: Catalog) -> Catalog:
    """Programme 080704 counted half in IC, half in other fields."""
    long = catalog.to_long_programmes()
    ic = (long["programme_code"] == "080704") & (long["level"] == "bachelor")
    other = long[ic].assign(field_code="other", weight=0.5)
    long.loc[ic, "weight"] = 0.5
    return catalog_from_frames(catalog.fields, pd.concat([long, other], ignore_index=True))


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield store
    store.dispose()


def test_a_replay_reads_the_values_and_catalog_the_store_held_then(sqlite_store: Store) -> None:
    store = sqlite_store
    uploads = load_by_year(store, archive=2019, last=2023)
    first_of_2022 = min(u.id for u in uploads if (u.filename or "").endswith("_2022.csv"))
    old = programme_frames(first=2018, last=2018)["enrollment"]
    upload(store, "enrollment", old.assign(enrolled=old["enrolled"] * 3), COMMISSION, "fix.csv")
    store.add_catalog(remapped(store.catalog()), uploader="admin")
    today = TalentData.from_store(store)

    replay = replay_data(store, today, 2021, as_of=store.watermark(), city_region="120000")
    assert replay.vintage == f"store as of upload #{replay.upload}"
    assert replay.upload == first_of_2022 - 1
    assert replay.data.last_year == 2021
    enrolled = replay.data.enrollment.set_index(["programme_code", "year"])["enrolled"]
    revised = today.enrollment.set_index(["programme_code", "year"])["enrolled"]
    assert revised[("080704", 2018)] == 3 * enrolled[("080704", 2018)], "the old value"
    weights = replay.data.catalog.crosswalk
    ic = weights[(weights["programme_code"] == "080704") & (weights["field_code"] == "ic")]
    assert ic["weight"].tolist() == [1.0], "the catalog of then"
    assert int(replay.data.hiring["period"].str[:4].astype(int).max()) == 2021


def test_a_bulk_loaded_store_falls_back_to_revised_data_and_says_so(
    sqlite_store: Store,
) -> None:
    load_world(sqlite_store)
    today = TalentData.from_store(sqlite_store)
    replay = replay_data(
        sqlite_store, today, 2021, as_of=sqlite_store.watermark(), city_region="120000"
    )
    assert (replay.vintage, replay.upload) == (REVISED, None)
    assert replay.data.last_year == 2021
    assert replay.data.enrollment.equals(today.cut(2021).enrollment)


def realised(ratios: dict[int, float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "field_code": "ic",
            "level": "bachelor",
            "year": list(ratios),
            "ratio": list(ratios.values()),
            "supply": 100.0,
            "demand": [100.0 * r for r in ratios.values()],
            "gap": [100.0 * (r - 1) for r in ratios.values()],
        }
    )


def test_persistence_with_a_trend_follows_the_recent_damped_trend() -> None:
    history = realised({2017: 0.5, 2018: 0.6, 2019: 0.8, 2020: 1.0})
    flat = persistence(history, 2020, [2021, 2022])
    trend = persistence_with_trend(history, 2020, [2021, 2022])
    assert flat["ratio"].tolist() == [1.0, 1.0]
    slope = np.log(1.0 / 0.5) / 3
    assert trend["ratio"].tolist() == pytest.approx(
        [np.exp(slope * 0.8), np.exp(slope * (0.8 + 0.64))]
    )
    short = persistence_with_trend(realised({2019: 0.8, 2020: 1.0}), 2020, [2021])
    assert short["ratio"].tolist() == [1.0], "no trend without three years of history"
    truth = realised({2017: 0.5, 2018: 0.6, 2019: 0.8, 2020: 1.0, 2021: 1.3})
    scored = score_persistence_trend(2020, truth, history)
    assert (scored["method"], scored["cells"], scored["direction"]) == (PERSISTENCE_TREND, 1, 1.0)
    with pytest.raises(ValueError, match="trend_years"):
        persistence_with_trend(history, 2020, [2021], trend_years=0)


def test_totals_are_scored_on_the_sum_of_their_realised_cells() -> None:
    cells = pd.DataFrame(
        {
            "field_code": ["ic", "ai", "ic"],
            "level": ["bachelor", "bachelor", "master"],
            "year": 2022,
        }
    )
    truth = cells.assign(actual_gap=[10.0, 20.0, 5.0])
    totals = pd.DataFrame(
        {
            "field_code": ["all", "all", "ic", "ai"],
            "level": ["bachelor", "all", "all", "all"],
            "year": 2022,
            "gap_p10": [0.0, 40.0, 0.0, 25.0],
            "gap_p90": [40.0, 50.0, 20.0, 30.0],
        }
    )
    # City: bachelor 30 inside [0, 40], all levels 35 outside [40, 50]; level: ic 15 inside,
    # ai 20 outside [25, 30].
    assert total_coverage(totals, cells, truth) == {
        "coverage 80 city": 0.5,
        "coverage 80 level": 0.5,
    }
    unrealised = truth.iloc[:2]
    scores = total_coverage(totals, cells, unrealised)
    assert scores["coverage 80 city"] == 1.0, "only the bachelor total has every cell realised"
    assert scores["coverage 80 level"] == 0.0, "ic's total lacks its master cell; ai is outside"


@pytest.mark.slow
def test_a_run_records_the_vintage_each_cut_was_replayed_from(sqlite_store: Store) -> None:
    store = sqlite_store
    load_by_year(store, archive=2019)
    config = TrainingConfig(
        balance=BalanceSettings(horizon=4, n_samples=200, n_jobs=1),
        quotas=QuotaSettings(scenarios=30, resamples=1),
        gates=Gates(coverage_80=(0.0, 1.0), coverage_95=(0.0, 1.0)),
        balance_backtest_cuts=2,
    )
    run = train(store, config).run
    held = {cut: store.vintage(cut) for cut in (2021, 2020)}
    assert run.metrics["balance_backtest_vintages"] == [
        {"cut": cut, "vintage": f"store as of upload #{held[cut]}", "upload": held[cut]}
        for cut in (2021, 2020)
    ]
    rows = pd.DataFrame(run.metrics["balance_backtest"])
    assert set(rows["method"]) >= {"persistence", "persistence with trend"}
    assert rows.groupby("cut")["vintage"].nunique().eq(1).all()
    assert {"coverage 80 city", "coverage 80 level"} <= set(rows.columns)
    checks = {check["name"] for check in run.metrics["gates"]["checks"]}
    assert {"balance_backtest", "changes"} <= checks


def test_auto_demand_chooses_the_candidate_that_replayed_better() -> None:
    def row(method: str, rank: float, f1: float) -> dict[str, object]:
        return {"cut": 2020, "method": method, "rank corr": rank, "macro-F1": f1}

    rows = [
        row("balance, direct demand", 0.5, 0.6),
        row("balance, tightness demand", 0.7, 0.65),
        row("persistence", 0.9, 0.9),
    ]
    assert choose_demand_model(rows, ("direct", "tightness")) == "tightness"
    # Nothing scorable: the first candidate.
    blank = [row("balance, direct demand", np.nan, np.nan)]
    assert choose_demand_model(blank, ("direct", "tightness")) == "direct"
