"""The planners' dashboard on the trained demo, page by page, as a browser without JavaScript
sees it: sign-in, languages, the numbers behind each table and chart, exports, roles, and that
nothing is loaded from outside the server."""

from __future__ import annotations

import html
import io
import json
import math
import re
import shutil
from collections.abc import Iterator
from datetime import timedelta
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from support import Demo, bearer, page_token, sign_in

from data.catalog import load_default_catalog
from data.ingest import open_store
from data.store import Store
from data.vocabulary import KINDS, LEVEL_NAMES_ZH, LEVELS
from forecasting.pipeline import STAGES
from forecasting.promotion import Check
from forecasting.quotas import Reason
from forecasting.rules import DUPLICATE_RULE, Policy, rule_name
from forecasting.scales import SCALE_NOTES, SCALE_SOURCES, SOURCE_ADMIN, SOURCE_HIRES
from serving.app import create_app
from serving.auth import issue_key
from serving.dashboard import plotly_js_path
from serving.dashboard.i18n import (
    API_SUMMARIES_ZH,
    API_TAGS_ZH,
    EN,
    EXPORT_HEADERS_ZH,
    SCALE_TEXT_ZH,
    ZH,
    scale_text,
)
from serving.dashboard.render import format_probability
from serving.dashboard.tables import (
    EXPORT_COLUMNS,
    PAGE_SIZE,
    export_frame,
    ranking_rows,
    ranking_rule,
)
from serving.settings import Settings

PAGES = ("/", "/fields/ic", "/programmes", "/uploads", "/runs", "/api/docs")
TEMPLATES = Path(__file__).parents[2] / "serving" / "dashboard" / "templates"
STATIC = Path(__file__).parents[2] / "serving" / "dashboard" / "static"


# -- helpers -------------------------------------------------------------------------------------


class _Collector(HTMLParser):
    """Every tag with its attributes, and the text of JSON script blocks by id."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.json_blocks: dict[str, str] = {}
        self._json_id: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "script" and attributes.get("type") == "application/json":
            self._json_id = attributes.get("id") or ""
            self.json_blocks[self._json_id] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._json_id = None

    def handle_data(self, data: str) -> None:
        if self._json_id is not None:
            self.json_blocks[self._json_id] += data


def parse(html: str) -> _Collector:
    collector = _Collector()
    collector.feed(html)
    return collector


def figure(html: str, chart_id: str) -> dict[str, Any]:
    """The Plotly figure embedded for the chart container ``chart_id``."""
    page = parse(html)
    containers = [a for tag, a in page.tags if tag == "div" and a.get("id") == chart_id]
    assert containers, f"no chart container #{chart_id}"
    data: dict[str, Any] = json.loads(page.json_blocks[f"{chart_id}-figure"])
    return data


def rows_of(html: str, table_id: str) -> list[dict[str, str | None]]:
    """Attributes of the ``<tr>`` rows in the body of table ``table_id``."""
    match = re.search(rf'<table id="{table_id}">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert match, f"no table #{table_id}"
    return [dict(attrs) for tag, attrs in parse(match.group(1)).tags if tag == "tr"]


def login(client: TestClient, secret: str, next_path: str = "/") -> None:
    response = sign_in(client, secret, next_path, follow_redirects=False)
    assert response.status_code == 303, response.text


@pytest.fixture
def planner(client: TestClient, trained_demo: Demo) -> TestClient:
    login(client, trained_demo.keys["planner"])
    return client


@pytest.fixture
def outputs(trained_demo: Demo) -> Iterator[dict[str, Any]]:
    """The served run's outputs and catalog, read from the store as the pages should show."""
    store = open_store(trained_demo.url)
    try:
        run = store.run(trained_demo.run_id)
        yield {
            "run": run,
            "catalog": store.catalog(as_of=run.watermark),
            **{
                name: store.run_output(run.id, name)
                for name in ("balance", "recommendations", "warnings", "drivers", "demand_scales")
            },
        }
    finally:
        store.dispose()


def forecast_years(outputs: dict[str, Any]) -> list[int]:
    last = int(outputs["run"].metrics["last_observed_year"])
    return sorted(int(y) for y in outputs["balance"]["year"].unique() if y > last)


# -- signing in ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [*PAGES, "/programmes/export.csv"])
def test_every_page_redirects_to_the_login_without_a_key(client: TestClient, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_the_login_sends_back_to_the_page_asked_for(client: TestClient, trained_demo: Demo) -> None:
    response = client.get("/fields/ic?level=bachelor", follow_redirects=False)
    assert response.headers["location"] == "/login?next=/fields/ic%3Flevel%3Dbachelor"
    form = client.get(response.headers["location"])
    assert form.status_code == 200
    assert 'name="next" value="/fields/ic?level=bachelor"' in form.text
    answer = sign_in(
        client, trained_demo.keys["planner"], "/fields/ic?level=bachelor", follow_redirects=False
    )
    assert answer.headers["location"] == "/fields/ic?level=bachelor"
    # Never to another site, whatever the form says.
    client.cookies.clear()
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        answer = sign_in(client, trained_demo.keys["planner"], target, follow_redirects=False)
        assert answer.headers["location"] == "/"


def test_a_good_key_starts_a_session_whose_cookie_is_not_the_key(
    client: TestClient, trained_demo: Demo
) -> None:
    secret = trained_demo.keys["planner"]
    response = sign_in(client, secret, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookies = response.headers.get_list("set-cookie")
    session = next(cookie for cookie in cookies if cookie.startswith("talentcast_session="))
    assert "HttpOnly" in session
    assert "samesite=strict" in session.lower()
    assert secret not in " ".join(cookies)  # the browser never holds the key
    assert client.get("/").status_code == 200


def test_a_wrong_key_shows_the_form_again(client: TestClient) -> None:
    response = sign_in(client, "tc_not-a-key", follow_redirects=False)
    assert response.status_code == 401
    assert 'id="login-form"' in response.text
    assert ZH["login_error"] in response.text
    assert "talentcast_session" not in response.headers.get("set-cookie", "")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_sign_in_and_sign_out_refuse_forms_from_another_site(
    client: TestClient, trained_demo: Demo
) -> None:
    secret = trained_demo.keys["planner"]
    # a form posted from elsewhere has no (or another) one-time token
    forged = client.post("/login", data={"key": secret, "csrf": "guess"}, follow_redirects=False)
    assert forged.status_code == 403
    assert ZH["login_expired"] in forged.text
    foreign = sign_in(
        client, secret, follow_redirects=False, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    assert client.get("/", follow_redirects=False).status_code == 303  # not signed in
    login(client, secret)
    token = page_token(client.get("/").text)
    refused = client.post("/logout", data={"csrf": "wrong"}, follow_redirects=False)
    assert refused.status_code == 403
    assert client.get("/", follow_redirects=False).status_code == 200  # still signed in
    signed_out = client.post("/logout", data={"csrf": token}, follow_redirects=False)
    assert signed_out.status_code == 303


def test_a_stale_cookie_and_signing_out(client: TestClient, trained_demo: Demo) -> None:
    client.cookies.set("talentcast_session", "made-up-or-ended")
    assert client.get("/runs", follow_redirects=False).status_code == 303
    client.cookies.clear()
    login(client, trained_demo.keys["admin"])
    old_session = client.cookies["talentcast_session"]
    token = page_token(client.get("/runs").text)
    response = client.post("/logout", data={"csrf": token}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert 'talentcast_session=""' in response.headers["set-cookie"]
    assert client.get("/runs", follow_redirects=False).status_code == 303
    # the ended session is gone from the store, not just from this browser
    client.cookies.clear()
    client.cookies.set("talentcast_session", old_session)
    assert client.get("/runs", follow_redirects=False).status_code == 303


# -- every page, both languages ------------------------------------------------------------------

EXPECTED = {
    "zh": {
        "/": ["人才短缺总览", "集成电路", "人工智能", "短缺概率"],
        "/fields/ic": [
            "集成电路：供需预测",
            "缺口构成",
            "输送该领域人才的专业",
            "集成电路设计与集成系统",
        ],
        "/programmes": ["就业预警", "招生计划建议", "导出 CSV", "旅游管理"],
        "/uploads": ["数据上传", "最近的上传", "岗位数"],
        "/runs": ["训练运行", "成功", "发布中"],
        "/api/docs": ["API 文档", "参数", "/api/v1/balance"],
    },
    "en": {
        "/": ["Shortage overview", "Integrated circuits", "Artificial intelligence", "P(shortage)"],
        "/fields/ic": [
            "Integrated circuits: supply and demand",
            "What drives the gap",
            "Programmes feeding this field",
            "Integrated Circuit Design and Integrated System",
        ],
        "/programmes": ["Employment warnings", "Quota recommendations", "Export CSV", "Tourism"],
        "/uploads": ["Uploads", "Recent uploads", "postings"],
        "/runs": ["Training runs", "succeeded", "served"],
        "/api/docs": ["API reference", "Parameters", "/api/v1/balance"],
    },
}


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_in_both_languages(
    planner: TestClient, trained_demo: Demo, path: str, lang: str
) -> None:
    response = planner.get(path, params={"lang": lang})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert f'<html lang="{"zh-CN" if lang == "zh" else "en"}">' in html
    for text in EXPECTED[lang][path]:
        assert text in html, f"{text!r} missing from {path} in {lang}"
    # The switch to the other language, on the same page.
    switch = "English" if lang == "zh" else "中文"
    assert re.search(
        rf'<a class="lang-switch" id="lang-switch" href="[^"]*"[^>]*>{switch}</a>', html
    )
    # The header names the served run.
    assert f"#{trained_demo.run_id}</strong>" in html
    if path == "/":
        other = "Integrated circuits" if lang == "zh" else "集成电路"
        assert other not in html


def test_the_language_is_remembered(planner: TestClient) -> None:
    response = planner.get("/runs", params={"lang": "en"})
    assert "lang=en" in response.headers["set-cookie"]
    assert "Training runs" in planner.get("/").text or "Shortage overview" in planner.get("/").text
    assert '<html lang="en">' in planner.get("/uploads").text
    assert '<html lang="zh-CN">' in planner.get("/uploads", params={"lang": "zh"}).text
    assert '<html lang="zh-CN">' in planner.get("/runs").text
    assert planner.get("/", params={"lang": "fr"}).status_code == 200


def header_text(html: str) -> str:
    header = re.search(r'<div class="runbar" id="run-info">(.*?)</div>', html, re.S)
    assert header
    return re.sub(r"<[^>]+>", "", header.group(1))


def test_the_header_shows_run_upload_and_date(planner: TestClient, outputs: dict[str, Any]) -> None:
    run = outputs["run"]
    text = header_text(planner.get("/").text)
    assert f"运行 #{run.id}" in text
    assert f"数据截至第 {run.watermark} 次上传" in text
    assert "水位" not in text
    shanghai = (run.finished_at or run.created_at).astimezone(ZoneInfo("Asia/Shanghai"))
    assert f"{shanghai:%Y-%m-%d}" in text
    assert "时间均为Asia/Shanghai时间" in text
    english = header_text(planner.get("/", params={"lang": "en"}).text)
    assert f"data up to upload #{run.watermark}" in english
    assert "times in Asia/Shanghai" in english
    for strings in (ZH, EN):
        assert not any("水位" in text or "watermark" in text for text in strings.values())


def test_times_are_shown_in_the_city_time_zone(trained_demo: Demo, outputs: dict[str, Any]) -> None:
    """A zone other than UTC (and other than the default) set in the settings reaches every
    time the pages show, labelled with its offset."""
    run = outputs["run"]
    settings = trained_demo.settings(retrain_timezone="America/Sao_Paulo")
    with TestClient(create_app(settings)) as client:
        login(client, trained_demo.keys["admin"])
        runs = client.get("/runs").text
        uploads = client.get("/uploads").text
    created = run.created_at.astimezone(ZoneInfo("America/Sao_Paulo"))
    assert created.utcoffset() == timedelta(hours=-3)
    assert f"<td>{created:%Y-%m-%d %H:%M} UTC-03:00</td>" in runs
    assert "UTC</td>" not in runs
    assert "UTC</td>" not in uploads
    assert "时间均为America/Sao_Paulo时间" in header_text(runs)
    assert f"{(run.finished_at or run.created_at).astimezone(created.tzinfo):%Y-%m-%d}" in (
        header_text(runs)
    )
    stored = open_store(trained_demo.url)
    try:
        upload = stored.uploads()[0]
    finally:
        stored.dispose()
    uploaded = upload.created_at.astimezone(ZoneInfo("America/Sao_Paulo"))
    assert f"<td>{uploaded:%Y-%m-%d %H:%M} UTC-03:00</td>" in uploads


# -- overview ------------------------------------------------------------------------------------


@pytest.mark.parametrize("level", ["all", "bachelor", "doctor"])
def test_the_heatmap_is_fields_by_forecast_years(
    planner: TestClient, outputs: dict[str, Any], level: str
) -> None:
    html = planner.get("/", params={"level": level}).text
    data = figure(html, "chart-heatmap")["data"]
    assert len(data) == 1
    heatmap = data[0]
    assert heatmap["type"] == "heatmap"
    years = forecast_years(outputs)
    balance = outputs["balance"]
    cells = balance[(balance["level"] == level) & (balance["field_code"] != "all")]
    fields = outputs["catalog"].fields.sort_values("sort_order")
    expected = [code for code in fields["field_code"] if code in set(cells["field_code"])]
    names = dict(zip(fields["field_code"], fields["name_zh"], strict=True))
    assert heatmap["x"] == [str(year) for year in years]
    assert heatmap["y"] == [names[code] for code in expected]
    assert len(heatmap["z"]) == len(expected)
    assert all(len(row) == len(years) for row in heatmap["z"])
    # Spot-check a cell against the run's balance.
    row = expected.index(expected[0])
    value = cells[(cells["field_code"] == expected[0]) & (cells["year"] == years[-1])]
    assert heatmap["z"][row][-1] == pytest.approx(float(value["p_shortage"].iloc[0]), abs=1e-4)
    # Hover labels never round a near-certainty to "100%".
    assert heatmap["text"] == [
        ["" if z is None else format_probability(z) for z in cells] for cells in heatmap["z"]
    ]
    assert "%{text}" in heatmap["hovertemplate"]


def test_the_ranking_defaults_to_the_first_forecast_year(
    planner: TestClient, outputs: dict[str, Any]
) -> None:
    html = planner.get("/").text
    first = forecast_years(outputs)[0]
    assert f"{first} 年短缺排名" in html
    rows = rows_of(html, "ranking")
    balance = outputs["balance"]
    ranked = balance[
        (balance["year"] == first) & (balance["level"] == "all") & (balance["field_code"] != "all")
    ]
    assert len(rows) == len(ranked)
    largest = ranked["shortfall_w90"].max()
    assert rows[0]["data-field"] in set(
        ranked.loc[ranked["shortfall_w90"] == largest, "field_code"]
    )
    assert f'href="/fields/{rows[0]["data-field"]}?level=all"' in html
    later = planner.get("/", params={"year": first + 2, "level": "master"}).text
    assert f"{first + 2} 年短缺排名" in later
    assert planner.get("/", params={"year": 1999}).status_code == 422
    assert planner.get("/", params={"level": "kindergarten"}).status_code == 422


def test_probabilities_never_round_to_a_certainty_they_are_not() -> None:
    assert format_probability(0.995) == ">99%"
    assert format_probability(0.9949) == "99%"
    assert format_probability(0.004) == "<1%"
    assert format_probability(1.0) == "100%"
    assert format_probability(0.0) == "0%"
    assert format_probability(0.9996, 1) == ">99.9%"
    assert format_probability(float("nan")) == "—"


def _cells(html: str, table_id: str) -> list[list[str]]:
    """The text of each body cell of table ``table_id``, row by row."""
    match = re.search(rf'<table id="{table_id}">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert match, f"no table #{table_id}"
    return [
        [
            unescape(" ".join(re.sub(r"<[^>]+>", " ", cell).split()))
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", match.group(1), re.S)
    ]


@pytest.mark.parametrize("level", ["all", "master"])
def test_the_ranking_weighs_the_size_of_a_shortage(
    planner: TestClient, outputs: dict[str, Any], level: str
) -> None:
    first = forecast_years(outputs)[0]
    html = planner.get("/", params={"level": level, "lang": "en"}).text
    assert "Ranked by expected shortfall in persons" in html
    balance = outputs["balance"].set_index(["field_code", "level", "year"])
    rows = rows_of(html, "ranking")
    shortfalls = [balance.loc[(r["data-field"], level, first), "shortfall_w90"] for r in rows]
    assert shortfalls == sorted(shortfalls, reverse=True)
    for row, cells in zip(rows, _cells(html, "ranking"), strict=True):
        p = float(balance.loc[(row["data-field"], level, first), "p_shortage"])
        assert cells[-1] == format_probability(p)
        assert cells[-1] != "100%" or p == 1.0


def test_a_run_without_expected_shortfalls_is_ranked_by_probability_and_says_so(
    outputs: dict[str, Any],
) -> None:
    older = outputs["balance"].drop(columns="shortfall_w90")
    first = forecast_years(outputs)[0]
    assert ranking_rule(older) == "probability"
    rows = ranking_rows(older, first, "all", None)
    probabilities = [row["p_shortage"] for row in rows]
    assert probabilities == sorted(probabilities, reverse=True)
    assert all(math.isnan(row["shortfall_w90"]) for row in rows)
    assert ranking_rule(outputs["balance"]) == "shortfall"


def test_the_city_total_per_level_over_the_years(
    planner: TestClient, outputs: dict[str, Any]
) -> None:
    html = planner.get("/", params={"lang": "en"}).text
    assert "City total (all fields)" in html
    years = forecast_years(outputs)
    balance = outputs["balance"]
    totals = balance[balance["field_code"] == "all"].set_index(["level", "year"])
    rows = rows_of(html, "city-totals")
    assert rows[-1]["data-level"] == "all"
    assert {r["data-level"] for r in rows} == set(totals.index.get_level_values("level"))
    for row, cells in zip(rows, _cells(html, "city-totals"), strict=True):
        for year, cell in zip(years, cells[1:], strict=True):
            gap = totals.loc[(row["data-level"], year), "gap_p50"]
            assert cell.startswith(f"{gap:+,.0f}")


# -- a field -------------------------------------------------------------------------------------


def test_the_field_page_draws_fan_charts_of_ic(
    planner: TestClient, outputs: dict[str, Any]
) -> None:
    html = planner.get("/fields/ic").text
    last = int(outputs["run"].metrics["last_observed_year"])
    years = forecast_years(outputs)
    for chart in ("chart-supply", "chart-demand", "chart-gap"):
        traces = figure(html, chart)["data"]
        bands = [trace for trace in traces if trace.get("fill") == "toself"]
        assert len(bands) == 2, chart  # 95% and 80%
        lines = [trace for trace in traces if trace.get("fill") != "toself"]
        history, median = lines[-1], lines[0]
        assert history["x"][-1] == last
        assert median["x"] == [last, *years]
    balance = outputs["balance"]
    ic = balance[(balance["field_code"] == "ic") & (balance["level"] == "all")].sort_values("year")
    supply = figure(html, "chart-supply")["data"]
    # in whole persons, as the API serves them
    assert supply[-1]["y"][0] == round(float(ic["supply_p50"].iloc[0]))
    # Drivers: one row per forecast year; programmes: every one the crosswalk links to ic.
    assert len(rows_of(html, "drivers")) == len(years)
    crosswalk = outputs["catalog"].crosswalk
    linked = crosswalk[(crosswalk["field_code"] == "ic") & (crosswalk["weight"] > 0)]
    assert len(rows_of(html, "feeding")) == len(linked)
    for code in linked["programme_code"]:
        assert f"<code>{code}</code>" in html
    # Demand in persons: the postings-per-opening scale the run used, with its source.
    scale = outputs["demand_scales"].set_index("field_code").loc["ic"]
    assert f"{scale['scale_p50']:.2f}" in html
    assert f"{scale['scale_p10']:.2f}–{scale['scale_p90']:.2f}" in html
    assert scale["source"] == SOURCE_HIRES  # the demo reports hires for every field
    scale_note = re.search(r'<section class="card" id="scale">(.*?)</section>', html, re.S)
    assert scale_note
    assert f"依据：{SCALE_TEXT_ZH[SOURCE_HIRES]}。" in scale_note.group(1)
    if scale["note"]:
        assert SCALE_TEXT_ZH[str(scale["note"])] in scale_note.group(1)
    assert not re.search(r"[a-z]{3,}", visible_text(scale_note.group(1)))
    english = planner.get("/fields/ic", params={"lang": "en"}).text
    assert f"from: {SOURCE_HIRES}." in english


def test_the_field_page_per_level(planner: TestClient, outputs: dict[str, Any]) -> None:
    html = planner.get("/fields/ic", params={"level": "bachelor"}).text
    crosswalk = outputs["catalog"].crosswalk
    bachelor = crosswalk[
        (crosswalk["field_code"] == "ic")
        & (crosswalk["level"] == "bachelor")
        & (crosswalk["weight"] > 0)
    ]
    assert len(rows_of(html, "feeding")) == len(bachelor)
    drivers = outputs["drivers"]
    one = drivers[(drivers["field_code"] == "ic") & (drivers["level"] == "bachelor")]
    gap = f"{float(one.sort_values('year')['gap'].iloc[0]):+,.0f}"
    assert gap in html
    assert planner.get("/fields/ic", params={"level": "nursery"}).status_code == 422


def test_an_unknown_field_is_a_404_page(planner: TestClient) -> None:
    response = planner.get("/fields/chips")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "没有代码为 “chips” 的领域" in response.text
    english = planner.get("/fields/chips", params={"lang": "en"})
    assert "There is no field with the code “chips”" in english.text


def test_an_association_sees_its_own_fields(client: TestClient, trained_demo: Demo) -> None:
    login(client, trained_demo.keys["ic"])
    html = client.get("/").text
    assert figure(html, "chart-heatmap")["data"][0]["y"] == ["集成电路"]
    assert [row["data-field"] for row in rows_of(html, "ranking")] == ["ic"]
    assert client.get("/fields/ic").status_code == 200
    other = client.get("/fields/ai")
    assert other.status_code == 403
    assert "只能查看本协会负责领域（ic）" in other.text


# -- programmes ----------------------------------------------------------------------------------


def all_rows(client: TestClient, table: str = "recommendations", **params: str) -> list[dict]:
    """The rows of every page of the programmes table, in order, following "next" links."""
    rows: list[dict[str, str | None]] = []
    html = client.get("/programmes", params=params).text
    while True:
        rows += rows_of(html, table)
        following = re.search(r'<a class="button secondary" rel="next" href="([^"]+)"', html)
        if not following:
            return rows
        html = client.get(following.group(1).replace("&amp;", "&")).text


def test_programmes_filters(planner: TestClient, outputs: dict[str, Any]) -> None:
    recommendations = outputs["recommendations"]
    every = all_rows(planner)
    assert len(every) == len(recommendations)
    assert len({(row["data-programme"], row["data-level"]) for row in every}) == len(every)

    bachelor = all_rows(planner, level="bachelor")
    assert {row["data-level"] for row in bachelor} == {"bachelor"}
    assert len(bachelor) == int((recommendations["level"] == "bachelor").sum())

    ic = rows_of(planner.get("/programmes", params={"field": "ic"}).text, "recommendations")
    expected = recommendations[recommendations["field_code"] == "ic"]
    assert {(r["data-programme"], r["data-level"]) for r in ic} == set(
        zip(expected["programme_code"], expected["level"], strict=True)
    )

    by_name = rows_of(planner.get("/programmes", params={"q": "集成电路"}).text, "recommendations")
    assert by_name
    assert "080710T" in {row["data-programme"] for row in by_name}
    by_code = rows_of(planner.get("/programmes", params={"q": "0807"}).text, "recommendations")
    assert by_code
    assert all(str(row["data-programme"]).startswith("0807") for row in by_code)
    assert planner.get("/programmes", params={"field": "chips"}).status_code == 422


def test_programmes_show_the_warnings(planner: TestClient, outputs: dict[str, Any]) -> None:
    warnings = outputs["warnings"]
    html = planner.get("/programmes").text
    match = re.search(r'<table id="warnings">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert match
    assert match.group(1).count("<tr>") == len(warnings)
    for message in warnings["message_zh"]:
        assert message in html
    english = planner.get("/programmes", params={"lang": "en"}).text
    for message in warnings["message_en"]:
        assert message.replace("'", "&#39;") in english
    # Filtering by level keeps the warnings of that level only.
    level = str(warnings["level"].iloc[0])
    other_level = "doctor" if level != "doctor" else "bachelor"
    filtered = planner.get("/programmes", params={"level": other_level}).text
    assert str(warnings["message_zh"].iloc[0]) not in filtered


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_exports_hold_the_filtered_recommendations(
    planner: TestClient, outputs: dict[str, Any], fmt: str
) -> None:
    params = {"level": "bachelor", "q": "08", "lang": "en"}  # codes as headers, for scripts
    response = planner.get(f"/programmes/export.{fmt}", params=params)
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    if fmt == "csv":
        assert response.content.startswith(b"\xef\xbb\xbf")  # Excel reads the BOM as UTF-8
        frame = pd.read_csv(
            io.BytesIO(response.content), encoding="utf-8-sig", dtype={"programme_code": str}
        )
    else:
        frame = pd.read_excel(io.BytesIO(response.content), dtype={"programme_code": str})
    assert list(frame.columns) == list(EXPORT_COLUMNS)
    recommendations = outputs["recommendations"]
    names = outputs["catalog"].programmes.set_index(["programme_code", "level"])["name_zh"]
    chosen = recommendations[recommendations["level"] == "bachelor"]
    matches = [
        "08" in code or "08" in str(names.get((code, level), ""))
        for code, level in zip(chosen["programme_code"], chosen["level"], strict=True)
    ]
    expected = chosen[matches]
    assert len(frame) == len(expected) > 0
    assert set(frame["programme_code"]) == set(expected["programme_code"])
    assert set(frame["level"]) == {"bachelor"}
    row = frame[frame["programme_code"] == "080710T"].iloc[0]
    assert row["programme_name"] == "Integrated Circuit Design and Integrated System"
    source = expected[expected["programme_code"] == "080710T"].iloc[0]
    assert row["recommended_quota"] == round(source["recommended_quota"])
    assert row["reason"] == source["reason_en"]
    # persons in whole numbers, as the API serves them
    assert row["gap_after"] == round(source["gap_after"])
    assert all(float(value).is_integer() for value in frame["gap_before"].dropna())


def test_programmes_are_ordered_by_urgency_a_page_at_a_time(
    planner: TestClient, outputs: dict[str, Any]
) -> None:
    html = planner.get("/programmes", params={"lang": "en"}).text
    assert "Ordered by urgency: programmes with an employment warning first" in html
    first_page = rows_of(html, "recommendations")
    assert len(first_page) == PAGE_SIZE
    assert "Page 1 of" in html
    every = all_rows(planner)
    assert [int(str(row["data-urgency"])) for row in every] == list(range(1, len(every) + 1))
    # The rule: programmes with a warning first (most pressing action first), then by the size
    # of the change in seats.
    warned = outputs["warnings"].groupby(["programme_code", "level"])["action"].agg(set)
    recommendations = outputs["recommendations"].set_index(["programme_code", "level"])
    keys = [(str(row["data-programme"]), str(row["data-level"])) for row in every]
    has_warning = [key in warned.index for key in keys]
    assert has_warning == sorted(has_warning, reverse=True)
    unwarned = [abs(recommendations.loc[key, "change"]) for key in keys if key not in warned]
    assert unwarned == sorted(unwarned, reverse=True)
    # Page 2 continues where page 1 stopped; a page past the end is the last page.
    second = rows_of(planner.get("/programmes", params={"page": "2"}).text, "recommendations")
    assert second == every[PAGE_SIZE : 2 * PAGE_SIZE]
    last = planner.get("/programmes", params={"page": "999"}).text
    assert rows_of(last, "recommendations")[-1] == every[-1]
    first = planner.get("/programmes", params={"page": "0"}).text
    assert rows_of(first, "recommendations") == every[:PAGE_SIZE]


def test_programmes_sort_by_a_column_on_exact_values(
    planner: TestClient, outputs: dict[str, Any]
) -> None:
    html = planner.get("/programmes", params={"level": "bachelor"}).text
    # The heading links keep the filters and sort descending first for numbers.
    assert 'href="/programmes?level=bachelor&amp;sort=-change"' in html
    rows = all_rows(planner, level="bachelor", sort="-change")
    recommendations = outputs["recommendations"].set_index(["programme_code", "level"])
    changes = [recommendations.loc[(r["data-programme"], r["data-level"]), "change"] for r in rows]
    assert changes == sorted(changes, reverse=True)
    again = planner.get("/programmes", params={"level": "bachelor", "sort": "-change"}).text
    assert 'href="/programmes?level=bachelor&amp;sort=change"' in again  # click again: reverse
    ascending = all_rows(planner, level="bachelor", sort="change")
    up = [recommendations.loc[(r["data-programme"], r["data-level"]), "change"] for r in ascending]
    assert up == sorted(changes)
    assert planner.get("/programmes", params={"sort": "colour"}).status_code == 422


def test_the_warning_filter_is_kept_in_the_url_and_the_exports(
    planner: TestClient, outputs: dict[str, Any]
) -> None:
    warnings = outputs["warnings"]
    action = str(warnings["action"].iloc[0])
    marked = set(
        zip(
            warnings.loc[warnings["action"] == action, "programme_code"],
            warnings.loc[warnings["action"] == action, "level"],
            strict=True,
        )
    )
    html = planner.get("/programmes", params={"warning": action, "sort": "-change"}).text
    rows = rows_of(html, "recommendations")
    assert {(r["data-programme"], r["data-level"]) for r in rows} == marked
    assert f'<option value="{action}" selected>' in html
    assert f"export.csv?warning={action}&amp;sort=-change" in html
    assert f"export.csv?warning={action}&amp;sort=-change&amp;lang=zh" in html
    export = planner.get(
        "/programmes/export.csv", params={"warning": action, "sort": "-change", "lang": "en"}
    )
    frame = pd.read_csv(io.BytesIO(export.content), encoding="utf-8-sig", dtype=str)
    assert list(zip(frame["programme_code"], frame["level"], strict=True)) == [
        (r["data-programme"], r["data-level"]) for r in rows
    ]
    without = all_rows(planner, warning="none")
    assert not {(r["data-programme"], r["data-level"]) for r in without} & set(
        zip(warnings["programme_code"], warnings["level"], strict=True)
    )
    assert planner.get("/programmes", params={"warning": "panic"}).status_code == 422


def test_a_programme_shows_its_own_effect_not_its_fields(
    planner: TestClient, outputs: dict[str, Any]
) -> None:
    recommendations = outputs["recommendations"]
    export = planner.get("/programmes/export.csv", params={"field": "ic", "lang": "en"})
    frame = pd.read_csv(io.BytesIO(export.content), encoding="utf-8-sig", dtype={"level": str})
    frame = frame[frame["current_quota"] > 0]
    assert len(frame) > 0
    weights = outputs["catalog"].crosswalk.set_index(["programme_code", "level", "field_code"])
    for row in frame.itertuples(index=False):
        # Its own graduates in its field scale with its quota ...
        assert row.own_after / row.own_before == pytest.approx(
            row.recommended_quota / row.current_quota, rel=1e-9
        )
        # ... and never exceed its entrants times the share of them the field counts.
        weight = float(weights.loc[(str(row.programme_code), row.level, "ic"), "weight"])
        assert 0 < row.own_before <= row.current_quota * weight
    html = planner.get("/programmes", params={"field": "ic", "lang": "en"}).text
    assert "P(shortage) before → after" not in html
    grown = recommendations[
        (recommendations["field_code"] == "ic") & (recommendations["change"] > 0)
    ]
    assert len(grown) > 0
    code = str(grown["programme_code"].iloc[0])
    cell = re.search(rf'data-programme="{code}".*?<td class="num effect">(.*?)</td>', html, re.S)
    assert cell
    assert "field gap -" in cell.group(1)  # more of its graduates: the field's gap shrinks


def test_a_stopped_programme_is_marked_and_not_told_to_reduce(
    planner: TestClient, outputs: dict[str, Any]
) -> None:
    recommendations = outputs["recommendations"]
    stopped = recommendations[recommendations["stopped_since"].notna()]
    assert list(stopped["programme_code"]) == ["540101"]  # no intake since 2023 in the demo
    row = stopped.iloc[0]
    assert row["stopped_since"] == 2023
    assert row["recommended_quota"] == row["current_quota"] == 0
    warnings = outputs["warnings"]
    actions = set(warnings.loc[warnings["programme_code"] == "540101", "action"])
    assert not actions & {"stop", "alternate_years", "cap_at_placed", "reduce"}
    html = planner.get("/programmes", params={"q": "540101", "lang": "en"}).text
    assert "stopped since 2023" in html
    assert "Stopped enrolling in 2023 (no intake 2023-2025): no quota." in html
    row_html = re.search(r'<tr data-programme="540101".*?</tr>', html, re.S)
    assert row_html
    assert "stopped since 2023" in row_html.group(0)
    assert "action-reduce" not in html.split('id="recommendations"')[1]
    assert "action-reduce" not in html.split('id="warnings"')[1].split("</table>")[0]


def test_a_quota_held_by_a_bound_says_which(planner: TestClient, outputs: dict[str, Any]) -> None:
    recommendations = outputs["recommendations"]
    held = recommendations[
        (recommendations["quota_p10"] == recommendations["quota_p90"])
        & (recommendations["quota_p10"] == recommendations["recommended_quota"])
        & recommendations["binding"].str.contains("change_up")
    ]
    assert len(held) > 0
    row = held.iloc[0]
    html = planner.get(
        "/programmes", params={"q": row["programme_code"], "level": row["level"], "lang": "en"}
    ).text
    assert "held by max increase" in html
    spread = recommendations[recommendations["quota_p10"] < recommendations["quota_p90"]]
    if len(spread):
        other = spread.iloc[0]
        page = planner.get(
            "/programmes",
            params={"q": other["programme_code"], "level": other["level"], "lang": "en"},
        ).text
        assert "held by" not in page


def test_the_field_page_leads_to_its_programmes(
    planner: TestClient, outputs: dict[str, Any]
) -> None:
    html = planner.get("/fields/ic", params={"level": "bachelor", "lang": "en"}).text
    assert 'href="/programmes?field=ic&amp;level=bachelor"' in html
    assert "Programmes, warnings and quotas of this field" in html
    urgent = rows_of(html, "urgent-programmes")
    listed = rows_of(
        planner.get("/programmes", params={"field": "ic", "level": "bachelor"}).text,
        "recommendations",
    )
    assert urgent == [
        {k: v for k, v in row.items() if k != "data-urgency"} for row in listed[: len(urgent)]
    ]
    assert len(urgent) == min(5, len(listed))
    warned = planner.get("/fields/tourism", params={"lang": "en"}).text
    warnings = outputs["warnings"]
    for message in warnings.loc[warnings["programme_code"] == "540101", "message_en"]:
        assert message.replace("'", "&#39;") in warned


def test_the_field_page_of_an_association_has_no_programme_actions(
    client: TestClient, trained_demo: Demo
) -> None:
    login(client, trained_demo.keys["ic"])
    html = client.get("/fields/ic").text
    assert 'id="urgent-programmes"' not in html
    assert 'href="/programmes' not in html


def test_an_association_may_not_see_programmes(client: TestClient, trained_demo: Demo) -> None:
    login(client, trained_demo.keys["ic"])
    for path in ("/programmes", "/programmes/export.csv", "/programmes/export.xlsx"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "此页面不对您的角色（行业协会）开放" in response.text
    english = client.get("/programmes", params={"lang": "en"})
    assert "not available for your role (industry association)" in english.text
    assert 'href="/programmes"' not in client.get("/").text  # not in the navigation either


# -- uploads, runs, API reference ----------------------------------------------------------------


def test_the_uploads_page_per_role(client: TestClient, trained_demo: Demo) -> None:
    login(client, trained_demo.keys["ic"])
    html = client.get("/uploads").text
    options = [a.get("value") for tag, a in parse(html).tags if tag == "option"]
    assert options == ["hiring", "demand_survey"]
    assert 'id="schema-hiring"' in html
    assert 'id="schema-enrollment"' not in html
    assert '/static/uploads.js"' in html
    assert 'data-api="/api/v1"' in html
    # The association's own uploads only (it has sent none).
    assert "tj_education_commission" not in html

    login(client, trained_demo.keys["admin"])
    html = client.get("/uploads").text
    options = [a.get("value") for tag, a in parse(html).tags if tag == "option"]
    assert options == list(KINDS)
    assert "tj_education_commission" in html
    assert "enrollment_correction_2024.csv" in html

    login(client, trained_demo.keys["planner"])
    html = client.get("/uploads").text
    assert 'id="upload-form"' not in html
    assert ZH["upload_not_allowed"] in html
    assert "tj_education_commission" in html


def test_the_runs_page(planner: TestClient, outputs: dict[str, Any]) -> None:
    run = outputs["run"]
    html = planner.get("/runs", params={"lang": "en"}).text
    rows = rows_of(html, "runs")
    assert [row["data-run"] for row in rows] == [str(run.id)]
    assert rows[0]["class"] == "served"
    assert 'id="served-run"' in html
    assert f"First forecast year: <strong>{run.metrics['first_forecast_year']}</strong>" in html
    for stage in run.timings:
        assert stage in html


def test_the_api_reference_is_rendered_from_the_openapi_document(planner: TestClient) -> None:
    document = planner.app.openapi()  # type: ignore[attr-defined]
    html = planner.get("/api/docs").text
    for path, item in document["paths"].items():
        for method in item:
            badge = f'<span class="method method-{method}">{method.upper()}</span>'
            assert f"{badge} <code>{path}</code>" in html, (method, path)
    assert "情景推演" in html  # a summary, in the page's language
    assert "What-if scenario" in planner.get("/api/docs", params={"lang": "en"}).text
    assert "Read this run instead of the served one" in html  # a parameter's description
    assert "integer ≥ 1 ≤ 2147483647 | null" in html  # its type and range
    assert "Page_BalanceRow_" in html  # a response model
    assert "multipart/form-data" in html  # a request body
    assert "&#34;080717T&#34;" in html or "&quot;080717T&quot;" in html  # an example
    # The dashboard's own routes are not part of the API.
    assert "/login" not in document["paths"]
    assert not any(path.startswith(("/fields", "/programmes")) for path in document["paths"])


# -- offline -------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_no_page_loads_anything_from_outside(planner: TestClient, lang: str) -> None:
    pages = [*PAGES, "/fields/chips", "/?level=bachelor"]
    for path in pages:
        html = planner.get(path, params={"lang": lang}).text
        for tag, attributes in parse(html).tags:
            for name in ("src", "href", "action"):
                value = attributes.get(name) or ""
                assert not value.startswith(("http://", "https://", "//")), (path, tag, value)
        assert "cdn." not in html.lower()
    planner.cookies.clear()
    login_page = planner.get("/login").text
    assert "http://" not in login_page
    assert "https://" not in login_page
    for asset in ("dashboard.css", "charts.js", "uploads.js"):
        text = (STATIC / asset).read_text()
        assert "http://" not in text
        assert "https://" not in text


def test_pages_forbid_outside_resources_to_the_browser(planner: TestClient) -> None:
    for path in ("/", "/fields/ic", "/login"):
        headers = planner.get(path).headers
        policy = headers["content-security-policy"]
        assert "default-src 'self'" in policy
        assert "script-src 'self';" in policy
        assert headers["cache-control"] == "private, no-cache"


def test_plotly_js_is_served_from_the_installed_package(client: TestClient) -> None:
    response = client.get("/static/plotly.min.js")
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] in (
        "text/javascript",
        "application/javascript",
    )
    assert response.content == plotly_js_path().read_bytes()
    assert b"plotly.js" in response.content[:500]
    for asset, kind in (("charts.js", "javascript"), ("dashboard.css", "text/css")):
        answer = client.get(f"/static/{asset}")
        assert answer.status_code == 200
        assert kind in answer.headers["content-type"]


# -- translations --------------------------------------------------------------------------------


def test_both_languages_have_every_string() -> None:
    assert set(ZH) == set(EN)
    assert all(ZH[key].strip() and EN[key].strip() for key in ZH)
    used: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"\bt\('([a-z0-9_]+)'\s*[,)]", template.read_text()))
    for module in TEMPLATES.parent.glob("*.py"):
        used |= set(re.findall(r"\bt\(\s*\"([a-z0-9_]+)\"\s*[,)]", module.read_text()))
    assert used
    assert used <= set(ZH), used - set(ZH)
    # Keys built from data: kinds, actions, binding constraints, tiers, run statuses.
    dynamic = [f"kind_{kind}" for kind in KINDS]
    dynamic += [
        f"action_{a}"
        for a in (
            "stop",
            "alternate_years",
            "cap_at_placed",
            "reduce",
            "no_new_points",
            "review_duplicates",
        )
    ]
    dynamic += [
        f"binding_{b}" for b in ("capacity", "change_up", "change_down", "rule", "total_quota")
    ]
    dynamic += [f"tier_{t}" for t in ("national_strategic", "urgent", "social", "urban", "other")]
    dynamic += [f"status_{s}" for s in ("pending", "running", "succeeded", "failed")]
    assert set(dynamic) <= set(ZH), set(dynamic) - set(ZH)


def test_the_shipped_data_only_uses_translated_codes(outputs: dict[str, Any]) -> None:
    """A new action, constraint or tier in the pipeline needs its words here too."""
    actions = {f"action_{a}" for a in outputs["warnings"]["action"]}
    binding = {
        f"binding_{name}"
        for names in outputs["recommendations"]["binding"].dropna()
        for name in names.split(",")
        if name
    }
    tiers = {f"tier_{tier}" for tier in outputs["catalog"].fields["tier"]}
    assert actions | binding | tiers <= set(ZH)


def test_pages_without_a_served_run(tmp_path: Path) -> None:
    """A fresh installation: the pages say that nothing is trained yet instead of failing."""
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    store = open_store(url)
    try:
        secret = issue_key(store, "admin", "admin", actor="test")[1]
        settings = Demo(url, {}, 0).settings()
        with TestClient(create_app(settings, store=store)) as client:
            login(client, secret)
            for path in ("/", "/fields/ic", "/programmes"):
                response = client.get(path)
                assert response.status_code == 503, path
                assert ZH["no_run"] in response.text
                assert ZH["no_run_text"] in response.text
            for path in ("/runs", "/uploads", "/api/docs"):
                response = client.get(path)
                assert response.status_code == 200, path
                assert ZH["no_run"] in response.text  # in the header
    finally:
        store.dispose()


def held_run(store: Store, checks: list[dict[str, Any]]) -> int:
    """A run that finished with these gate checks and was not served."""
    run = store.create_run(store.watermark(), {})
    store.start_run(run.id)
    store.finish_run(run.id, {}, metrics={"gates": {"checks": checks}}, timings={})
    return run.id


def test_planners_read_why_a_finished_run_is_not_served(tmp_path: Path) -> None:
    """A new city's first run that a quality gate kept back: the dashboard and the API say
    which run, which gate and why, and what an admin can do, instead of "train one"."""
    url = f"sqlite:///{tmp_path / 'refused.db'}"
    store = open_store(url, catalog=load_default_catalog())
    try:
        secret = issue_key(store, "planner", "planner", actor="test")[1]
        failed = store.create_run(store.watermark(), {})
        store.start_run(failed.id)
        store.fail_run(failed.id, "no enrollment data")
        settings = Demo(url, {}, 0).settings()
        with TestClient(create_app(settings, store=store)) as client:
            detail = client.get("/api/v1/balance", headers=bearer(secret)).json()["detail"]
            assert f"run {failed.id} failed (no enrollment data)" in detail
            gate = "balance backtest loses to persistence on rank correlation"
            refused = held_run(store, [{"name": "balance", "passed": False, "detail": gate}])
            detail = client.get("/api/v1/balance", headers=bearer(secret)).json()["detail"]
            assert f"run {refused} finished but was not served" in detail
            assert gate in detail
            assert f"POST /api/v1/runs/{refused}/promote" in detail
            login(client, secret)
            page = client.get("/?lang=en")
            assert page.status_code == 503
            expected = EN["no_run_refused"].format(run=refused, reason=gate, error="")
            assert expected in html.unescape(page.text)
            assert EN["no_run_text"] not in html.unescape(page.text)
    finally:
        store.dispose()


def test_the_runs_page_says_why_a_run_was_held_in_the_pages_language(tmp_path: Path) -> None:
    """A run a gate held back says why in Chinese on the Chinese page; a run recorded before
    gate checks had codes keeps its English reason in both languages."""
    url = f"sqlite:///{tmp_path / 'held.db'}"
    store = open_store(url, catalog=load_default_catalog())
    try:
        secret = issue_key(store, "planner", "planner", actor="test")[1]
        recorded = "balance backtest loses to persistence on rank correlation"
        held_run(store, [{"name": "balance", "passed": False, "detail": recorded}])
        missing = Check.of(
            "no_nan:balance", False, "output.missing_values", output="balance", missing=3
        )
        held_run(store, [missing.to_dict()])
        settings = Demo(url, {}, 0).settings()
        with TestClient(create_app(settings, store=store)) as client:
            login(client, secret)
            chinese = html.unescape(client.get("/runs", params={"lang": "zh"}).text)
            english = html.unescape(client.get("/runs", params={"lang": "en"}).text)
        assert f"{ZH['held_reason']}: balance 有 3 个缺失值" in chinese
        assert f"{EN['held_reason']}: balance has 3 missing value(s)" in english
        assert "has 3 missing value(s)" not in chinese
        assert f"{ZH['held_reason']}: {recorded}" in chinese
        assert f"{EN['held_reason']}: {recorded}" in english
    finally:
        store.dispose()


# -- uploading through the dashboard's session ---------------------------------------------------


@pytest.fixture
def writer(trained_demo: Demo, tmp_path: Path) -> Iterator[TestClient]:
    """The app on a copy of the trained store, so that uploads leave the shared one alone."""
    source = Path(trained_demo.url.removeprefix("sqlite:///"))
    copy = tmp_path / "copy.db"
    shutil.copy(source, copy)
    settings = Demo(f"sqlite:///{copy}", trained_demo.keys, trained_demo.run_id).settings()
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_the_session_cookie_authenticates_uploads(writer: TestClient, trained_demo: Demo) -> None:
    """What uploads.js does: post the file to the API with the cookie the login set and the
    page's CSRF token."""
    login(writer, trained_demo.keys["ic"])
    token = {"X-CSRF-Token": page_token(writer.get("/uploads").text)}
    good = b"period,field_code,postings\n2025-11,ic,120\n2025-12,ic,125\n"
    answer = writer.post(
        "/api/v1/uploads/hiring", files={"file": ("ok.csv", good, "text/csv")}, headers=token
    )
    assert answer.status_code == 201, answer.text
    upload_id = answer.json()["upload"]["id"]
    bad = b"period,field_code,postings\n2025-11,ic,120\n2025-12,ic,-5\n"
    answer = writer.post(
        "/api/v1/uploads/hiring", files={"file": ("bad.csv", bad, "text/csv")}, headers=token
    )
    assert answer.status_code == 422
    assert {"row": 3, "column": "postings"}.items() <= answer.json()["problems"][0].items()
    html = writer.get("/uploads").text
    assert f"#{upload_id}</td>" in html
    assert "ok.csv" in html


def test_exported_text_that_a_spreadsheet_would_run_is_kept_as_text() -> None:
    names = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "集成电路设计"]
    rows = pd.DataFrame({column: ["x"] * len(names) for column in EXPORT_COLUMNS})
    rows = rows.assign(programme_name=names, change=[-5, 3, -1, 0, 2])
    exported = export_frame(rows, "en")
    assert exported["programme_name"].tolist() == [
        '\'=HYPERLINK("http://x","y")',
        "'+1+1",
        "'-2+3",
        "'@SUM(A1)",
        "集成电路设计",
    ]
    assert exported["change"].tolist() == [-5, 3, -1, 0, 2]  # numbers stay numbers
    assert rows["programme_name"].tolist() == names  # the caller's frame is untouched


def test_api_writes_made_with_the_session_cookie_need_this_site_and_its_token(
    client: TestClient, trained_demo: Demo
) -> None:
    login(client, trained_demo.keys["planner"])
    token = page_token(client.get("/").text)
    body = {"quotas": [{"programme_code": "080717T", "level": "bachelor", "quota": 2000}]}
    assert client.get("/api/v1/fields").status_code == 200  # reads need no token
    forged = [
        client.post("/api/v1/scenarios", json=body),  # no token: a form or fetch from elsewhere
        client.post("/api/v1/scenarios", json=body, headers={"X-CSRF-Token": "guess"}),
        client.post(
            "/api/v1/scenarios",
            json=body,
            headers={"X-CSRF-Token": token, "Origin": "https://evil.example"},
        ),
    ]
    assert [answer.status_code for answer in forged] == [403, 403, 403]
    assert "cross-site request refused" in forged[0].json()["detail"]
    ours = client.post(
        "/api/v1/scenarios",
        json=body,
        headers={"X-CSRF-Token": token, "Origin": "http://testserver"},
    )
    assert ours.status_code == 200, ours.text
    # a bearer key is not a browser's ambient credential: no token asked
    client.cookies.clear()
    bearer_answer = client.post(
        "/api/v1/scenarios", json=body, headers=bearer(trained_demo.keys["planner"])
    )
    assert bearer_answer.status_code == 200


# -- every code in the page's language -----------------------------------------------------------


class _Text(HTMLParser):
    """The text a reader sees: no tags, attributes, scripts or styles."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._hidden += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._hidden -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible_text(html: str) -> str:
    reader = _Text()
    reader.feed(html)
    return " ".join(reader.parts)


def rule_codes() -> list[str]:
    return [rule.code for rule in Policy.default().rules] + [DUPLICATE_RULE]


def test_every_rule_reason_stage_export_column_and_route_has_words_in_both_languages() -> None:
    """Walks the codes the product defines: a rule, reason, stage, export column or API route
    added without its words fails here rather than showing raw on a Chinese page."""
    for code in rule_codes():
        zh, en = rule_name(code, "zh"), rule_name(code, "en")
        assert len({code, zh, en}) == 3, code
        assert re.search(r"[\u4e00-\u9fff]", zh), code
    for reason in Reason:
        assert {f"reason_code_{reason}"} <= ZH.keys() & EN.keys(), reason
        assert ZH[f"reason_code_{reason}"] != EN[f"reason_code_{reason}"]
    for stage in STAGES:
        assert {f"stage_{stage}"} <= ZH.keys() & EN.keys(), stage
        assert re.search(r"[\u4e00-\u9fff]", ZH[f"stage_{stage}"]), stage
    assert list(EXPORT_HEADERS_ZH) == list(EXPORT_COLUMNS)
    for text in (*SCALE_SOURCES, SOURCE_ADMIN, *SCALE_NOTES):
        assert re.search(r"[\u4e00-\u9fff]", SCALE_TEXT_ZH[text]), text
    assert scale_text(f"{SOURCE_ADMIN}association census", "zh") == "管理员设定：association census"
    app = create_app(Settings(database_url="sqlite://", run_worker=False, mlflow_tracking_uri=""))
    for path, item in app.openapi()["paths"].items():
        for method, operation in item.items():
            assert f"{method.upper()} {path}" in API_SUMMARIES_ZH, (method, path)
            assert set(operation.get("tags", [])) <= API_TAGS_ZH.keys(), (method, path)


def test_a_chinese_page_shows_no_raw_rule_code_or_stage_name(
    planner: TestClient, outputs: dict[str, Any]
) -> None:
    warnings = outputs["warnings"]
    fired = set(warnings["rule"])
    assert len(fired) >= 2  # the demo fires rules, so the check below has something to find
    html = planner.get("/programmes").text
    text = visible_text(html)
    for code in rule_codes():
        assert code not in text, code
    cells = re.findall(r'<td data-rule="([^"]+)">([^<]*)</td>', html)
    assert {code for code, _ in cells} == fired
    assert all(unescape(name) == rule_name(code, "zh") for code, name in cells)
    english = re.findall(
        r'<td data-rule="([^"]+)">([^<]*)</td>', planner.get("/programmes?lang=en").text
    )
    assert all(unescape(name) == rule_name(code, "en") for code, name in english)

    run = outputs["run"]
    runs = planner.get("/runs", params={"lang": "zh"}).text
    stages = re.findall(r'<span class="kv" data-stage="([^"]+)">([^<]*?) [\d.,]+</span>', runs)
    assert [stage for stage, _ in stages] == list(run.timings)
    assert all(name == ZH[f"stage_{stage}"] for stage, name in stages)
    text = visible_text(runs)
    for stage in STAGES:
        assert not re.search(rf"\b{stage}\b", text), stage


def test_the_chinese_api_reference_names_every_route_in_chinese(planner: TestClient) -> None:
    document = planner.app.openapi()  # type: ignore[attr-defined]
    html = planner.get("/api/docs").text
    toc = re.search(r'<nav class="toc card" aria-label="API">(.*?)</nav>', html, re.S)
    assert toc
    for path, item in document["paths"].items():
        for method, operation in item.items():
            summary = API_SUMMARIES_ZH[f"{method.upper()} {path}"]
            assert f"<code>{path}</code></a> {summary}</li>" in toc.group(1), (method, path)
            assert f"</a> {operation['summary']}</li>" not in toc.group(1), (method, path)
    for tag in API_TAGS_ZH.values():
        if tag != "其他":
            assert f"<h3>{tag}</h3>" in toc.group(1)
    english = planner.get("/api/docs", params={"lang": "en"}).text
    assert "<h3>balance</h3>" in english
    assert "</a> Supply, demand and gap</li>" in english


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_chinese_export_has_chinese_headers_and_levels_the_english_one_codes(
    planner: TestClient, outputs: dict[str, Any], fmt: str
) -> None:
    def read(lang: str) -> pd.DataFrame:
        response = planner.get(f"/programmes/export.{fmt}", params={"lang": lang})
        assert response.status_code == 200
        if fmt == "csv":
            return pd.read_csv(io.BytesIO(response.content), encoding="utf-8-sig", dtype=str)
        return pd.read_excel(io.BytesIO(response.content), dtype=str)

    chinese, english = read("zh"), read("en")
    assert list(chinese.columns) == [EXPORT_HEADERS_ZH[column] for column in EXPORT_COLUMNS]
    assert list(english.columns) == list(EXPORT_COLUMNS)
    assert len(chinese) == len(english) > 0
    levels = dict(zip(english["level"], chinese["层次"], strict=True))
    assert set(levels) <= set(LEVELS)
    assert levels == {level: LEVEL_NAMES_ZH[level] for level in levels}
    # constraints, warning actions and reason codes in words, codes in English
    bound = english["binding"].notna()
    assert bound.any()
    pairs = zip(english.loc[bound, "binding"], chinese.loc[bound, "起作用的约束"], strict=True)
    for codes, words in pairs:
        assert words == "、".join(ZH[f"binding_{code}"] for code in codes.split(","))
    warned = english["warning_actions"].notna()
    assert warned.any()
    actions = english.loc[warned, "warning_actions"]
    pairs = zip(actions, chinese.loc[warned, "预警措施"], strict=True)
    for codes, words in pairs:
        assert words == "、".join(ZH[f"action_{code}"] for code in codes.split(","))
    for codes, words in zip(english["reasons"], chinese["理由类别"], strict=True):
        assert set(codes.split(",")) <= {str(reason) for reason in Reason}
        assert words == "、".join(ZH[f"reason_code_{code}"] for code in codes.split(","))
    assert not chinese["理由类别"].str.contains("[A-Z_]{4,}").any()
