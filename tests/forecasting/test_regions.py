"""Several regions in one run: each region's balance, and a total that is their sum in every
joint sample; one region is exactly the single-city balance."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pandas as pd
import psutil
import pytest
from worlds import CITIES, COMMISSION, PROVINCE, load_province, load_world

from data.ingest import IngestOptions, ingest_file, open_store
from data.regions import RegionPlan
from data.store import Store
from data.store.tables import OUTPUT_SPECS
from data.vocabulary import Kind
from features.talent import TalentData
from forecasting import regions
from forecasting.balance import JOINT_SEED_OFFSET, TOTAL, compute_balance
from forecasting.changes import ChangeSettings, RegionChanges
from forecasting.joint import JointDraws
from forecasting.memory import release_memory
from forecasting.pipeline import TrainingConfig, train
from forecasting.promotion import Gates, not_served_reason
from forecasting.quotas import QuotaSettings, recommend_quotas
from forecasting.regions import (
    RegionTotal,
    pool_backtests,
    region_settings,
    regional_balances,
)
from forecasting.scenarios import samples_artifact
from forecasting.settings import BalanceSettings

SETTINGS = BalanceSettings(horizon=3, n_samples=120, n_jobs=1)
CONFIG = TrainingConfig(
    balance=SETTINGS,
    quotas=QuotaSettings(scenarios=20, resamples=1),
    gates=Gates(coverage_80=(0.0, 1.0), coverage_95=(0.0, 1.0)),
    balance_backtest_cuts=0,
)
PLAN = RegionPlan.of(PROVINCE, CITIES)


@pytest.fixture
def store(tmp_path: object) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path}/regions.db")
    try:
        yield opened
    finally:
        opened.dispose()


def cells(result: object) -> tuple[np.ndarray, np.ndarray]:
    observed = result.demand.observed  # type: ignore[attr-defined]
    s = result.supply.by_field_level * observed[None, :, :, None]  # type: ignore[attr-defined]
    d = result.demand.combined * observed[None, :, :, None]  # type: ignore[attr-defined]
    return s, d


def test_the_total_is_the_sum_of_its_regions_in_every_sample(store: Store) -> None:
    load_province(store)

    def load(region: str) -> TalentData:
        return TalentData.from_store(store, city_region=region)

    total = RegionTotal()
    supply, demand = 0.0, 0.0
    regional = []
    for region, _data, result in regional_balances(PLAN, load, SETTINGS):
        total.add(region, result)
        s, d = cells(result)
        supply, demand = supply + s, demand + d
        regional.append(result.balance)
    assert total.supply is not None
    assert total.demand is not None
    assert total.supply.dtype == np.float32
    np.testing.assert_allclose(total.supply, supply, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(total.demand, demand, rtol=1e-5, atol=1e-3)
    gap = total.demand - total.supply
    np.testing.assert_allclose(gap, demand - supply, rtol=1e-4, atol=1e-2)
    assert not np.allclose(cells_of(regional[0]), cells_of(regional[1]))

    # Means add up exactly (quantiles do not): the total's rows are of the summed samples.
    parent = total.balance().set_index(["field_code", "level", "year"])
    summed = sum(b.set_index(["field_code", "level", "year"])["supply_mean"] for b in regional)
    assert isinstance(summed, pd.Series)
    np.testing.assert_allclose(parent.loc[summed.index, "supply_mean"], summed, rtol=1e-5)
    history = parent.xs((TOTAL, TOTAL), level=["field_code", "level"])
    assert (history["supply_p05"] <= history["supply_p95"]).all()


def test_a_provinces_data_is_added_up_one_city_at_a_time(store: Store) -> None:
    """The province's sum (its balance backtest reads it) is read city by city and equals
    the sum of every city's rows read at once; a city without hires does not zero them."""
    load_province(store)
    hiring = store.observations("hiring", regions=[CITIES[0]])  # the second reports no hires
    ingest_file(
        store,
        "hiring",
        hiring.loc[:, ["period", "field_code", "level", "postings", "region"]]
        .assign(hires=hiring["postings"] // 3)
        .to_csv(index=False)
        .encode("utf-8"),
        uploader=COMMISSION,
        options=IngestOptions(city_region=PROVINCE, regions=CITIES),
    )
    asked: list[tuple[str, ...]] = []

    class Recording:
        def observations(self, kind: str, **options: object) -> pd.DataFrame:
            asked.append(tuple(options["regions"]))  # type: ignore[arg-type]
            return store.observations(kind, **options)  # type: ignore[arg-type]

        def catalog(self, **options: object) -> object:
            return store.catalog(**options)  # type: ignore[arg-type]

    summed = TalentData.from_store(Recording(), city_region=CITIES)
    assert set(asked) == {(CITIES[0],), (CITIES[1],)}
    at_once = TalentData.from_observations(
        store.catalog(), {kind: store.observations(kind) for kind in Kind}, CITIES
    )
    for name in ("enrollment", "graduates", "outcomes", "hiring", "surveys"):
        pd.testing.assert_frame_equal(
            getattr(summed, name), getattr(at_once, name), check_dtype=False, obj=name
        )
    first = TalentData.from_store(store, city_region=CITIES[0]).hiring.set_index(
        ["field_code", "level", "period"]
    )
    both = summed.hiring.set_index(["field_code", "level", "period"])
    assert both["hires"].notna().any()
    np.testing.assert_allclose(both.loc[first.index, "hires"], first["hires"])


def test_a_regions_balance_is_freed_as_soon_as_the_caller_drops_it(store: Store) -> None:
    """A province holds one city's samples at a time: the loop over regions keeps no
    reference of its own to the balance it handed out."""
    load_province(store)
    balances = regional_balances(
        PLAN, lambda region: TalentData.from_store(store, city_region=region), SETTINGS
    )
    region, data, result = next(balances)
    assert region == CITIES[0]
    gone = weakref.ref(result)
    del data, result
    gc.collect()
    assert gone() is None
    balances.close()


def test_memory_freed_by_a_region_goes_back_to_the_system() -> None:
    """Freed pages scattered through the heap stay resident until trimmed (glibc)."""
    process = psutil.Process()
    chunks = [np.ones(8192) for _ in range(4000)]  # 64 KiB each, below mmap's threshold
    del chunks[::2]  # every other one freed: the heap cannot shrink from its top
    del chunks[: len(chunks) - 1]  # all but the last, which pins the heap's top
    before = process.memory_info().rss
    assert release_memory()
    after = process.memory_info().rss
    assert before - after > 64 * 1024 * 1024, (before, after)


def cells_of(balance: pd.DataFrame) -> np.ndarray:
    return balance.sort_values(["field_code", "level", "year"])["supply_mean"].to_numpy()


@pytest.mark.slow
def test_a_province_run_stores_each_city_and_the_province(store: Store) -> None:
    load_province(store)
    result = train(store, replace(CONFIG, regions=CITIES), city_region=PROVINCE)
    run = result.run
    assert run.status == "succeeded"
    assert run.config["regions"] == ["130100", "130200"]
    checks = {check["name"]: check for check in run.metrics["gates"]["checks"]}
    assert checks["changes"]["code"] == "changes.first"  # nothing served yet
    balance = store.run_output(run.id, "balance")
    assert sorted(set(balance["region"])) == ["130000", "130100", "130200"]
    # Each city was stored as it was computed; the run keeps the first city's and the total's.
    assert set(result.outputs["balance"]["region"]) == {"130100", "130000"}
    assert run.timings["store_regions"] > 0
    assert checks["output:recommendations"]["passed"]
    # The gates judged the engines on both cities' backtests, not on the first city's alone.
    first = result.balance.supply.backtests.set_index(["kind", "model"])
    pooled = result.backtests.set_index(["kind", "model"])
    assert not pooled.index.duplicated().any()
    shared = first.index.intersection(pooled.index)
    assert len(shared) > 0
    assert (pooled.loc[shared, "series"] > first.loc[shared, "series"]).all()
    assert set(store.run_output(run.id, "recommendations")["region"]) == {"130100", "130200"}
    assert store.run_artifact_names(run.id) == sorted(samples_artifact(r) for r in CITIES)

    # Each city is exactly its own balance, drawn with the province's shared origins.
    second = TalentData.from_store(store, city_region="130200")
    joint = JointDraws.draw(SETTINGS.n_samples, SETTINGS.seed + JOINT_SEED_OFFSET)
    alone = compute_balance(second, region_settings(SETTINGS, 1), joint=joint)
    stored = store.run_output(run.id, "balance", region="130200").drop(columns="region")
    expected = alone.balance.sort_values(["field_code", "level", "year"], ignore_index=True)
    np.testing.assert_allclose(
        stored.sort_values(["field_code", "level", "year"])["gap_p50"], expected["gap_p50"]
    )

    cities = balance[balance["region"] != "130000"]
    province = balance[balance["region"] == "130000"]
    key = ["field_code", "level", "year"]
    summed = cities.groupby(key)["demand_mean"].sum()
    np.testing.assert_allclose(
        province.set_index(key).loc[summed.index, "demand_mean"], summed, rtol=1e-5
    )


@pytest.mark.slow
def test_a_province_run_moved_by_few_rows_in_one_city_waits_for_an_admin(store: Store) -> None:
    """Each city is compared with the served run's rows of that city: two small, low IC
    surveys of the second city hold the province's run, and only they are left out, for
    that city alone."""
    load_province(store)
    config = replace(CONFIG, regions=CITIES, gates=replace(CONFIG.gates, max_worsening=10.0))
    served = train(store, config, city_region=PROVINCE).run
    assert served.served
    options = IngestOptions(city_region=PROVINCE, regions=CITIES)
    low = pd.DataFrame(
        {"survey_year": 2025, "field_code": "ic", "level": "bachelor", "headcount": 30},
        index=range(3),
    ).assign(target_year=range(2026, 2029), region=CITIES[1])
    surveys = [
        ingest_file(
            store,
            "demand_survey",
            frame.to_csv(index=False).encode("utf-8"),
            filename=name,
            uploader=COMMISSION,
            options=options,
        ).upload
        for name, frame in (("a.csv", low), ("b.csv", low.iloc[1:].assign(headcount=20)))
    ]
    ids = [upload.id for upload in surveys]

    run = train(store, config, city_region=PROVINCE).run
    assert run.status == "succeeded"
    assert not run.served
    changes = run.metrics["changes"]
    assert changes["champion_run"] == served.id
    assert changes["held"] is True
    assert changes["regions"] == list(CITIES)
    moved = pd.DataFrame(changes["moved"])
    assert set(moved["region"]) == {CITIES[1]}
    ic = moved[(moved["field_code"] == "ic") & (moved["metric"] == "p_shortage")]
    assert (ic["p_shortage_new"] < 0.1).all()
    assert ic.set_index("year")["explained_by"].to_dict() == {
        2026: ids[:1],
        **dict.fromkeys((2027, 2028), ids),  # the second supersedes the first from 2027
    }
    assert ic["few_rows"].all()
    # The surveys touched the second city only: the first city left nothing out.
    assert {entry["region"] for entry in changes["left_out"]} == {CITIES[1]}
    assert [entry["uploads"] for entry in changes["left_out"]] == [[ids[0]], [ids[1]], ids]
    assert [u["id"] for u in changes["new_uploads"]] == ids
    assert all(sentence.startswith(f"{CITIES[1]}: ") for sentence in changes["summary"])
    reason = not_served_reason(run)
    assert reason is not None
    assert f"{CITIES[1]}: P(shortage) of ic bachelor 2027-2028 moved" in reason
    assert f"#{ids[0]} (demand_survey, 3 rows, {COMMISSION})" in reason
    assert run.timings["changes"] > 0

    # max_seconds bounds the whole run's check: a city checked after it was spent on the
    # cities before still lists its moves, attributed by driver only.
    late = RegionChanges(
        store,
        served,
        watermark=run.watermark,
        balance_settings=config.balance,
        settings=ChangeSettings(max_seconds=60),
        gates=config.gates,
    )
    late.seconds = 61.0
    data = TalentData.from_store(store, city_region=CITIES[1])
    joint = JointDraws.draw(SETTINGS.n_samples, SETTINGS.seed + JOINT_SEED_OFFSET)
    late(CITIES[1], compute_balance(data, region_settings(config.balance, 1), joint=joint))
    check, record = late.merged()
    assert record["left_out"] == []
    assert record["notes"] == [
        f"{CITIES[1]}: stopped leaving uploads out after 60 s: the rest is attributed by driver"
    ]
    assert {cell["driver"] for cell in record["moved"]} == {"survey_adjustment"}
    assert check.passed, "nothing explained by few rows: not held"
    assert late.seconds < 61.0 + 30


def test_backtests_of_several_regions_pool_into_one_row_per_kind_and_model() -> None:
    nan = float("nan")
    table = pd.DataFrame(
        {
            "kind": ["intake", "intake", "intake"],
            "model": ["selected", "selected", "naive"],
            "chosen": [True, False, False],
            "mase": [1.0, 2.0, 3.0],
            "coverage_80": [0.9, 0.6, nan],
            "coverage_rows": [30, 10, 0],
            "intervals": ["calibrated", "fallback", "model"],
            "series": [5, 3, 5],
            "rows": [10, 30, 10],
        }
    )
    pooled = pool_backtests(table).set_index("model")
    assert list(pooled.index) == ["selected", "naive"]
    selected = pooled.loc["selected"]
    assert selected["mase"] == pytest.approx((1.0 * 10 + 2.0 * 30) / 40)
    assert selected["coverage_80"] == pytest.approx((0.9 * 30 + 0.6 * 10) / 40)
    assert (selected["series"], selected["rows"], selected["coverage_rows"]) == (8, 40, 40)
    assert selected["chosen"]
    assert selected["intervals"] == "calibrated"
    assert np.isnan(pooled.loc["naive", "coverage_80"]), "no rows to say anything"
    assert list(pool_backtests(table).columns) == [
        *table.columns,
        "regions",
        "coverage_effective_rows",
    ]
    # The gate judges the pooled coverage's noise on the largest region's rows.
    assert (selected["regions"], selected["coverage_effective_rows"]) == (2, 30)


def test_a_province_run_failing_after_storing_a_city_keeps_no_outputs(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_province(store)
    solved: list[str] = []

    def failing_second(*args: object, **kwargs: object) -> pd.DataFrame:
        solved.append("city")
        if len(solved) == 2:
            raise RuntimeError("the quota solver ran out of memory")
        return recommend_quotas(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(regions, "recommend_quotas", failing_second)
    with pytest.raises(RuntimeError, match="ran out of memory"):
        train(store, replace(CONFIG, regions=CITIES), city_region=PROVINCE)
    run = store.latest_run(status=None)
    assert run is not None
    assert run.status == "failed"
    assert store.run_output(run.id, "balance").empty, "the first city's rows went with it"


@pytest.mark.slow
def test_one_region_gives_the_single_city_balance(store: Store) -> None:
    load_world(store)
    run = train(store, CONFIG).run
    assert "regions" not in run.config
    today = compute_balance(TalentData.from_store(store, city_region="120000"), SETTINGS)
    for name, expected in today.outputs().items():
        stored = store.run_output(run.id, name)
        assert set(stored["region"]) <= {"120000"}, name
        key = list(OUTPUT_SPECS[name].key[1:])
        got = stored.drop(columns="region").sort_values(key, ignore_index=True)
        want = expected.sort_values(key, ignore_index=True)
        numbers = [c for c in want.columns if pd.api.types.is_float_dtype(want[c])]
        assert len(got) == len(want), name
        np.testing.assert_allclose(
            got[numbers].to_numpy(float), want[numbers].to_numpy(float), err_msg=name
        )
