"""A second city: from an empty store to a served run over the API (README, "A new city")."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from support import Demo, bearer, serve
from typer.testing import CliRunner
from worlds import CITY_FIELDS, CITY_PROGRAMMES, world_files

from data.ingest import open_store
from data.store import Store
from serving.app import create_app
from serving.auth import issue_key
from serving.cli import app as cli_app

API = "/api/v1"
WAIT_SECONDS = 240
CITY = {
    "TALENTCAST_CITY_NAME": "重庆 Chongqing",
    "TALENTCAST_CITY_REGION": "500000",
    "TALENTCAST_RUN_WORKER": "true",
    "TALENTCAST_HORIZON_YEARS": "5",
    "TALENTCAST_SAMPLES": "200",
    "TALENTCAST_TRAIN_JOBS": "1",
    "TALENTCAST_BALANCE_BACKTEST_CUTS": "0",
    "TALENTCAST_WORKER_POLL_SECONDS": "0.5",
}


def catalog_files(
    fields: str | None = CITY_FIELDS, programmes: str = CITY_PROGRAMMES
) -> dict[str, tuple[str, bytes, str]]:
    files = {"programmes": ("programmes.csv", programmes.encode(), "text/csv")}
    if fields is not None:
        files["fields"] = ("fields.csv", fields.encode(), "text/csv")
    return files


def first_admin_key(url: str) -> str:
    """The one step on the server: the first admin key, from the command line."""
    runner = CliRunner()
    upgraded = runner.invoke(cli_app, ["--database-url", url, "db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    created = runner.invoke(
        cli_app, ["--database-url", url, "keys", "create", "cq_admin", "--role", "admin"]
    )
    assert created.exit_code == 0, created.output
    return created.stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_a_new_city_goes_from_an_empty_store_to_a_served_run_over_the_api(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'chongqing.db'}"
    admin = bearer(first_admin_key(url))
    with (
        serve(url, tmp_path / "server.log", CITY) as served,
        httpx.Client(base_url=served.base, timeout=30) as http,
    ):
        city = http.get(f"{API}/city", headers=admin)
        assert city.status_code == 200, city.text
        assert city.json()["name"] == "重庆 Chongqing"
        assert city.json()["region"] == "500000"
        assert "database" not in city.text  # no secret among the city's settings

        # Empty stays empty: nothing but a catalog is accepted first.
        early = http.post(
            f"{API}/uploads/enrollment",
            headers=admin,
            files={"file": ("enrollment.csv", world_files()["enrollment"], "text/csv")},
        )
        assert early.status_code == 409, early.text
        assert "no catalog yet" in early.json()["detail"]
        assert http.post(f"{API}/runs", headers=admin).status_code == 409

        catalog = http.put(f"{API}/catalog", headers=admin, files=catalog_files())
        assert catalog.status_code == 201, catalog.text
        summary = catalog.json()["catalog"]
        assert summary["fields"] == ["ic", "ai", "other"]
        assert summary["levels"] == ["bachelor"]

        planner_key = http.post(
            f"{API}/keys", headers=admin, json={"name": "cq_planner", "role": "planner"}
        )
        association_key = http.post(
            f"{API}/keys",
            headers=admin,
            json={"name": "cq_ic_association", "role": "association", "fields": ["ic"]},
        )
        assert planner_key.status_code == association_key.status_code == 201
        planner = bearer(planner_key.json()["secret"])
        association = bearer(association_key.json()["secret"])

        for kind, content in world_files().items():
            sender = association if kind == "demand_survey" else admin
            sent = http.post(
                f"{API}/uploads/{kind}",
                headers=sender,
                files={"file": (f"{kind}.csv", content, "text/csv")},
            )
            assert sent.status_code == 201, (kind, sent.text)

        before = http.get(f"{API}/balance", headers=planner)
        assert before.status_code == 404
        assert "none has been trained" in before.json()["detail"]

        queued = http.post(f"{API}/runs", headers=admin)
        assert queued.status_code == 202, queued.text
        run_id = queued.json()["id"]
        run = wait_for_run(http, run_id, admin)
        assert run["status"] == "succeeded", run["error"]
        if not run["served"]:  # a gate kept it: the planner is told so, the admin serves it
            refused = http.get(f"{API}/balance", headers=planner).json()["detail"]
            assert f"run {run_id} finished but was not served" in refused
            promoted = http.post(f"{API}/runs/{run_id}/promote", headers=admin)
            assert promoted.status_code == 200, promoted.text

        balance = read_when_served(http, f"{API}/balance?field=ic&level=bachelor", planner)
        assert balance["run_id"] == run_id
        assert {row["field_code"] for row in balance["items"]} == {"ic"}
        fields = http.get(f"{API}/fields", headers=planner).json()["items"]
        assert [(f["field_code"], f["tier"], f["shortage_cost"]) for f in fields] == [
            ("ic", "pillar", 4.0),
            ("ai", "emerging", 2.5),
            ("other", "other", 0.0),
        ]
        shortages = http.get(f"{API}/shortages", headers=planner)
        assert shortages.status_code == 200, shortages.text
        assert {row["field_code"] for row in shortages.json()["items"]} <= {"ic", "ai"}
        quotas = http.get(f"{API}/recommendations", headers=planner).json()["items"]
        assert {row["programme_code"] for row in quotas} >= {"080704", "080717T"}
        own = http.get(f"{API}/balance?field=ic", headers=association)
        assert own.status_code == 200
        assert http.get(f"{API}/balance?field=ai", headers=association).status_code == 403


def wait_for_run(http: httpx.Client, run_id: int, admin: dict[str, str]) -> dict[str, object]:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        run: dict[str, object] = http.get(f"{API}/runs/{run_id}", headers=admin).json()
        if run["status"] in ("succeeded", "failed"):
            return run
        time.sleep(0.5)
    pytest.fail(f"run {run_id} did not finish within {WAIT_SECONDS} s")


def read_when_served(http: httpx.Client, path: str, key: dict[str, str]) -> dict[str, object]:
    """The answer once the served run is seen (the server caches the served run briefly)."""
    deadline = time.monotonic() + 10
    while True:
        answer = http.get(path, headers=key)
        if answer.status_code == 200 or time.monotonic() > deadline:
            assert answer.status_code == 200, answer.text
            body: dict[str, object] = answer.json()
            return body
        time.sleep(0.2)


# -- the catalog over the API: validation, nothing stored on refusal ---------------------------


@pytest.fixture
def empty(store_url: str) -> Iterator[tuple[TestClient, Store, dict[str, str]]]:
    """The app on an empty store of each backend, with an admin key."""
    store = open_store(store_url)
    try:
        admin = bearer(issue_key(store, "admin", "admin", actor="test")[1])
        settings = Demo(store_url, {}, 0).settings()
        with TestClient(create_app(settings, store=store)) as client:
            yield client, store, admin
    finally:
        store.dispose()


def test_a_refused_catalog_names_file_row_column_and_stores_nothing(
    empty: tuple[TestClient, Store, dict[str, str]],
) -> None:
    client, store, admin = empty
    first = client.put(f"{API}/catalog", headers=admin, files=catalog_files(fields=None))
    assert first.status_code == 422
    assert "send a fields file" in first.json()["problems"][0]["reason"]
    stored = client.put(f"{API}/catalog", headers=admin, files=catalog_files())
    assert stored.status_code == 201, stored.text
    watermark, catalog = store.watermark(), store.catalog()

    bad_fields = CITY_FIELDS.replace("pillar,1,4,1", "pillar,1,-4,1")
    refused = client.put(f"{API}/catalog", headers=admin, files=catalog_files(bad_fields))
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    [problem] = refused.json()["problems"]
    assert (problem["file"], problem["row"], problem["column"]) == (
        "fields.csv",
        2,
        "shortage_cost",
    )
    assert "'-4' is not a cost weight" in problem["reason"]

    halved = CITY_PROGRAMMES.replace("Intelligence,4,ai,1,", "Intelligence,4,ai,0.5,")
    master = "0502,master,外国语言文学,Foreign languages,3,culture,1,yes,catalog 2022\n"
    answer = client.put(f"{API}/catalog", headers=admin, files=catalog_files(None, halved + master))
    assert answer.status_code == 422
    found = {(p["file"], p["row"], p["column"]): p["reason"] for p in answer.json()["problems"]}
    assert "sum to 0.5000, not 1" in found[("programmes.csv", 3, "weight")]
    assert "unknown field code 'culture'" in found[("programmes.csv", 5, "field_code")]
    assert "no 'other' line for level master" in found[("programmes.csv", None, "programme_code")]

    assert store.watermark() == watermark
    current = store.catalog()
    for part in ("fields", "programmes", "crosswalk"):
        assert getattr(current, part).equals(getattr(catalog, part)), part
    actions = [entry.action for entry in store.audit_log(limit=3)]
    assert actions == ["catalog.rejected", "catalog.rejected", "catalog"]
    again = client.put(f"{API}/catalog", headers=admin, files=catalog_files())
    assert again.status_code == 200
    assert again.json()["created"] is False


def test_a_refused_catalog_gives_its_reasons_in_the_clients_language(
    empty: tuple[TestClient, Store, dict[str, str]],
) -> None:
    client, store, admin = empty
    assert client.put(f"{API}/catalog", headers=admin, files=catalog_files()).status_code == 201
    watermark = store.watermark()
    halved = CITY_PROGRAMMES.replace("Intelligence,4,ai,1,", "Intelligence,4,ai,0.5,")
    master = "0502,master,外国语言文学,Foreign languages,3,culture,1,yes,catalog 2022\n"
    bad_fields = CITY_FIELDS.replace("pillar,1,4,1", "pillar,1,-4,1")
    zh = {**admin, "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}
    en = {**admin, "Accept-Language": "en-US,en;q=0.9"}
    said: dict[tuple[str | None, int | None, str | None, str], str] = {}
    for files in (catalog_files(None, halved + master), catalog_files(bad_fields)):
        english = client.put(f"{API}/catalog", headers=en, files=files)
        chinese = client.put(f"{API}/catalog", headers=zh, files=files)
        assert english.status_code == chinese.status_code == 422
        assert chinese.headers["Vary"] == "Accept-Language"
        assert chinese.json()["total"] == english.json()["total"]
        assert chinese.json()["detail"].startswith("文件被拒绝")
        assert english.json()["detail"].startswith("upload rejected")
        assert [
            {key: value for key, value in problem.items() if key != "reason"}
            for problem in chinese.json()["problems"]
        ] == [
            {key: value for key, value in problem.items() if key != "reason"}
            for problem in english.json()["problems"]
        ]
        for problem in chinese.json()["problems"]:
            said[(problem["file"], problem["row"], problem["column"], problem["code"])] = problem[
                "reason"
            ]
    assert said == {
        ("programmes.csv", 3, "weight", "catalog.weights_sum"): (
            "专业 080717T（本科）的权重之和为 0.5000，而不是 1"
        ),
        ("programmes.csv", 5, "field_code", "catalog.field_unknown"): "未知领域代码 'culture'",
        ("programmes.csv", None, "programme_code", "catalog.other_line_missing"): (
            "层次 master 没有 'other' 行（本市有该层次的专业）：请添加一行 'other,master,...'，"
            "使全市合计完整"
        ),
        ("fields.csv", 2, "shortage_cost", "catalog.cost"): "'-4' 不是 0 到 1000 之间的代价权重",
    }
    assert store.watermark() == watermark


def test_only_an_admin_writes_the_catalog_and_reads_the_city(
    empty: tuple[TestClient, Store, dict[str, str]],
) -> None:
    client, store, admin = empty
    assert client.get(f"{API}/catalog", headers=admin).status_code == 409
    client.put(f"{API}/catalog", headers=admin, files=catalog_files())
    planner = bearer(issue_key(store, "planner", "planner", actor="test")[1])
    assert client.put(f"{API}/catalog", headers=planner, files=catalog_files()).status_code == 403
    assert client.get(f"{API}/city", headers=planner).status_code == 403
    assert (
        client.post(f"{API}/keys", headers=planner, json={"name": "x", "role": "admin"}).status_code
        == 403
    )
    assert client.get(f"{API}/catalog", headers=admin).json()["levels"] == ["bachelor"]
