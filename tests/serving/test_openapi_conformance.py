"""The API against its own OpenAPI document, on a real server process, with schemathesis.

schemathesis reads the document the server publishes and sends every operation the requests it
derives from it, as an admin, a planner, an association and without a key: the documented
examples and a few random cases (fuzzing) for each caller, and for the admin also the coverage
phase, every boundary and invalid value of every parameter and body member (ids of 2**31 and
more, empty and missing values, wrong types). Every answer must be what the document says: no
server error, a documented status, the documented content type (errors are
``application/problem+json``), the documented headers and a body of the documented schema.
Writes run too (uploads, queued runs, promotions, rollbacks, scenarios): they change the
server's own copy of the store, never the shared one.

The admin's run is repeated on PostgreSQL, where ids are 32-bit and text may not hold NUL: the
demo is loaded into a fresh schema and the trained run copied over
(:func:`support.clone_run`), which serves the same answers without training again.

Generation is deterministic (a fixed seed, derandomised) and small, so that a failure here is
reproducible and the module stays cheap.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from schemathesis import Case
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig
from schemathesis.schemas import BaseSchema
from support import Demo, bearer, clone_run, demo_keys, serve

from data.catalog import load_default_catalog
from data.demo import load_demo
from data.ingest import open_store
from serving.app import API_PREFIX, create_app
from serving.auth import issue_key
from serving.settings import Settings

#: The callers: the demo key of each role, and none at all.
ROLES: dict[str, str | None] = {
    "admin": "admin",
    "planner": "planner",
    "association": "ic",
    "anonymous": None,
}
#: What every answer is checked for.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
#: Random cases per operation and role, on top of the documented examples.
MAX_EXAMPLES = 5
#: The role whose run adds the coverage phase: every boundary and invalid value of every
#: parameter and body member, about a thousand requests (a fifth of them valid scenarios, at
#: most a second each). The admin gets past authorization on every operation, so its run
#: reaches all the code behind it; the other roles differ in what they may do, which their
#: examples and random cases show (an association's field scope, a planner's refusals).
COVERED = "admin"
SEED = 20_260_601
#: The no-key caller alone sends hundreds of refused requests from one address: the failure
#: throttle (tests/serving/test_throttle.py) would otherwise answer 429 to everyone after it.
SERVER_ENV = {"TALENTCAST_AUTH_FAILURE_LIMIT": "10000"}


@dataclass(frozen=True)
class Target:
    """A server under test: its backend, where it answers and the demo keys its store holds."""

    backend: str
    base: str
    keys: dict[str, str]


@pytest.fixture(scope="module")
def sqlite_target(trained_demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """``talentcast serve`` on its own copy of the trained demo."""
    folder = tmp_path_factory.mktemp("conformance-sqlite")
    copy = folder / "demo.db"
    shutil.copy(Path(trained_demo.url.removeprefix("sqlite:///")), copy)
    with serve(f"sqlite:///{copy}", folder / "server.log", SERVER_ENV) as served:
        yield Target("sqlite", served.base, trained_demo.keys)


@pytest.fixture(scope="module")
def postgresql_target(
    trained_demo: Demo,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_schemas: Callable[[], AbstractContextManager[str]],
) -> Iterator[Target]:
    """``talentcast serve`` on a fresh PostgreSQL schema holding the trained demo."""
    folder = tmp_path_factory.mktemp("conformance-postgresql")
    with postgres_schemas() as url:
        keys = _trained_copy(url, trained_demo)
        with serve(url, folder / "server.log", SERVER_ENV) as served:
            yield Target("postgresql", served.base, keys)


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Target:
    """The server on the backend named by the test's parameter (each backend's is started
    once per module, whichever tests and roles use it)."""
    target: Target = request.getfixturevalue(f"{request.param}_target")
    return target


def _trained_copy(url: str, trained_demo: Demo) -> dict[str, str]:
    """Load the demo into the (empty) store at ``url``, serve a copy of the demo's trained run
    there (same uploads in the same order: the same watermark) and issue the demo's keys."""
    store, source = open_store(url), open_store(trained_demo.url)
    try:
        load_demo(store)
        run = clone_run(store, trained_demo.run_id, source=source)
        store.set_served(run.id)
        return demo_keys(store)
    finally:
        source.dispose()
        store.dispose()


@pytest.fixture
def role(request: pytest.FixtureRequest) -> str:
    """The caller, named by the test's parameter (a key of :data:`ROLES`)."""
    name: str = request.param
    return name


@pytest.fixture
def api_schema(server: Target, role: str) -> BaseSchema:
    """The server's own OpenAPI document, with the role's key sent on every request."""
    key = ROLES[role]
    headers = {} if key is None else {"Authorization": f"Bearer {server.keys[key]}"}
    config = _config(headers, coverage=role == COVERED, backend=server.backend)
    return schemathesis.openapi.from_url(f"{server.base}{API_PREFIX}/openapi.json", config=config)


def _config(headers: dict[str, str], *, coverage: bool, backend: str) -> SchemathesisConfig:
    # A what-if scenario is arithmetic on the run's samples, the same on either backend; what
    # it reads from the store the examples and random cases read too. Its coverage cases (a
    # dozen valid scenarios, most of a second each) run on SQLite only.
    operations = [
        {"include-path": path, "phases": {"coverage": {"enabled": False}}}
        for path in ([f"{API_PREFIX}/scenarios"] if backend == "postgresql" else [])
    ]
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "headers": headers,
            "operations": operations,
            "generation": {
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",  # nothing written to .hypothesis/, nothing replayed
                # Send no credentials but the role's: "anonymous" means no key at all.
                "with-security-parameters": False,
            },
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": coverage},
                "fuzzing": {"enabled": True},
            },
        }
    )


#: Every role on SQLite. On PostgreSQL what differs is what reaches the database (ids of
#: 2**31 and more, uploaded rows, audit rows), and an admin reaches all of it.
CASES = [pytest.param("sqlite", role, id=f"sqlite-{role}") for role in ROLES] + [
    pytest.param("postgresql", "admin", id="postgresql-admin", marks=pytest.mark.postgres)
]


@pytest.fixture
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """schemathesis (4.32) names each operation's report by rewriting the test item's
    ``_nodeid``, which pytest 9.2 no longer has (node ids became structured): give it one to
    read. Reports then keep the item's id, and each operation its own subtest label."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.parametrize(("server", "role"), CASES, indirect=True)
@pytest.mark.usefixtures("_node_id_for_schemathesis")
@schema.parametrize()
def test_every_answer_is_what_the_openapi_document_says(case: Case, role: str) -> None:
    response = case.call_and_validate(checks=CHECKS)
    if ROLES[role] is not None:
        # A refused key would make the rest of the run test the refusal only.
        assert response.status_code not in {401, 429}, _described(case, response)


def _described(case: Case, response: Any) -> str:
    return f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"


def _multipart(filename: bytes, content: bytes) -> tuple[bytes, str]:
    """A multipart body written byte by byte (clients escape what these tests must send)."""
    boundary = "conformance"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="'.encode()
    body = head + filename + b'"\r\n\r\n' + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_nul_in_an_upload_never_reaches_the_database(store_url: str) -> None:
    """PostgreSQL cannot store NUL (SQLite can): a NUL in the file's name or in a text cell was
    a 500 there. schemathesis does not send these; they were found next to it, by hand."""
    store = open_store(store_url, catalog=load_default_catalog())
    try:
        admin = bearer(issue_key(store, "admin", "admin", actor="test")[1])
    finally:
        store.dispose()
    settings = Settings(database_url=store_url, run_worker=False, mlflow_tracking_uri="")
    hiring = b"period,field_code,level,postings\n2025-01,ic,master,5\n"
    enrollment = b"year,programme_code,level,enrolled,institution\n2019,080901,bachelor,1,A\x00B\n"
    with TestClient(create_app(settings)) as client:
        body, media = _multipart(b"hiring\x00.csv", hiring)
        named = client.post(
            f"{API_PREFIX}/uploads/hiring", content=body, headers={**admin, "Content-Type": media}
        )
        body, media = _multipart(b"enrollment.csv", enrollment)
        refused = client.post(
            f"{API_PREFIX}/uploads/enrollment",
            content=body,
            headers={**admin, "Content-Type": media},
        )
    assert named.status_code == 201, named.text
    assert named.json()["upload"]["filename"] == "hiring\ufffd.csv"  # only a label: replaced
    assert refused.status_code == 422, refused.text
    assert refused.json()["problems"][0]["reason"] == "text contains a control character (U+0000)"
