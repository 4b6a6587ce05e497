"""Refused requests are in the audit log: who, what, why; bounded per address."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from support import Demo, bearer

from data.ingest import open_store
from data.store import AuditRecord
from serving.api.audit import REFUSED_ACTION
from serving.app import create_app

API = "/api/v1"


@dataclass(frozen=True)
class Audited:
    """An app on a copy of the demo, and the newest audit row the copy held before the test
    (the shared demo keeps what earlier tests wrote: only newer rows count)."""

    client: TestClient
    demo: Demo
    newest_before: int

    def refusals(self, action: str = REFUSED_ACTION, expected: int = 0) -> list[AuditRecord]:
        """Audit rows of ``action`` written since the test began, newest first; waits (up to
        5 s) for ``expected`` rows, and a moment longer for any beyond them, since a refusal is
        written just after it is answered."""
        time.sleep(0.3)
        deadline = time.monotonic() + 5
        while True:
            rows = [r for r in audit_rows(self.demo, action) if r.id > self.newest_before]
            if len(rows) >= expected or time.monotonic() > deadline:
                return rows
            time.sleep(0.05)


def audit_rows(demo: Demo, action: str | None = None, limit: int = 1000) -> list[AuditRecord]:
    store = open_store(demo.url)
    try:
        return store.audit_log(action=action, limit=limit)
    finally:
        store.dispose()


@pytest.fixture
def audited(writable: Demo) -> Iterator[Audited]:
    settings = writable.settings(audit_refusal_limit=3, auth_failure_window_seconds=1.0)
    newest = audit_rows(writable, limit=1)
    with TestClient(create_app(settings)) as client:
        yield Audited(client, writable, newest[0].id if newest else 0)


def test_a_refused_request_is_audited_with_who_what_and_why(
    audited: Audited,
) -> None:
    client, demo = audited.client, audited.demo
    answer = client.get(f"{API}/runs/99999999999", headers=bearer(demo.keys["planner"]))
    assert answer.status_code == 422
    [row] = audited.refusals(expected=1)
    assert row.actor == "planner"
    assert row.role is not None
    assert row.role.value == "planner"
    assert row.target == "GET /api/v1/runs/99999999999"
    assert row.detail["status"] == 422
    assert "run_id" in row.detail["detail"]


def test_anonymous_and_guard_refusals_are_audited_too(audited: Audited) -> None:
    client, demo = audited.client, audited.demo
    assert client.get(f"{API}/shortages").status_code == 401
    deep = b"[" * 1000 + b"]" * 1000
    headers = {**bearer(demo.keys["planner"]), "Content-Type": "application/json"}
    assert client.post(f"{API}/scenarios", headers=headers, content=deep).status_code == 422
    rows = {row.target: row for row in audited.refusals(expected=2)}
    assert rows["GET /api/v1/shortages"].actor == "anonymous@testclient"
    assert rows["GET /api/v1/shortages"].detail["status"] == 401
    # The JSON guard refuses before any key is read: the caller is known by address only.
    assert rows["POST /api/v1/scenarios"].detail["status"] == 422
    assert "deeper" in rows["POST /api/v1/scenarios"].detail["detail"]


def test_a_refusal_answered_in_chinese_is_audited_in_english(audited: Audited) -> None:
    client, demo = audited.client, audited.demo
    chinese = {"Accept-Language": "zh-CN"}
    answer = client.get(f"{API}/shortages", headers=chinese)
    assert answer.json()["detail"].startswith("缺少 API 密钥")
    too_big = client.post(
        f"{API}/scenarios",
        headers={**bearer(demo.keys["planner"]), **chinese, "Content-Type": "application/json"},
        content=b"[" + b"0," * (1 << 20) + b"0]",
    )
    assert too_big.json()["detail"] == "JSON 请求体超过 1,048,576 字节"
    rows = {row.target: row for row in audited.refusals(expected=2)}
    assert rows["GET /api/v1/shortages"].detail["detail"].startswith("missing API key")
    assert rows["POST /api/v1/scenarios"].detail["detail"] == (
        "the JSON body is larger than 1,048,576 bytes"
    )


def test_a_refused_upload_is_audited_once_with_its_problems(
    audited: Audited,
) -> None:
    client, demo = audited.client, audited.demo
    bad = b"period,field_code,level,postings\n2025-12,ic,bachelor,-5\n"
    answer = client.post(
        f"{API}/uploads/hiring",
        headers=bearer(demo.keys["ic"]),
        files={"file": ("bad.csv", bad, "text/csv")},
    )
    assert answer.status_code == 422
    assert audited.refusals() == []  # the route's own row says more: the problem count
    [row] = audited.refusals("upload.rejected", expected=1)
    assert row.detail["problems"] == 1


def test_answers_that_are_not_refusals_are_not_audited(audited: Audited) -> None:
    client, demo = audited.client, audited.demo
    assert client.get(f"{API}/shortages", headers=bearer(demo.keys["planner"])).status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.get("/no-such-page").status_code == 404  # a dashboard GET: not an API call
    assert audited.refusals() == []


def test_a_flood_of_refusals_writes_a_bounded_number_of_rows(
    audited: Audited,
) -> None:
    client, demo = audited.client, audited.demo  # at most 3 rows per address per second
    for _ in range(10):
        assert client.get(f"{API}/runs/0", headers=bearer(demo.keys["planner"])).status_code == 422
    assert len(audited.refusals(expected=3)) == 3
    time.sleep(1.1)
    assert client.get(f"{API}/runs/0", headers=bearer(demo.keys["planner"])).status_code == 422
    rows = audited.refusals(expected=4)
    assert len(rows) == 4
    assert rows[0].detail["not_audited_before"] == 7  # newest first: it counts the left-out
