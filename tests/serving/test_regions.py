"""A province served over HTTP: each city's rows and the province's totals, chosen with the
``region`` query parameter; uploads name one of the province's cities."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from support import bearer, sign_in
from worlds import CITIES, PROVINCE, load_province

from data.ingest import open_store
from forecasting.pipeline import TrainingConfig, train
from forecasting.promotion import Gates
from forecasting.quotas import QuotaSettings
from forecasting.settings import BalanceSettings
from serving.app import create_app
from serving.auth import issue_key
from serving.settings import Settings

pytestmark = pytest.mark.slow  # the province is trained once for the module (some 15 s)

API = "/api/v1"
CONFIG = TrainingConfig(
    balance=BalanceSettings(horizon=3, n_samples=100, n_jobs=1),
    quotas=QuotaSettings(scenarios=20, resamples=1),
    gates=Gates(coverage_80=(0.0, 1.0), coverage_95=(0.0, 1.0)),
    balance_backtest_cuts=0,
)


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, str]:
    """Two cities of province 130000 trained into one run; the settings and an admin key."""
    path: Path = tmp_path_factory.mktemp("province") / "province.db"
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=f"sqlite:///{path}",
        city_region=PROVINCE,
        regions=",".join(CITIES),
        run_worker=False,
        mlflow_tracking_uri="",
    )
    store = open_store(settings.database_url)
    try:
        load_province(store)
        train(store, replace(CONFIG, regions=CITIES), city_region=PROVINCE)
        secret = issue_key(store, "admin", "admin", actor="test")[1]
    finally:
        store.dispose()
    return settings, secret


@pytest.fixture
def client(province: tuple[Settings, str]) -> Iterator[TestClient]:
    with TestClient(create_app(province[0])) as test_client:
        yield test_client


def test_balance_rows_are_of_the_region_asked_for(
    client: TestClient, province: tuple[Settings, str]
) -> None:
    key = bearer(province[1])
    params = {"field": "ic", "level": "all", "limit": 500}
    by_region = {}
    for region in ("130000", "130100", "130200"):
        answer = client.get(f"{API}/balance", params={**params, "region": region}, headers=key)
        assert answer.status_code == 200, answer.text
        rows = answer.json()["items"]
        assert {row["region"] for row in rows} == {region}
        by_region[region] = {row["year"]: row["demand_mean"] for row in rows}
    default = client.get(f"{API}/balance", params=params, headers=key).json()["items"]
    assert {row["region"] for row in default} == {"130000"}, "the province by default"
    for year, total in by_region["130000"].items():
        parts = by_region["130100"][year] + by_region["130200"][year]
        assert total == pytest.approx(parts, abs=0.2)  # means are served to one decimal

    ranked = client.get(f"{API}/shortages", params={"region": "130200"}, headers=key)
    assert ranked.status_code == 200
    assert {row["region"] for row in ranked.json()["items"]} == {"130200"}
    forecasts = client.get(f"{API}/forecasts", params={"region": "130100"}, headers=key)
    assert {row["region"] for row in forecasts.json()["items"]} == {"130100"}


@pytest.mark.parametrize("path", ["/balance", "/shortages", "/forecasts", "/recommendations"])
def test_an_unknown_region_is_refused_naming_the_parameter_and_the_choices(
    client: TestClient, province: tuple[Settings, str], path: str
) -> None:
    answer = client.get(f"{API}{path}", params={"region": "120000"}, headers=bearer(province[1]))
    assert answer.status_code == 422
    text = answer.text
    assert "'region'" in text
    assert "130000, 130100, 130200" in text


def test_an_upload_must_name_one_of_the_cities(
    client: TestClient, province: tuple[Settings, str]
) -> None:
    text = "period,field_code,level,postings,region\n2025-01,ic,bachelor,5,130300\n"
    answer = client.post(
        f"{API}/uploads/hiring",
        files={"file": ("h.csv", text.encode(), "text/csv")},
        headers=bearer(province[1]),
    )
    assert answer.status_code == 422
    (problem,) = answer.json()["problems"]
    assert (problem["row"], problem["column"]) == (2, "region")
    assert "130100, 130200" in problem["reason"]


def test_the_overview_offers_the_regions(
    client: TestClient, province: tuple[Settings, str]
) -> None:
    sign_in(client, province[1])
    page = client.get("/", params={"region": "130200", "lang": "en"})
    assert page.status_code == 200
    assert 'id="region-select"' in page.text
    assert '<option value="130200" selected>' in page.text
    assert client.get("/", params={"region": "999999"}).status_code == 422


def test_what_if_questions_are_asked_of_one_city(
    client: TestClient, province: tuple[Settings, str]
) -> None:
    key = bearer(province[1])
    body = {"quotas": [{"programme_code": "080704", "level": "bachelor", "quota": 900}]}
    city = client.post(f"{API}/scenarios", params={"region": "130200"}, json=body, headers=key)
    assert city.status_code == 200, city.text
    assert {row["region"] for row in city.json()["balance"]} == {"130200"}
    whole = client.post(f"{API}/scenarios", json=body, headers=key)
    assert whole.status_code == 422
    assert "'region'" in whole.text
    assert "130100, 130200" in whole.text


def test_the_programmes_page_shows_one_city_at_a_time(
    client: TestClient, province: tuple[Settings, str]
) -> None:
    """Quotas are set city by city: the page and its exports are of one city, the first by
    default, with that city's samples; the province sets no quotas of its own."""
    sign_in(client, province[1])
    first = client.get("/programmes", params={"lang": "en"})
    assert first.status_code == 200, first.text
    assert '<option value="130100" selected>' in first.text
    second = client.get("/programmes", params={"region": "130200", "lang": "en"})
    assert second.status_code == 200, second.text
    assert '<option value="130200" selected>' in second.text
    export = client.get("/programmes/export.csv", params={"region": "130200"})
    assert export.status_code == 200, export.text
    assert "_130200_" in export.headers["content-disposition"]
    store = open_store(province[0].database_url)
    try:
        served = store.served_run()
        assert served is not None
        stored = store.run_output(served.id, "recommendations", region="130200")
    finally:
        store.dispose()
    assert len(pd.read_csv(io.BytesIO(export.content))) == len(stored)
    assert client.get("/programmes", params={"region": "130000"}).status_code == 422
