"""Who may call what, generated from the route table: every API endpoint × role × own or other
field gives the expected status.

Routes declare their roles only through :class:`serving.api.deps.Allow`; this test reads them back
from the app, so a new endpoint without an entry in ``REQUESTS`` fails here until someone decides
what a request to it looks like.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from support import Demo, bearer, clone_run

from data.catalog import load_default_catalog
from data.ingest import open_store
from data.vocabulary import Role
from serving.api.deps import Allow
from serving.app import API_PREFIX, API_ROUTERS, create_app
from serving.auth import issue_key

#: The association key of the trained demo reports for "ic" (and owns demo upload #6, its
#: survey); "ai" is another association's field (upload #7 is the AI alliance's survey).
OWN, OTHER = "ic", "ai"
KEYS = {Role.ADMIN: "admin", Role.PLANNER: "planner", Role.ASSOCIATION: "ic"}


@dataclass(frozen=True)
class Request:
    """How to call one endpoint: keyword arguments of ``TestClient.request`` for a request
    about the caller's own field, and (for field-scoped endpoints) about another field."""

    own: dict[str, Any]
    other: dict[str, Any] | None = None
    path: dict[str, Any] = field(default_factory=dict)
    other_path: dict[str, Any] | None = None


#: A key the admin's request in the matrix revokes (created with the matrix's store).
REVOCABLE = "matrix_revocable"
TIANJIN_PROGRAMMES = load_default_catalog().to_long_programmes().to_csv(index=False).encode()


def csv(field_code: str, postings: int) -> dict[str, Any]:
    text = f"period,field_code,postings\n2025-11,{field_code},{postings}\n"
    return {"files": {"file": ("hiring.csv", text.encode(), "text/csv")}}


REQUESTS: dict[tuple[str, str], Request] = {
    ("GET", "/fields"): Request({}),
    ("GET", "/programmes"): Request({"params": {"field": OWN}}),
    ("GET", "/forecasts"): Request(
        {"params": {"field": OWN, "kind": "hiring"}}, {"params": {"field": OTHER}}
    ),
    ("GET", "/balance"): Request({"params": {"field": OWN}}, {"params": {"field": OTHER}}),
    ("GET", "/drivers"): Request({"params": {"field": OWN}}, {"params": {"field": OTHER}}),
    ("GET", "/demand-scales"): Request({"params": {"field": OWN}}, {"params": {"field": OTHER}}),
    ("GET", "/shortages"): Request({"params": {"level": "bachelor"}}),
    ("GET", "/warnings"): Request({}),
    ("GET", "/recommendations"): Request({"params": {"field": OWN}}),
    ("POST", "/scenarios"): Request({"json": {"demand_shocks": {OWN: 1.1}}}),
    ("POST", "/uploads/{kind}"): Request(
        csv(OWN, 11), csv(OTHER, 12), {"kind": "hiring"}, {"kind": "hiring"}
    ),
    ("GET", "/uploads"): Request({}),
    ("GET", "/uploads/{upload_id}"): Request({}, {}, {"upload_id": 6}, {"upload_id": 7}),
    ("GET", "/runs"): Request({}),
    ("GET", "/runs/{run_id}"): Request({}, path={"run_id": 1}),
    ("POST", "/runs"): Request({}),
    ("POST", "/runs/{run_id}/promote"): Request({}, path={"run_id": 1}),
    ("POST", "/runs/rollback"): Request({}),
    ("GET", "/models"): Request({}),
    ("GET", "/accuracy"): Request({"params": {"field": OWN}}, {"params": {"field": OTHER}}),
    # The catalog in force sent again: identical content, so the store is left as it is.
    ("PUT", "/catalog"): Request({"files": {"programmes": ("programmes.csv", TIANJIN_PROGRAMMES)}}),
    ("GET", "/catalog"): Request({}),
    ("GET", "/city"): Request({}),
    ("POST", "/keys"): Request({"json": {"name": "matrix_planner", "role": "planner"}}),
    ("GET", "/keys"): Request({}),
    ("DELETE", "/keys/{name}"): Request({}, path={"name": REVOCABLE}),
}


def api_routes() -> list[tuple[str, str, frozenset[Role]]]:
    """(method, path, allowed roles) of every API route, read from the routers."""
    found = []
    for router in API_ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            roles = _allowed(route.dependant)
            assert roles is not None, f"{route.path} declares no Allow(...) dependency"
            for method in sorted(route.methods):
                found.append((method, route.path, roles))
    return found


def _allowed(dependant: Any) -> frozenset[Role] | None:
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, Allow):
            return dependency.call.roles
        nested = _allowed(dependency)
        if nested is not None:
            return nested
    return None


ROUTES = api_routes()


def test_every_api_route_has_a_request_in_the_matrix() -> None:
    assert {(method, path) for method, path, _ in ROUTES} == set(REQUESTS)
    # ... and the routers are all the API there is: the app's OpenAPI document agrees.
    document = create_app(Demo("sqlite://", {}, 0).settings()).openapi()
    published = {
        (method.upper(), path.removeprefix(API_PREFIX))
        for path, operations in document["paths"].items()
        if path.startswith(API_PREFIX)
        for method in operations
    }
    assert published == set(REQUESTS)


@pytest.fixture(scope="module")
def matrix_client(
    trained_demo: Demo, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """The app on a copy of the demo store (uploads and queued runs change it)."""
    copy = tmp_path_factory.mktemp("matrix") / "demo.db"
    shutil.copy(trained_demo.url.removeprefix("sqlite:///"), copy)
    demo = Demo(f"sqlite:///{copy}", trained_demo.keys, trained_demo.run_id)
    store = open_store(demo.url)
    try:  # a second servable run with the same outputs, served once: rollback has a target
        second = clone_run(store, trained_demo.run_id)
        store.set_served(second.id)
        store.set_served(trained_demo.run_id)
        issue_key(store, REVOCABLE, "planner", actor="test")
    finally:
        store.dispose()
    # The matrix sends hundreds of wrong and revoked keys from one client on purpose: the
    # failure limit (tests/serving/test_throttle.py) would otherwise answer 429.
    settings = demo.settings(mlflow_tracking_uri="", auth_failure_limit=10_000)
    with TestClient(create_app(settings)) as client:
        client.keys = trained_demo.keys  # type: ignore[attr-defined]
        yield client


def call(
    client: TestClient, method: str, path: str, request: Request, *, other: bool, key: str | None
) -> int:
    kwargs = request.other if other else request.own
    values = (request.other_path if other else None) or request.path
    url = API_PREFIX + path.format(**values)
    headers = {} if key is None else bearer(key)
    response = client.request(method, url, headers=headers, **(kwargs or {}))
    return response.status_code


@pytest.mark.parametrize(
    ("method", "path", "roles"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES]
)
def test_without_a_valid_key_every_endpoint_answers_401(
    matrix_client: TestClient, method: str, path: str, roles: frozenset[Role]
) -> None:
    request = REQUESTS[(method, path)]
    assert call(matrix_client, method, path, request, other=False, key=None) == 401
    assert call(matrix_client, method, path, request, other=False, key="tc_forged") == 401


CASES = [
    (method, path, roles, role, other)
    for method, path, roles in ROUTES
    for role in Role
    for other in ((False, True) if REQUESTS[(method, path)].other is not None else (False,))
]


@pytest.mark.parametrize(
    "case",
    CASES,
    ids=[f"{m} {p} {role} {'other' if o else 'own'}" for m, p, _, role, o in CASES],
)
def test_each_role_gets_what_the_route_allows(
    matrix_client: TestClient, case: tuple[str, str, frozenset[Role], Role, bool]
) -> None:
    method, path, roles, role, other = case
    key = matrix_client.keys[KEYS[role]]  # type: ignore[attr-defined]
    status = call(matrix_client, method, path, REQUESTS[(method, path)], other=other, key=key)
    if role not in roles:
        expected = "403 (role)"
    elif role is Role.ASSOCIATION and other and path == "/uploads/{upload_id}":
        expected = "404 (another's upload answers as a missing one: no existence oracle)"
    elif role is Role.ASSOCIATION and other:
        expected = "403 (field)"
    else:
        expected = "2xx"
    got = "2xx" if 200 <= status < 300 else str(status)
    assert got == expected.split()[0], f"{role} {method} {path} other={other}: {status}"
