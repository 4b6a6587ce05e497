"""Helpers shared by test modules: frames as the files users upload, crafted balance samples,
copies of a trained run, and real server processes (on SQLite or a PostgreSQL schema)."""

from __future__ import annotations

import io
import os
import re
import socket
import string
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from data.catalog import Catalog, catalog_from_frames
from data.messages import LANGUAGES, Message, render
from data.store import RunRecord, Store
from data.store.tables import OUTPUT_SPECS
from data.vocabulary import LEVELS, Kind
from features.talent import TalentData
from forecasting.scenarios import BalanceSamples
from serving.auth import issue_key
from serving.settings import Settings


def csv_bytes(frame: pd.DataFrame, encoding: str = "utf-8") -> bytes:
    """A data frame as the CSV file a user would upload."""
    return frame.to_csv(index=False).encode(encoding)


def xlsx_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_excel(buffer, index=False, engine="openpyxl")
    return buffer.getvalue()


#: Years of the steady one-programme city (:func:`steady_data`).
STEADY_YEARS = range(2010, 2026)

SAMPLES = 200
YEARS = np.arange(2026, 2032)
FIELDS = ("ai", "ic", "other")
PROGRAMMES = ("080717T|bachelor", "080704|bachelor", "other|bachelor")


def crafted_samples(ai_demand: float = 200.0, ic_demand: float = 20.0) -> BalanceSamples:
    """Balance samples with known answers: three bachelor programmes (AI, IC, other) of 100,
    100 and 1,000 entrants; every entrant adds 0.5 to its field's supply four years later. In
    2030 AI supply is 50 against demand ``ai_demand``, IC supply 50 against ``ic_demand``."""
    rng = np.random.default_rng(0)
    supply = np.full((SAMPLES, 3, 1, len(YEARS)), 50.0)
    demand = np.zeros_like(supply)
    demand[:, 0] = ai_demand + rng.normal(0, 5, (SAMPLES, 1, len(YEARS)))
    demand[:, 1] = ic_demand + rng.normal(0, 2, (SAMPLES, 1, len(YEARS)))
    entrants = np.array([100.0, 100.0, 1000.0])[None, :, None]
    intake = np.broadcast_to(entrants, (SAMPLES, 3, len(YEARS)))
    return BalanceSamples(
        years=YEARS,
        fields=FIELDS,
        levels=("bachelor",),
        programmes=PROGRAMMES,
        tiers=("national_strategic", "national_strategic", "other"),
        shortage_cost=np.array([3.0, 3.0, 0.0]),
        surplus_cost=np.array([1.0, 1.0, 0.0]),
        supply=supply,
        demand=demand,
        observed=np.array([[True], [True], [False]]),
        intake=intake.copy(),
        rates=np.full((SAMPLES, 3, len(YEARS)), 0.5),
        weights=np.eye(3),
        completion=np.ones(3),
        duration=np.full(3, 4),
        level_index=np.zeros(3, dtype=int),
        current_quota=np.array([100.0, 100.0, 1000.0]),
        capacity=np.array([500.0, 500.0, 5000.0]),
    )


@dataclass(frozen=True)
class Demo:
    """A SQLite store with the demo trained once (small settings) and the secrets of its keys:
    ``admin``, ``planner``, ``ic`` (association for integrated circuits), ``ai`` (association
    for artificial intelligence)."""

    url: str
    keys: dict[str, str]
    run_id: int

    def settings(self, **overrides: object) -> Settings:
        values = {"run_worker": False, "mlflow_tracking_uri": "", **overrides}
        return Settings(database_url=self.url, **values)  # type: ignore[arg-type]


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def tiny_catalog(default_catalog: Catalog, programmes: list[tuple[str, str, int, str]]) -> Catalog:
    """The default fields with only the given programmes (code, level, duration, field)."""
    rows = [
        {
            "programme_code": code,
            "level": level,
            "name_zh": code,
            "name_en": code,
            "duration_years": duration,
            "field_code": field,
            "weight": 1.0,
            "verified": "yes",
            "source": "test",
        }
        for code, level, duration, field in programmes
    ]
    rows += [
        {
            "programme_code": "other",
            "level": level,
            "name_zh": "其他",
            "name_en": "Other",
            "duration_years": 3,
            "field_code": "other",
            "weight": 1.0,
            "verified": "n/a",
            "source": "test",
        }
        for level in LEVELS
    ]
    return catalog_from_frames(default_catalog.fields, pd.DataFrame(rows))


def steady_data(catalog: Catalog, postings: float) -> TalentData:
    """One bachelor AI programme: 100,000 entrants a year, 90% complete, 80/90 placed, half of
    them in the field, a quarter of them in the city: supply = 100000·0.9·(8/9)·0.5·0.25."""
    enrollment = pd.DataFrame(
        {
            "year": list(STEADY_YEARS),
            "programme_code": "080717T",
            "level": "bachelor",
            "enrolled": 100_000,
        }
    )
    graduates = enrollment.rename(columns={"enrolled": "graduates"}).assign(graduates=90_000)
    outcomes = graduates.assign(placed=80_000, employed_in_field=40_000, employed_locally=20_000)
    hiring = pd.DataFrame(
        {
            "period": [str(y) for y in range(2016, 2026)],
            "field_code": "ai",
            "level": "bachelor",
            "postings": postings,
        }
    )
    frames = {
        Kind.ENROLLMENT: enrollment,
        Kind.GRADUATES: graduates,
        Kind.OUTCOMES: outcomes,
        Kind.HIRING: hiring,
    }
    return TalentData.from_observations(catalog, frames)


def sign_in(client: TestClient, secret: str, next_path: str = "/", **kwargs: Any) -> httpx.Response:
    """Sign in to the dashboard as a browser does: load the form (which sets its one-time
    token in a cookie and in the form) and send it back with the key."""
    form = client.get("/login")
    match = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert match, "the sign-in form carries a one-time token"
    data = {"key": secret, "next": next_path, "csrf": match.group(1)}
    return client.post("/login", data=data, **kwargs)


def page_token(html: str) -> str:
    """The session's CSRF token a dashboard page carries for its scripts and forms."""
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert match, "a signed-in page carries the session's CSRF token"
    return match.group(1)


def demo_keys(store: Store) -> dict[str, str]:
    """Keys for every role on a store holding the demo, by name: ``admin``, ``planner``, and
    the associations ``ic`` and ``ai`` (named as the demo's uploads name their uploaders)."""
    return {
        "admin": issue_key(store, "admin", "admin", actor="test")[1],
        "planner": issue_key(store, "planner", "planner", actor="test")[1],
        "ic": issue_key(store, "tj_ic_association", "association", ["ic"], actor="test")[1],
        "ai": issue_key(store, "tj_ai_association", "association", ["ai"], actor="test")[1],
    }


def clone_run(store: Store, run_id: int, source: Store | None = None) -> RunRecord:
    """A new succeeded run in ``store`` with the outputs, metrics, timings and artifacts of run
    ``run_id`` of ``source`` (default: ``store`` itself), without training. In another store
    the run's watermark must name the same data: the same uploads loaded in the same order."""
    origin = store if source is None else source
    template = origin.run(run_id)
    run = store.create_run(template.watermark, template.config)
    store.start_run(run.id)
    outputs = {name: origin.run_output(run_id, name) for name in OUTPUT_SPECS}
    artifacts = {
        name: origin.run_artifact(run_id, name) for name in origin.run_artifact_names(run_id)
    }
    return store.finish_run(
        run.id, outputs, metrics=template.metrics, timings=template.timings, artifacts=artifacts
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Served:
    """A ``talentcast serve`` process started by :func:`serve`: where it answers, and its log."""

    base: str
    port: int
    log: Path
    process: subprocess.Popen[bytes]


#: How long a server process may take to answer ``/healthz``.
SERVE_WAIT_SECONDS = 60


@contextmanager
def serve(database_url: str, log: Path, env: Mapping[str, str] | None = None) -> Iterator[Served]:
    """``talentcast serve`` in its own process on ``database_url``, as deployed (uvicorn, the
    CLI's settings from the environment), without a run worker or MLflow; ready once
    ``/healthz`` answers, stopped on exit. ``env`` adds settings.

    Its output goes to the file ``log``, not a pipe: a pipe nobody reads fills up, and then a
    server that logs every malformed request stalls."""
    port = free_port()
    environment = {
        **os.environ,
        "TALENTCAST_RUN_WORKER": "false",
        "TALENTCAST_MLFLOW_TRACKING_URI": "",
        **(env or {}),
    }
    command = [sys.executable, "-m", "serving.cli", "--database-url", database_url, "serve"]
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*command, "--port", str(port)], env=environment, stdout=output, stderr=output
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVE_WAIT_SECONDS
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the server did not start: {log.read_text(errors='replace')}")
                time.sleep(0.2)
        yield Served(base, port, log, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


Result = TypeVar("Result")


def all_at_once(calls: Sequence[Callable[[], Result]]) -> list[Result]:
    """Run each call in its own thread, all released together by a barrier, as simultaneous
    requests would; their results in completion order. The first error any call raised is
    raised here, after every thread has finished."""
    start = threading.Barrier(len(calls))
    results: list[Result] = []
    errors: list[BaseException] = []

    def run(call: Callable[[], Result]) -> None:
        try:
            start.wait()
            results.append(call())
        except BaseException as error:  # noqa: BLE001 - re-raised below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


# -- messages in two languages ------------------------------------------------------------------

#: A Chinese character (CJK Unified Ideographs).
CHINESE = re.compile(r"[\u4e00-\u9fff]")
#: The shape of a message code: ``area.what``.
MESSAGE_CODE = re.compile(r"^[a-z_]+\.[a-z_]+$")


def fields_of(template: str) -> dict[str, tuple[str | None, str | None]]:
    """Placeholders of a template with their conversion and format spec."""
    return {
        name: (conversion, spec)
        for _, name, spec, conversion in string.Formatter().parse(template)
        if name is not None
    }


def example_params(message: Message) -> dict[str, str | int]:
    """A value for each placeholder: a number where the template formats one, else text."""
    return {
        name: 12345 if spec else f"<{name}>" for name, (_, spec) in fields_of(message.en).items()
    }


def assert_catalogue_complete(catalogue: dict[str, Message]) -> None:
    """Every code of ``catalogue`` is worded in both languages with the same placeholders,
    and renders each parameter it is given."""
    for code, message in catalogue.items():
        assert MESSAGE_CODE.match(code), f"code {code!r} is not 'area.what'"
        assert fields_of(message.en) == fields_of(message.zh), f"{code}: placeholders differ"
        assert CHINESE.search(message.zh), f"{code}: the Chinese wording is not Chinese"
        assert not CHINESE.search(message.en.replace("中职/高职/本科/硕士/博士", "")), code
        params = example_params(message)
        for lang in LANGUAGES:
            text = render(catalogue, code, params, lang)
            for name, (conversion, spec) in fields_of(message.en).items():
                value = params[name]
                shown = format(value, spec) if spec else repr(value) if conversion else value
                assert str(shown) in text, (code, lang, text)
