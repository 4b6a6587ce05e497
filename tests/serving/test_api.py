"""The HTTP API on a trained demo store, endpoint by endpoint, as a client uses it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from support import Demo, bearer

from data.ingest import open_store
from forecasting.selection import members_of
from serving.app import create_app

API = "/api/v1"
HIRING_OK = "period,field_code,level,postings\n2025-12,ic,bachelor,130\n2025-12,ic,master,40\n"


@pytest.fixture
def writer(writable: Demo) -> Iterator[TestClient]:
    with TestClient(create_app(writable.settings(max_upload_mb=0.01))) as test_client:
        yield test_client


def get(client: TestClient, path: str, key: str, **params: object) -> dict:
    response = client.get(API + path, params=params, headers=bearer(key))
    assert response.status_code == 200, response.text
    return response.json()


# -- reads ---------------------------------------------------------------------------------------


def test_fields_and_programmes_come_from_the_runs_catalog(
    client: TestClient, trained_demo: Demo
) -> None:
    planner = trained_demo.keys["planner"]
    fields = get(client, "/fields", planner)
    assert fields["run_id"] == trained_demo.run_id
    names = {row["field_code"]: row["name_zh"] for row in fields["items"]}
    assert names["ic"] == "集成电路"
    assert len(names) == fields["total"] >= 26
    ic = get(client, "/programmes", planner, field="ic", limit=500)
    assert ic["total"] > 0
    assert {row["field_code"] for row in ic["items"]} == {"ic"}
    bad = client.get(f"{API}/programmes", params={"field": "chips"}, headers=bearer(planner))
    assert bad.status_code == 422
    assert "unknown field 'chips'" in bad.json()["detail"]


def test_balance_filters_pages_and_says_which_run(client: TestClient, trained_demo: Demo) -> None:
    planner = trained_demo.keys["planner"]
    response = client.get(
        f"{API}/balance",
        params={"field": "ic", "level": "bachelor", "limit": 3, "offset": 2},
        headers=bearer(planner),
    )
    assert response.status_code == 200
    assert response.headers["X-Run-Id"] == str(trained_demo.run_id)
    assert int(response.headers["X-Data-Watermark"]) >= 13
    page = response.json()
    assert (page["limit"], page["offset"], len(page["items"])) == (3, 2, 3)
    every = get(client, "/balance", planner, field="ic", level="bachelor", limit=1000)
    assert every["total"] == page["total"]
    assert page["items"] == every["items"][2:5]
    years = [row["year"] for row in every["items"]]
    assert years == sorted(years)
    assert max(years) == 2030
    row = every["items"][-1]
    assert row["gap_p05"] <= row["gap_p50"] <= row["gap_p95"]
    assert 0 <= row["p_shortage"] <= 1


def test_repeated_reads_revalidate_with_the_etag(client: TestClient, trained_demo: Demo) -> None:
    headers = bearer(trained_demo.keys["planner"])
    first = client.get(f"{API}/balance", params={"field": "ai"}, headers=headers)
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "private, no-cache"
    again = client.get(
        f"{API}/balance", params={"field": "ai"}, headers={**headers, "If-None-Match": etag}
    )
    assert again.status_code == 304
    assert again.content == b""
    other = client.get(f"{API}/balance", params={"field": "ic"}, headers=headers)
    assert other.headers["ETag"] != etag
    # An association sees other rows for the same URL, so it gets another tag.
    scoped = client.get(
        f"{API}/balance", params={"field": "ic"}, headers=bearer(trained_demo.keys["ic"])
    )
    assert scoped.headers["ETag"] != other.headers["ETag"]


def test_an_explicit_run_id_and_bad_ones(client: TestClient, trained_demo: Demo) -> None:
    planner = bearer(trained_demo.keys["planner"])
    page = client.get(f"{API}/balance", params={"run_id": trained_demo.run_id}, headers=planner)
    assert page.json()["run_id"] == trained_demo.run_id
    missing = client.get(f"{API}/balance", params={"run_id": 999}, headers=planner)
    assert missing.status_code == 404
    assert "run 999 does not exist" in missing.json()["detail"]
    bad = client.get(f"{API}/balance", params={"run_id": "first"}, headers=planner)
    assert bad.status_code == 422
    assert "run_id" in bad.json()["detail"]


def test_shortage_ranking_with_intervals(client: TestClient, trained_demo: Demo) -> None:
    planner = trained_demo.keys["planner"]
    ranking = get(client, "/shortages", planner, level="bachelor", limit=100)
    rows = ranking["items"]
    assert [row["rank"] for row in rows] == list(range(1, len(rows) + 1))
    assert {row["year"] for row in rows} == {2026}
    shares = [row["p_shortage"] for row in rows]
    assert shares == sorted(shares, reverse=True)
    assert all(row["gap_p10"] <= row["gap_p90"] for row in rows)
    later = get(client, "/shortages", planner, year=2030)
    assert {row["year"] for row in later["items"]} == {2030}
    by_size = get(client, "/shortages", planner, level="bachelor", limit=100, by="shortfall")
    shortfalls = [row["shortfall_w90"] for row in by_size["items"]]
    assert shortfalls == sorted(shortfalls, reverse=True)
    assert {row["field_code"] for row in by_size["items"]} == {row["field_code"] for row in rows}
    out = client.get(f"{API}/shortages", params={"year": 2050}, headers=bearer(planner))
    assert out.status_code == 422
    assert "2050 is outside this run's years" in out.json()["detail"]
    level = client.get(f"{API}/shortages", params={"level": "phd"}, headers=bearer(planner))
    assert level.status_code == 422
    assert "level" in level.json()["detail"]


def test_associations_see_their_own_fields_only(client: TestClient, trained_demo: Demo) -> None:
    ic = trained_demo.keys["ic"]
    ranking = get(client, "/shortages", ic, level="bachelor")
    assert {row["field_code"] for row in ranking["items"]} == {"ic"}
    assert ranking["items"][0]["rank"] >= 1  # its rank among all fields
    balance = get(client, "/balance", ic, limit=5000)
    assert {row["field_code"] for row in balance["items"]} == {"ic"}
    hiring = get(client, "/forecasts", ic, kind="hiring", limit=5000)
    assert hiring["total"] > 0
    assert {row["field_code"] for row in hiring["items"]} == {"ic"}
    other = client.get(f"{API}/balance", params={"field": "ai"}, headers=bearer(ic))
    assert other.status_code == 403
    assert "may only read its own fields (ic)" in other.json()["detail"]


def test_forecasts_by_kind_and_programme(client: TestClient, trained_demo: Demo) -> None:
    planner = trained_demo.keys["planner"]
    intake = get(client, "/forecasts", planner, kind="enrollment", programme="080717T")
    assert intake["total"] >= 5
    row = intake["items"][0]
    assert row["lo_95"] <= row["lo_80"] <= row["forecast"] <= row["hi_80"] <= row["hi_95"]
    assert row["model"]
    unknown = client.get(f"{API}/forecasts", params={"kind": "weather"}, headers=bearer(planner))
    assert unknown.status_code == 422
    assert "unknown kind 'weather'" in unknown.json()["detail"]


def test_demand_scales_say_how_postings_became_persons(
    client: TestClient, trained_demo: Demo
) -> None:
    planner = trained_demo.keys["planner"]
    every = get(client, "/demand-scales", planner)
    fields = {row["field_code"] for row in every["items"]}
    assert {"ic", "ai"} <= fields
    (ic,) = get(client, "/demand-scales", planner, field="ic")["items"]
    assert 0 < ic["scale_p10"] <= ic["scale_p50"] <= ic["scale_p90"]
    assert ic["source"] == "hires", "the demo reports hires for every field"
    unknown = client.get(f"{API}/demand-scales", params={"field": "nope"}, headers=bearer(planner))
    assert unknown.status_code == 422


def test_drivers_add_up_to_the_gap(client: TestClient, trained_demo: Demo) -> None:
    rows = get(client, "/drivers", trained_demo.keys["planner"], field="ic", level="bachelor")
    assert rows["total"] > 0
    for row in rows["items"]:
        parts = (
            row["base_gap"]
            + row["demand_growth"]
            + row["survey_adjustment"]
            + row["cohort_pipeline"]
            + row["rates"]
        )
        # Each is rounded to whole persons: five parts and the gap, half a person each at most.
        assert abs(parts - row["gap"]) <= 3


def test_warnings_and_recommendations(client: TestClient, trained_demo: Demo) -> None:
    planner = trained_demo.keys["planner"]
    warned = get(client, "/warnings", planner, programme="540101")
    # Stopped since 2023: no longer told to reduce, only to open no new points.
    assert {row["rule"] for row in warned["items"]} == {"tj_2009_no_new_points"}
    assert all(row["message_en"] for row in warned["items"])
    stopped = get(client, "/recommendations", planner, programme="540101")["items"]
    assert [(row["stopped_since"], row["recommended_quota"]) for row in stopped] == [(2023, 0)]
    recommended = get(client, "/recommendations", planner, field="ai", limit=500)
    assert recommended["total"] > 0
    for row in recommended["items"]:
        assert row["field_code"] == "ai"
        assert row["intake_year"] == 2026
        assert row["reason_zh"].startswith("建议招生")
    wrong = client.get(
        f"{API}/recommendations", params={"intake_year": 2031}, headers=bearer(planner)
    )
    assert wrong.status_code == 422
    assert "intake year 2031" in wrong.json()["detail"]


def quota(code: str, value: float) -> dict[str, object]:
    return {"programme_code": code, "level": "bachelor", "quota": value}


def test_scenarios_answer_what_if_questions(client: TestClient, trained_demo: Demo) -> None:
    headers = bearer(trained_demo.keys["planner"])
    body = {"quotas": [{"programme_code": "080717T", "level": "bachelor", "quota": 2000}]}
    response = client.post(f"{API}/scenarios", json=body, headers=headers)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["costs"]["shortage_persons"] < result["baseline_costs"]["shortage_persons"]
    assert "ai" in {row["field_code"] for row in result["balance"]}
    shocked = client.post(
        f"{API}/scenarios", json={"demand_shocks": {"ic": 2.0}, "fields": ["ic"]}, headers=headers
    ).json()
    assert {row["field_code"] for row in shocked["balance"]} == {"ic", "all"}
    assert shocked["costs"]["total_cost"] > shocked["baseline_costs"]["total_cost"]
    for bad, message in (
        (
            {"quotas": [{"programme_code": "999999", "level": "bachelor", "quota": 5}]},
            "unknown programme",
        ),
        (
            {"quotas": [{"programme_code": "080717T", "level": "bachelor", "quota": -5}]},
            "quotas.0.quota",
        ),
        ({"demand_shocks": {"quantum": 1.1}}, "unknown field 'quantum'"),
        ({"demand_shocks": {"ic": 50}}, "between 0 and 10"),
        ({"surprise": True}, "surprise"),
    ):
        refused = client.post(f"{API}/scenarios", json=bad, headers=headers)
        assert refused.status_code == 422, (bad, refused.text)
        assert message in refused.json()["detail"]
    malformed = client.post(
        f"{API}/scenarios",
        content=b"{not json",
        headers={**headers, "Content-Type": "application/json"},
    )
    assert malformed.status_code == 422


def test_models_runs_and_health(client: TestClient, trained_demo: Demo) -> None:
    planner = trained_demo.keys["planner"]
    models = client.get(f"{API}/models", headers=bearer(planner)).json()
    assert models["run_id"] == trained_demo.run_id
    by_name = {row["name"]: row for row in models["items"]}
    assert len(by_name) == models["total"]
    assert by_name["lightgbm"]["is_global"] is True
    assert by_name["prophet"]["frequencies"] == ["M", "Q"]
    assert any(row["used_for"] for row in models["items"])
    run = client.get(f"{API}/runs/{trained_demo.run_id}", headers=bearer(planner)).json()
    for row in models["items"]:  # a model is used where a label names it, not part of its name
        named = {
            group
            for group in ("supply", "demand")
            for label in run["metrics"][f"{group}_models"]
            if row["name"] in members_of(label)
        }
        assert set(row["used_for"]) == named, row["name"]
    runs = client.get(f"{API}/runs", headers=bearer(planner)).json()
    assert (runs["total"], runs["limit"], runs["offset"]) == (1, 100, 0)
    assert runs["items"][0]["id"] == trained_demo.run_id
    assert runs["items"][0]["served"] is True
    one = client.get(f"{API}/runs/{trained_demo.run_id}", headers=bearer(planner)).json()
    assert set(one["timings"]) >= {"supply", "demand", "quotas"}
    missing = client.get(f"{API}/runs/77", headers=bearer(planner))
    assert missing.status_code == 404
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["served_run"] == trained_demo.run_id


def list_routes(client: TestClient) -> list[str]:
    """Every GET list of the API (a route without path parameters answering items), from the
    OpenAPI document, so that a list added later is checked too."""
    document = client.get(f"{API}/openapi.json").json()
    lists = []
    for path, operations in document["paths"].items():
        get_operation = operations.get("get")
        if get_operation is None or "{" in path or not path.startswith(API):
            continue
        content = get_operation["responses"]["200"]["content"]["application/json"]
        reference = content["schema"].get("$ref", "")
        schema = document["components"]["schemas"].get(reference.rsplit("/", 1)[-1], {})
        if "items" in schema.get("properties", {}):
            lists.append(path.removeprefix(API))
    return lists


def test_every_list_answers_one_page_in_the_same_envelope(
    client: TestClient, trained_demo: Demo
) -> None:
    admin = trained_demo.keys["admin"]
    lists = list_routes(client)
    assert {"/uploads", "/runs", "/models", "/balance", "/fields", "/accuracy"} <= set(lists)
    for path in lists:
        every = get(client, path, admin)
        assert {"total", "limit", "offset", "items"} <= set(every), path
        if path not in ("/uploads", "/runs"):  # records, not cut from a run
            assert every["run_id"] == trained_demo.run_id, path
        page = get(client, path, admin, limit=1, offset=1)
        assert (page["limit"], page["offset"], page["total"]) == (1, 1, every["total"]), path
        assert page["items"] == every["items"][1:2], path
        too_many = client.get(API + path, params={"limit": 10**6}, headers=bearer(admin))
        assert too_many.status_code == 422, path
        assert "limit" in too_many.json()["detail"], path


def test_unknown_query_parameters_are_refused_naming_them(
    client: TestClient, trained_demo: Demo
) -> None:
    planner = bearer(trained_demo.keys["planner"])
    response = client.get(
        f"{API}/forecasts", params={"series_id": "ic|bachelor", "kind": "hiring"}, headers=planner
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert "series_id" in body["detail"]
    assert "kind" not in body["detail"].split("accepts:")[0], "only the unknown one is named"
    accepted = body["detail"].split("accepts:")[1]
    for name in ("field", "kind", "level", "limit", "offset", "programme", "run_id"):
        assert name in accepted
    assert body["errors"][0]["loc"] == ["query", "series_id"]
    admin = bearer(trained_demo.keys["admin"])
    document = client.get(f"{API}/openapi.json").json()
    for path, operations in document["paths"].items():
        if "get" in operations and "{" not in path and path.startswith(API):
            refused = client.get(path, params={"colour": "red"}, headers=admin)
            assert refused.status_code == 422, path
            assert "colour" in refused.json()["detail"], path
    assert (
        client.get(f"{API}/runs/{trained_demo.run_id}?verbose=1", headers=admin).status_code == 422
    )


def test_persons_are_whole_numbers_and_the_schema_says_so(
    client: TestClient, trained_demo: Demo
) -> None:
    planner = trained_demo.keys["planner"]

    def whole(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    balance = get(client, "/balance", planner, limit=1000)["items"]
    for row in balance:
        for name in ("supply", "demand", "gap"):
            assert all(whole(row[f"{name}_{q}"]) for q in ("p05", "p10", "p50", "p90", "p95"))
            assert round(row[f"{name}_mean"], 1) == row[f"{name}_mean"]
    assert any(not whole(row["p_shortage"]) for row in balance), "probabilities are not rounded"
    ranking = get(client, "/shortages", planner)["items"]
    assert all(whole(row["gap_p50"]) and whole(row["supply_p90"]) for row in ranking)
    for row in get(client, "/drivers", planner, field="ic")["items"]:
        assert all(whole(row[name]) for name in ("base_gap", "cohort_pipeline", "gap"))
    quotas = get(client, "/recommendations", planner)["items"]
    assert quotas
    for row in quotas:
        assert whole(row["current_quota"])
        assert whole(row["recommended_quota"])
    intake = get(client, "/forecasts", planner, kind="enrollment", limit=200)["items"]
    assert all(whole(row["forecast"]) and whole(row["hi_95"]) for row in intake)
    rates = get(client, "/forecasts", planner, kind="placement_rate", limit=200)["items"]
    assert any(not whole(row["forecast"]) for row in rates), "rates keep their decimals"
    shocked = client.post(
        f"{API}/scenarios", json={"demand_shocks": {"ic": 1.5}}, headers=bearer(planner)
    ).json()
    assert all(whole(row["demand_p50"]) for row in shocked["balance"] + shocked["baseline"])
    assert all(round(cost, 1) == cost for cost in shocked["costs"].values())
    schemas = client.get(f"{API}/openapi.json").json()["components"]["schemas"]
    row = schemas["BalanceRow"]["properties"]
    assert row["gap_p50"]["type"] == "integer"
    assert row["supply_mean"]["type"] == row["p_shortage"]["type"] == "number"
    recommendation = schemas["RecommendationsRow"]["properties"]
    assert recommendation["recommended_quota"]["type"] == "integer"
    assert {"type": "integer"} in recommendation["quota_p90"]["anyOf"]


def test_fields_are_named_by_code_or_by_name_in_any_case(
    client: TestClient, trained_demo: Demo
) -> None:
    planner = trained_demo.keys["planner"]
    fields = {row["field_code"]: row for row in get(client, "/fields", planner)["items"]}
    english = fields["ic"]["name_en"]
    for path in ("/balance", "/drivers", "/demand-scales", "/forecasts", "/programmes"):
        by_code = get(client, path, planner, field="ic", limit=50)
        assert by_code["total"] > 0, path
        for name in ("集成电路", english.upper(), " IC "):
            assert get(client, path, planner, field=name, limit=50) == by_code, (path, name)
    by_name = get(client, "/recommendations", planner, field="集成电路")
    assert by_name == get(client, "/recommendations", planner, field="ic")
    typo = client.get(
        f"{API}/balance", params={"field": english[:-2] + "x"}, headers=bearer(planner)
    )
    assert typo.status_code == 422
    detail = typo.json()["detail"]
    assert f"unknown field {english[:-2] + 'x'!r}" in detail
    assert "closest: ic" in detail
    # An association may name its own field any way, and no other.
    ic = trained_demo.keys["ic"]
    assert get(client, "/balance", ic, field="集成电路")["total"] > 0
    other = client.get(
        f"{API}/balance", params={"field": fields["ai"]["name_zh"]}, headers=bearer(ic)
    )
    assert other.status_code == 403


# -- writes ----------------------------------------------------------------------------------


def upload(client: TestClient, key: str, kind: str, text: str, name: str = "f.csv"):
    return client.post(
        f"{API}/uploads/{kind}",
        files={"file": (name, text.encode("utf-8"), "text/csv")},
        headers=bearer(key),
    )


def test_uploads_over_http_are_all_or_nothing(writer: TestClient, writable: Demo) -> None:
    ic = writable.keys["ic"]
    accepted = upload(writer, ic, "hiring", HIRING_OK)
    assert accepted.status_code == 201, accepted.text
    record = accepted.json()["upload"]
    assert (record["kind"], record["row_count"], record["uploader"]) == (
        "hiring",
        2,
        "tj_ic_association",
    )
    again = upload(writer, ic, "hiring", HIRING_OK, name="same.csv")
    assert again.status_code == 200
    assert again.json() == {**accepted.json(), "created": False}
    store = open_store(writable.url)
    try:
        before = store.watermark()
        bad = upload(writer, ic, "hiring", HIRING_OK + "2025-12,ic,doctor,-3\n")
        assert bad.status_code == 422
        assert bad.json()["problems"] == [
            {"row": 4, "column": "postings", "code": "count.negative", "reason": "'-3' is negative"}
        ]
        foreign = upload(writer, ic, "hiring", HIRING_OK + "2025-12,ai,bachelor,3\n")
        assert foreign.status_code == 403
        (problem,) = foreign.json()["problems"]
        assert (problem["row"], problem["column"]) == (4, "field_code")
        assert store.watermark() == before, "a refused upload stores nothing"
        audit = store.audit_log(actor="tj_ic_association")
        assert [entry.action for entry in audit[:3]] == [
            "upload.rejected",
            "upload.rejected",
            "upload",
        ]
    finally:
        store.dispose()
    own = writer.get(f"{API}/uploads/{record['id']}", headers=bearer(ic))
    assert own.status_code == 200
    # another's upload answers exactly as a missing one: ids do not reveal what exists
    others = writer.get(f"{API}/uploads/1", headers=bearer(ic))
    missing = writer.get(f"{API}/uploads/99999", headers=bearer(ic))
    assert others.status_code == missing.status_code == 404
    assert others.json()["detail"].replace(" 1 ", " N ") == missing.json()["detail"].replace(
        " 99999 ", " N "
    )
    listed = writer.get(f"{API}/uploads", headers=bearer(ic)).json()
    assert [row["id"] for row in listed["items"]] == [record["id"], 6]  # and its demo survey
    assert listed["total"] == 2
    everyone = writer.get(f"{API}/uploads", headers=bearer(writable.keys["admin"])).json()
    assert everyone["total"] == len(everyone["items"]) > 10
    assert writer.get(f"{API}/uploads/999", headers=bearer(ic)).status_code == 404


def test_upload_limits_kind_and_size(writer: TestClient, writable: Demo) -> None:
    enrollment = "year,programme_code,level,enrolled\n2025,080717T,bachelor,130\n"
    refused = upload(writer, writable.keys["ic"], "enrollment", enrollment)
    assert refused.status_code == 403
    assert "may upload demand_survey, hiring" in refused.json()["detail"]
    big = HIRING_OK + "".join(f"2024-{m:02d},ic,master,{m}\n" for m in range(1, 13)) * 60
    too_large = upload(writer, writable.keys["admin"], "hiring", big)
    assert too_large.status_code == 413
    assert "larger than the limit" in too_large.json()["detail"]
    unknown = upload(writer, writable.keys["admin"], "salaries", HIRING_OK)
    assert unknown.status_code == 422
    admin = bearer(writable.keys["admin"])
    no_body = writer.post(f"{API}/uploads/hiring", headers=admin)
    assert no_body.status_code == 415
    assert "multipart/form-data" in no_body.json()["detail"]
    no_file = writer.post(f"{API}/uploads/hiring", headers=admin, files={"note": (None, "x")})
    other_field = writer.post(
        f"{API}/uploads/hiring", headers=admin, files={"attachment": ("h.csv", HIRING_OK)}
    )
    for response in (no_file, other_field):
        assert response.status_code == 422, response.text
        assert "no field 'file'" in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/runs/9223372036854775808", "run_id"),  # past SQLite's 64-bit integers
        ("/runs/2147483648", "run_id"),  # past PostgreSQL's INTEGER
        ("/uploads/2147483648", "upload_id"),
        ("/balance?run_id=2147483648", "run_id"),
        ("/accuracy?run_id=99999999999999999999", "run_id"),
        ("/balance?year=100000", "year"),
        ("/shortages?year=-5", "year"),
        ("/recommendations?intake_year=3000", "intake_year"),
    ],
)
def test_ids_and_years_out_of_range_are_refused_naming_the_parameter(
    client: TestClient, trained_demo: Demo, path: str, parameter: str
) -> None:
    response = client.get(API + path, headers=bearer(trained_demo.keys["admin"]))
    assert response.status_code == 422, response.text
    assert parameter in response.json()["detail"]


def test_an_out_of_range_run_cannot_be_promoted(client: TestClient, trained_demo: Demo) -> None:
    admin = bearer(trained_demo.keys["admin"])
    response = client.post(f"{API}/runs/2147483648/promote", headers=admin)
    assert response.status_code == 422
    assert "run_id" in response.json()["detail"]
    queued = client.post(f"{API}/runs", headers=admin, json={"as_of": 2**40})
    assert queued.status_code == 422
    assert "as_of" in queued.json()["detail"]


@pytest.mark.parametrize(
    ("body", "code", "reason"),
    [
        (b"[" * 100_000 + b"]" * 100_000, 422, "nested deeper than 32 levels"),
        (b'{"quotas": ' + b"[" * 40 + b"]" * 40 + b"}", 422, "nested deeper than 32 levels"),
        (b'{"quotas": [{"quota": ' + b"9" * 5000 + b"}]}", 422, "more than 40 digits"),
        (b'{"quotas": [], "pad": "' + b"x" * (2 << 20) + b'"}', 413, "larger than"),
    ],
)
def test_hostile_json_bodies_get_a_clear_refusal_not_a_server_error(
    client: TestClient, trained_demo: Demo, body: bytes, code: int, reason: str
) -> None:
    headers = {**bearer(trained_demo.keys["planner"]), "Content-Type": "application/json"}
    response = client.post(f"{API}/scenarios", headers=headers, content=body)
    assert response.status_code == code, response.text[:300]
    assert reason in response.json()["detail"]
    assert len(response.content) < 1000, "the refusal must not echo the body"


def test_every_response_forbids_sniffing_and_framing(
    client: TestClient, trained_demo: Demo
) -> None:
    answers = [
        client.get("/healthz"),
        client.get(f"{API}/fields"),  # 401: no key
        client.get(f"{API}/fields", headers=bearer(trained_demo.keys["planner"])),
        client.get("/static/dashboard.css"),
        client.post(
            f"{API}/scenarios",
            headers={**bearer(trained_demo.keys["planner"]), "Content-Type": "application/json"},
            content=b"[" * 100,
        ),  # refused by the JSON guard
    ]
    assert [answer.status_code for answer in answers] == [200, 401, 200, 200, 422]
    for answer in answers:
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["x-frame-options"] == "DENY"
    page = client.get("/login")
    # a dashboard page keeps its own, fuller policy
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_identical_run_requests_coalesce_into_the_waiting_run(
    writer: TestClient, writable: Demo
) -> None:
    admin = bearer(writable.keys["admin"])
    first = writer.post(f"{API}/runs", headers=admin)
    assert first.status_code == 202
    again = [writer.post(f"{API}/runs", headers=admin) for _ in range(3)]
    # the same waiting run, named in the answer: ten clicks are one retrain
    assert [answer.status_code for answer in again] == [200, 200, 200]
    assert {answer.json()["id"] for answer in again} == {first.json()["id"]}
    older = writer.post(f"{API}/runs", headers=admin, json={"as_of": first.json()["watermark"] - 1})
    assert older.status_code == 202  # other data: another run
    assert older.json()["id"] != first.json()["id"]
    pending = writer.get(f"{API}/runs", params={"status": "pending"}, headers=admin).json()
    assert pending["total"] == len(pending["items"]) == 2


def test_every_error_is_problem_details_naming_what_went_wrong(
    client: TestClient, trained_demo: Demo
) -> None:
    planner = bearer(trained_demo.keys["planner"])
    admin = bearer(trained_demo.keys["admin"])
    json_body = {**planner, "Content-Type": "application/json"}
    answers = {
        401: client.get(f"{API}/fields"),
        403: client.post(f"{API}/runs", headers=planner),
        404: client.get(f"{API}/runs/999999", headers=admin),
        405: client.delete(f"{API}/fields", headers=planner),
        413: client.post(f"{API}/scenarios", headers=json_body, content=b" " * (2 << 20)),
        415: client.post(f"{API}/uploads/hiring", headers=admin),
        422: client.get(f"{API}/balance", params={"year": "soon"}, headers=planner),
    }
    for code, answer in answers.items():
        assert answer.status_code == code, (code, answer.text[:200])
        assert answer.headers["content-type"] == "application/problem+json", code
        body = answer.json()
        assert body["type"] == "about:blank"
        assert body["status"] == code
        assert body["title"]
        assert body["detail"]
    assert answers[401].headers["www-authenticate"] == "Bearer"
    assert "year" in answers[422].json()["detail"]
    assert answers[422].json()["errors"][0]["loc"] == ["query", "year"]
    rejected = client.post(
        f"{API}/uploads/hiring",
        headers=admin,
        files={"file": ("h.csv", b"period,field_code,postings\n2025-11,ic,-5\n")},
    )
    assert rejected.status_code == 422
    assert rejected.headers["content-type"] == "application/problem+json"
    body = rejected.json()
    assert (body["status"], body["title"], body["total"]) == (422, answers[422].json()["title"], 1)
    assert body["problems"][0]["row"] == 2
