"""The dashboard in a real browser: headless Chromium drives the pages a planner and an
association use, and checks that the charts are really drawn and the upload form really reports
problems. Screenshots of every step go to ``$TALENTCAST_TEST_ARTIFACTS`` (default
``test-artifacts/`` in the repository).

Needs the Debian packages ``chromium`` and ``chromium-driver``: without them the tests fail
(CI installs them), they do not skip.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait
from support import Demo

from serving.app import create_app

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REPO = Path(__file__).parents[2]
WAIT_SECONDS = 30


# -- the server and the browser ------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server(trained_demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app served by uvicorn on a free localhost port, on a copy of the trained store
    (the uploads below must not change the store the other tests share)."""
    copy = tmp_path_factory.mktemp("browser") / "demo.db"
    shutil.copy(Path(trained_demo.url.removeprefix("sqlite:///")), copy)
    settings = Demo(f"sqlite:///{copy}", trained_demo.keys, trained_demo.run_id).settings()
    port = _free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    uvicorn_server = uvicorn.Server(config)
    thread = threading.Thread(target=uvicorn_server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1) as answer:
                if answer.status == 200:
                    break
        except OSError:
            if time.monotonic() > deadline or not thread.is_alive():
                pytest.fail("the test server did not answer /healthz")
            time.sleep(0.1)
    try:
        yield base
    finally:
        uvicorn_server.should_exit = True
        thread.join(timeout=10)


def _chrome_options() -> webdriver.ChromeOptions:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI containers run as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
        "--lang=zh-CN",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return options


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[WebDriver]:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not found: install the Debian packages chromium and "
            "chromium-driver (apt-get install chromium chromium-driver) to run the browser tests"
        )
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=_chrome_options())
    driver.set_page_load_timeout(WAIT_SECONDS)
    try:
        yield driver
    finally:
        # Whatever happened, keep the last screen: it is what a failing step looked like.
        _screenshot(driver, artifacts() / f"{request.node.name}-last.png")
        driver.quit()


def artifacts() -> Path:
    folder = Path(os.environ.get("TALENTCAST_TEST_ARTIFACTS") or REPO / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _screenshot(driver: WebDriver, path: Path) -> None:
    """The whole page, not only the first screen."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, max(1000, min(int(height), 6000)))
    driver.save_screenshot(str(path))
    driver.set_window_size(1400, 1000)


@pytest.fixture
def shot(browser: WebDriver, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """``shot("overview")`` saves the page as ``<test>-NN-overview.png``."""
    taken: list[Path] = []

    def take(step: str) -> Path:
        name = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name).strip("-")
        path = artifacts() / f"{name}-{len(taken) + 1:02d}-{step}.png"
        _screenshot(browser, path)
        taken.append(path)
        return path

    return take


def wait_for(driver: WebDriver, condition: Callable[[WebDriver], object], what: str) -> object:
    try:
        return WebDriverWait(driver, WAIT_SECONDS).until(condition)
    except TimeoutException:
        pytest.fail(f"timed out waiting for {what} on {driver.current_url}")


def sign_in(driver: WebDriver, base: str, secret: str) -> None:
    driver.get(f"{base}/")
    wait_for(driver, expected_conditions.url_contains("/login"), "the redirect to /login")
    driver.find_element(By.ID, "key").send_keys(secret)
    driver.find_element(By.ID, "login-submit").click()
    wait_for(driver, lambda d: "/login" not in d.current_url, "the page after signing in")


def drawn(driver: WebDriver, chart_id: str) -> None:
    """Wait until charts.js has handed the figure to Plotly and Plotly has drawn it."""
    wait_for(
        driver,
        lambda d: d.find_element(By.ID, chart_id).get_attribute("data-drawn") == "true",
        f"#{chart_id} to be drawn",
    )


def severe_errors(driver: WebDriver) -> list[str]:
    logs = driver.get_log("browser")  # type: ignore[attr-defined]
    return [entry["message"] for entry in logs if entry["level"] == "SEVERE"]


# -- a planner -----------------------------------------------------------------------------------


def test_a_planner_reads_the_charts_in_both_languages(
    browser: WebDriver, server: str, trained_demo: Demo, shot: Callable[[str], Path]
) -> None:
    browser.get(f"{server}/runs")
    wait_for(browser, expected_conditions.url_contains("/login"), "the redirect to /login")
    shot("login")
    sign_in(browser, server, trained_demo.keys["planner"])

    # Overview: the heatmap is drawn (an SVG with the heatmap's image and a tick per field).
    drawn(browser, "chart-heatmap")
    chart = browser.find_element(By.ID, "chart-heatmap")
    assert chart.find_elements(By.CSS_SELECTOR, "svg.main-svg")
    images = chart.find_elements(By.CSS_SELECTOR, "g.hm image")
    assert len(images) == 1
    assert str(images[0].get_attribute("href")).startswith("data:image/png")
    assert float(images[0].get_attribute("width") or 0) > 100
    ticks = chart.find_elements(By.CSS_SELECTOR, "g.ytick text")
    ranking = browser.find_elements(By.CSS_SELECTOR, "#ranking tbody tr")
    assert len(ticks) == len(ranking) > 20
    assert "集成电路" in {tick.text for tick in ticks}
    shot("overview")

    # A field: three fan charts with their bands and lines.
    browser.find_element(By.CSS_SELECTOR, '#ranking a[href^="/fields/ic"]').click()
    for chart_id in ("chart-supply", "chart-demand", "chart-gap"):
        drawn(browser, chart_id)
        chart = browser.find_element(By.ID, chart_id)
        assert chart.find_elements(By.CSS_SELECTOR, "svg.main-svg")
        fills = chart.find_elements(By.CSS_SELECTOR, "g.scatterlayer path.js-fill")
        lines = chart.find_elements(By.CSS_SELECTOR, "g.scatterlayer path.js-line")
        assert len(fills) >= 2, chart_id  # the 95% and 80% bands
        assert len(lines) >= 2, chart_id  # history and forecast median
        assert all(len(path.get_attribute("d") or "") > 20 for path in fills + lines)
    assert browser.find_element(By.TAG_NAME, "h1").text == "集成电路：供需预测"
    shot("field-ic")

    # English, by the switch on the page; the choice holds on the next page.
    browser.find_element(By.ID, "lang-switch").click()
    wait_for(
        browser,
        lambda d: (
            d.find_element(By.TAG_NAME, "h1").text == "Integrated circuits: supply and demand"
        ),
        "the English field page",
    )
    drawn(browser, "chart-gap")
    assert "What drives the gap" in browser.page_source
    shot("field-ic-en")
    browser.find_element(By.LINK_TEXT, "Overview").click()
    drawn(browser, "chart-heatmap")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Shortage overview"
    ticks = browser.find_elements(By.CSS_SELECTOR, "#chart-heatmap g.ytick text")
    assert "Integrated circuits" in {tick.text for tick in ticks}
    shot("overview-en")

    browser.find_element(By.LINK_TEXT, "Programmes & quotas").click()
    wait_for(browser, lambda d: d.find_elements(By.ID, "recommendations"), "the programmes page")
    shot("programmes-en")
    assert not [m for m in severe_errors(browser) if "favicon" not in m]


def test_a_planner_goes_from_a_field_to_its_programmes(
    browser: WebDriver, server: str, trained_demo: Demo, shot: Callable[[str], Path]
) -> None:
    sign_in(browser, server, trained_demo.keys["planner"])
    browser.get(f"{server}/fields/ic?lang=en")
    urgent = browser.find_elements(By.CSS_SELECTOR, "#urgent-programmes tbody tr[data-programme]")
    assert len(urgent) == 5
    first = str(urgent[0].get_attribute("data-programme"))
    shot("field-ic-urgent")

    # The field's programmes page, filtered to the field, most urgent first.
    browser.find_element(By.ID, "field-actions").click()
    wait_for(browser, lambda d: d.find_elements(By.ID, "recommendations"), "the programmes page")
    assert browser.current_url.endswith("/programmes?field=ic")
    assert Select(browser.find_element(By.NAME, "field")).first_selected_option.text == (
        "Integrated circuits"
    )
    rows = browser.find_elements(By.CSS_SELECTOR, "#recommendations tbody tr[data-programme]")
    assert rows[0].get_attribute("data-programme") == first
    links = browser.find_elements(By.CSS_SELECTOR, "#recommendations tbody td a[href^='/fields/']")
    assert {link.get_attribute("href") for link in links} == {f"{server}/fields/ic"}
    assert len(links) == len(rows) > 5
    assert [row.get_attribute("data-urgency") for row in rows] == [
        str(n) for n in range(1, len(rows) + 1)
    ]
    shot("programmes-of-ic")

    # Sorting by a column keeps the filters; so does the export link.
    browser.find_element(
        By.CSS_SELECTOR, "#recommendations th a.sort[href*='sort=-change']"
    ).click()
    wait_for(browser, lambda d: "sort=-change" in d.current_url, "the sorted page")
    assert "field=ic" in browser.current_url
    export = browser.find_element(By.ID, "export-csv").get_attribute("href") or ""
    assert "field=ic" in export
    assert "sort=-change" in export
    shot("programmes-of-ic-by-change")

    # Back on the field page, a programme's own link shows that programme.
    browser.get(f"{server}/fields/ic?lang=en")
    browser.find_element(By.CSS_SELECTOR, "#urgent-programmes tbody tr a").click()
    wait_for(browser, lambda d: f"q={first}" in d.current_url, "the programme's row")
    shown = browser.find_elements(By.CSS_SELECTOR, "#recommendations tbody tr[data-programme]")
    assert [row.get_attribute("data-programme") for row in shown] == [first]
    shot("programme")
    assert not [m for m in severe_errors(browser) if "favicon" not in m]


#: Where each column of a table ends, and where its scrolling container ends (page pixels).
MEASURE_TABLE = """
const table = document.getElementById(arguments[0]);
const wrap = table.closest('.table-wrap');
const box = wrap.getBoundingClientRect();
return {
  viewport: document.documentElement.clientWidth,
  pageWidth: document.documentElement.scrollWidth,
  wrapLeft: box.left, wrapRight: box.right,
  wrapScroll: wrap.scrollWidth, wrapClient: wrap.clientWidth,
  columns: Array.from(table.tHead.rows[0].cells).map(c => {
    const r = c.getBoundingClientRect();
    return {text: c.innerText, left: r.left, right: r.right, width: r.width};
  }),
};
"""


def test_the_english_programmes_table_fits_1400_px(
    browser: WebDriver, server: str, trained_demo: Demo, shot: Callable[[str], Path]
) -> None:
    sign_in(browser, server, trained_demo.keys["planner"])
    browser.set_window_size(1400, 1000)
    browser.get(f"{server}/programmes?lang=en")
    pages = 0
    while True:
        pages += 1
        for table in ("recommendations", "warnings"):
            box = browser.execute_script(MEASURE_TABLE, table)
            assert box["viewport"] <= 1400
            assert box["pageWidth"] <= box["viewport"], "the page scrolls sideways"
            assert box["wrapScroll"] <= box["wrapClient"], f"#{table} scrolls inside its card"
            for column in box["columns"]:
                assert column["width"] > 20, column["text"]
                assert column["left"] >= box["wrapLeft"] - 0.5, column["text"]
                assert column["right"] <= box["wrapRight"] + 0.5, f"{column['text']} is clipped"
        shot(f"programmes-en-page-{pages}")
        following = browser.find_elements(By.CSS_SELECTOR, "#pager a[rel=next]")
        if not following:
            break
        following[0].click()
        wait_for(browser, lambda d, n=pages: f"page={n + 1}" in d.current_url, "the next page")
    assert pages == 4  # 187 recommendations, 50 a page


# -- an association ------------------------------------------------------------------------------


def _upload(driver: WebDriver, kind: str, path: Path) -> None:
    Select(driver.find_element(By.ID, "upload-kind")).select_by_value(kind)
    driver.find_element(By.ID, "upload-file").send_keys(str(path))
    driver.find_element(By.ID, "upload-submit").click()


def _problem_rows(driver: WebDriver) -> list[list[str]]:
    rows = driver.find_elements(By.CSS_SELECTOR, "#problems-table tbody tr")
    return [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")] for row in rows]


def test_an_association_sees_the_problems_of_its_upload(
    browser: WebDriver,
    server: str,
    trained_demo: Demo,
    shot: Callable[[str], Path],
    tmp_path: Path,
) -> None:
    sign_in(browser, server, trained_demo.keys["ic"])
    browser.get(f"{server}/uploads")
    options = browser.find_elements(By.CSS_SELECTOR, "#upload-kind option")
    assert [option.get_attribute("value") for option in options] == ["hiring", "demand_survey"]
    shot("uploads")

    # A negative count in row 3 (the header is row 1, as in Excel).
    negative = tmp_path / "hiring_negative.csv"
    negative.write_text("period,field_code,postings\n2025-11,ic,120\n2025-12,ic,-5\n")
    _upload(browser, "hiring", negative)
    wait_for(browser, _problem_rows, "the problems table")
    problems = _problem_rows(browser)
    # The page is in Chinese, and so are the problems it asked the API for.
    assert problems[0] == ["3", "postings", "'-5' 是负数"]
    assert "文件被拒绝" in browser.find_element(By.ID, "upload-result").text
    shot("upload-negative-postings")

    # A row for a field that is not the association's.
    foreign = tmp_path / "hiring_foreign.csv"
    foreign.write_text("period,field_code,postings\n2025-11,ic,120\n2025-11,ai,80\n")
    _upload(browser, "hiring", foreign)
    wait_for(
        browser, lambda d: any(r[:2] == ["3", "field_code"] for r in _problem_rows(d)), "403 rows"
    )
    assert _problem_rows(browser) == [["3", "field_code", "领域 'ai' 不是您的领域（ic）"]]
    shot("upload-foreign-field")

    # A good file is accepted and appears in the recent uploads.
    good = tmp_path / "hiring_ok.csv"
    good.write_text("period,field_code,postings\n2025-11,ic,120\n2025-12,ic,125\n")
    _upload(browser, "hiring", good)
    wait_for(
        browser,
        lambda d: "已接收 2 行" in d.find_element(By.ID, "upload-result").text,
        "the accepted upload",
    )
    wait_for(
        browser,
        lambda d: "hiring_ok.csv" in d.find_element(By.ID, "recent-uploads").text,
        "the refreshed list of uploads",
    )
    shot("upload-accepted")

    # The page asks in its own language, not the browser's (Chromium here prefers zh-CN):
    # the English page shows English problems.
    browser.find_element(By.ID, "lang-switch").click()
    wait_for(
        browser,
        lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en",
        "the English uploads page",
    )
    _upload(browser, "hiring", negative)
    wait_for(
        browser,
        lambda d: _problem_rows(d) == [["3", "postings", "'-5' is negative"]],
        "the problems in English",
    )
    shot("upload-negative-postings-en")
