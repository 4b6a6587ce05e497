"""Balance replays reused by later retrains: only when nothing the replay reads has changed,
and always with the numbers replaying would give."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from worlds import (
    COMMISSION,
    HR_BUREAU,
    hiring_frame,
    load_by_year,
    load_world,
    programme_frames,
    upload,
)

from data.ingest import open_store
from data.store import Store
from data.store.tables import balance_replays
from features.talent import TalentData
from forecasting import balance, pipeline
from forecasting.balance import compute_balance, compute_balances, prefit_balance
from forecasting.balance_backtest import replay_balance
from forecasting.pipeline import TrainingConfig, train
from forecasting.promotion import Gates
from forecasting.quotas import QuotaSettings
from forecasting.replays import encode_balance
from forecasting.settings import BalanceSettings

SETTINGS = BalanceSettings(horizon=4, n_samples=200, n_jobs=1)
CODE = "talentcast 0.1.0"
REGION = "120000"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Store]:
    """The small city loaded in one upload per kind: every replay reads today's data cut at
    its year (cuts 2021 and 2020 of data through 2025)."""
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    load_world(store)
    yield store
    store.dispose()


def backtest(
    store: Store, settings: BalanceSettings = SETTINGS, code: str | None = CODE
) -> dict[str, Any]:
    today = TalentData.from_store(store)
    return replay_balance(
        store, today, settings, 2, as_of=store.watermark(), city_region=REGION, code_version=code
    )


def statuses(scores: dict[str, Any]) -> dict[int, str]:
    return {r["cut"]: r["status"] for r in scores["balance_backtest_replays"]}


def scores_of(scores: dict[str, Any]) -> dict[str, Any]:
    """Everything the backtest concluded, without how it got there."""
    return {k: v for k, v in scores.items() if k != "balance_backtest_replays"}


def test_several_demand_models_at_once_give_what_each_gives_alone(world: Store) -> None:
    data = TalentData.from_store(world).cut(2021)
    models = ("direct", "tightness", "combined")
    together = compute_balances(data, SETTINGS, models)
    for model in models:
        alone = compute_balance(data, replace(SETTINGS, demand_model=model))
        for name in ("balance", "drivers", "programme_supply"):
            pd.testing.assert_frame_equal(getattr(together[model], name), getattr(alone, name))


@pytest.mark.slow
def test_unchanged_data_reuses_every_cut_with_the_scores_of_replaying(world: Store) -> None:
    first = backtest(world)
    second = backtest(world)
    unkept = backtest(world, code=None)
    assert statuses(first) == {2021: "replayed", 2020: "replayed"}
    assert statuses(second) == {2021: "reused", 2020: "reused"}
    assert statuses(unkept) == {2021: "replayed", 2020: "replayed"}
    assert [r["reused"] for r in second["balance_backtest_replays"]] == [
        ["direct", "tightness"]
    ] * 2
    assert scores_of(second) == scores_of(first) == scores_of(unkept)
    assert world.count_kept_replays() == 4, "2 cut years × 2 demand models"


@pytest.mark.slow
def test_another_setting_or_code_replays_and_only_the_same_model_is_reused(
    world: Store,
) -> None:
    backtest(world)
    changed = backtest(world, replace(SETTINGS, survey_prior_strength=1.0))
    assert statuses(changed) == {2021: "replayed", 2020: "replayed"}
    assert statuses(backtest(world, replace(SETTINGS, seed=7))) == statuses(changed)
    assert statuses(backtest(world, code="talentcast 0.2.0")) == statuses(changed)
    # The direct model alone was replayed as one of auto's candidates with these settings;
    # where the work runs changes nothing.
    direct = backtest(world, replace(SETTINGS, demand_model="direct", n_jobs=2))
    assert statuses(direct) == {2021: "reused", 2020: "reused"}


@pytest.mark.slow
def test_an_upload_replays_the_cut_years_it_changes_and_reuses_the_others(
    world: Store,
) -> None:
    backtest(world)
    revised = hiring_frame(first=2021, last=2021, factors={"ic": 1.3})
    upload(world, "hiring", revised[revised["field_code"] == "ic"], HR_BUREAU, "ic_2021.csv")
    after = backtest(world)
    assert statuses(after) == {2021: "replayed", 2020: "reused"}
    assert scores_of(after) == scores_of(backtest(world, code=None))
    # A later year only changes the realised gaps the replays are scored on.
    later = hiring_frame(first=2024, last=2024, factors={"ai": 1.5})
    upload(world, "hiring", later[later["field_code"] == "ai"], HR_BUREAU, "ai_2024.csv")
    rescored = backtest(world)
    assert statuses(rescored) == {2021: "reused", 2020: "reused"}
    assert scores_of(rescored) == scores_of(backtest(world, code=None))
    assert scores_of(rescored) != scores_of(after)


@pytest.mark.slow
def test_a_vintage_replay_is_reused_after_a_revision_uploaded_later(tmp_path: Path) -> None:
    """The store as of a vintage never changes: a revision of an old year uploaded today is
    not what the store held then."""
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        load_by_year(store, archive=2019)
        backtest(store)
        old = programme_frames(first=2018, last=2018)["enrollment"]
        upload(store, "enrollment", old.assign(enrolled=old["enrolled"] * 2), COMMISSION, "fix.csv")
        after = backtest(store)
        assert statuses(after) == {2021: "reused", 2020: "reused"}
        assert scores_of(after) == scores_of(backtest(store, code=None))
    finally:
        store.dispose()


@pytest.mark.slow
def test_a_damaged_or_missing_kept_replay_is_replayed(world: Store) -> None:
    first = backtest(world)
    with world.engine.begin() as connection:
        connection.execute(balance_replays.update().values(content=b"not a replay"))
    assert statuses(backtest(world)) == {2021: "replayed", 2020: "replayed"}
    # Content matching its checksum but not a replay of its cut year: replayed too.
    wrong = encode_balance(
        pd.DataFrame({"field_code": ["ic"], "level": ["bachelor"], "year": [2000]}).assign(
            gap_p10=0.0, gap_p50=0.0, gap_p90=0.0, ratio_p50=1.0, p_shortage=0.0
        )
    )
    with world.engine.begin() as connection:
        connection.execute(
            balance_replays.update().values(
                content=wrong, content_sha256=hashlib.sha256(wrong).hexdigest()
            )
        )
    damaged = backtest(world)
    assert statuses(damaged) == {2021: "replayed", 2020: "replayed"}
    with world.engine.begin() as connection:
        connection.execute(sa.delete(balance_replays))
    missing = backtest(world)
    assert statuses(missing) == {2021: "replayed", 2020: "replayed"}
    assert scores_of(first) == scores_of(damaged) == scores_of(missing)
    assert statuses(backtest(world)) == {2021: "reused", 2020: "reused"}


@pytest.mark.slow
def test_a_retrain_records_each_cut_year_replayed_or_reused_with_its_seconds(
    world: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """And while cut years are replayed, the run forecasts its own supply and postings
    beside them (once: its balance takes them from there), with the balance it gives when
    forecasting them afterwards."""
    config = TrainingConfig(
        balance=BalanceSettings(horizon=4, n_samples=200, n_jobs=1),
        quotas=QuotaSettings(scenarios=30, resamples=1),
        gates=Gates(coverage_80=(0.0, 1.0), coverage_95=(0.0, 1.0)),
        balance_backtest_cuts=2,
    )
    prefits: list[bool] = []

    def watched(data: TalentData, settings: BalanceSettings, progress: object) -> None:
        backtesting = [t for t in threading.enumerate() if t.name.startswith("balance-backtest")]
        prefits.append(bool(backtesting) and threading.current_thread() not in backtesting)
        prefit_balance(data, settings)

    supplied: list[int] = []  # the last year of the data of each supply forecast
    forecast_supply = balance.forecast_supply

    def counted(data: TalentData, *args: Any, **kwargs: Any) -> Any:
        supplied.append(data.last_year)
        return forecast_supply(data, *args, **kwargs)

    monkeypatch.setattr(pipeline, "prefit_balance", watched)
    monkeypatch.setattr(balance, "forecast_supply", counted)
    replayed = train(world, config)
    first = replayed.run
    assert prefits == [True], "fitted once, in the run's thread, beside the backtest's"
    assert sorted(supplied) == [2020, 2021, 2025], "the run's own supply forecast once"
    supplied.clear()
    reused = train(world, config)
    second = reused.run
    assert prefits == [True], "nothing replayed, nothing to fit beside"
    assert supplied == [2025]
    # The same data: fitted beside the replays or after the backtest, the same balance.
    for name, frame in replayed.outputs.items():
        pd.testing.assert_frame_equal(frame, reused.outputs[name], obj=name)
    assert [r["status"] for r in first.metrics["balance_backtest_replays"]] == ["replayed"] * 2
    assert [r["status"] for r in second.metrics["balance_backtest_replays"]] == ["reused"] * 2
    assert {"balance_backtest.2021.replayed", "balance_backtest.2020.replayed"} <= set(
        first.timings
    )
    reused = [second.timings[f"balance_backtest.{cut}.reused"] for cut in (2021, 2020)]
    assert sum(reused) <= second.timings["balance_backtest"]
    assert first.metrics["balance_backtest"] == second.metrics["balance_backtest"]
    assert first.metrics["demand_model"] == second.metrics["demand_model"]
