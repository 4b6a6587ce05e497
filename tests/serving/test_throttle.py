"""Failed authentications: counted per address and key prefix, refused with 429 for a while."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from support import Demo, bearer, sign_in

from serving.api import throttle as throttle_module
from serving.api.throttle import FailureThrottle
from serving.app import create_app


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_subject_is_refused_after_the_limit_until_its_oldest_failure_leaves_the_window() -> None:
    clock = Clock()
    throttle = FailureThrottle(limit=3, window=60.0, clock=clock)
    for step in range(3):
        assert throttle.retry_after("addr:a") is None
        throttle.failed("addr:a", "key:x")
        clock.now += 10 * (step + 1) / 3
    # failures at 1000, 1003.3, 1010: refused until 1060
    assert throttle.retry_after("addr:a") == pytest.approx(1060 - clock.now)
    assert throttle.retry_after("key:x") is not None
    assert throttle.retry_after("addr:b", "key:y") is None  # others are not affected
    clock.now = 1060.5
    assert throttle.retry_after("addr:a") is None


def test_memory_is_bounded_by_the_number_of_subjects(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(throttle_module, "MAX_SUBJECTS", 5)
    throttle = FailureThrottle(limit=1)
    for index in range(20):
        throttle.failed(f"addr:{index}")
    assert throttle.retry_after("addr:19") is not None
    assert throttle.retry_after("addr:0") is None  # forgotten, the oldest first


@pytest.fixture
def strict(trained_demo: Demo) -> Iterator[TestClient]:
    settings = trained_demo.settings(auth_failure_limit=3, auth_failure_window_seconds=600)
    with TestClient(create_app(settings)) as client:
        yield client


def test_guessing_keys_gets_429_while_keys_already_in_use_keep_working(
    strict: TestClient, trained_demo: Demo
) -> None:
    planner = bearer(trained_demo.keys["planner"])
    assert strict.get("/api/v1/fields", headers=planner).status_code == 200
    guesses = [strict.get("/api/v1/fields", headers=bearer(f"tc_guess{i:04d}")) for i in range(3)]
    assert [answer.status_code for answer in guesses] == [401, 401, 401]
    refused = strict.get("/api/v1/fields", headers=bearer("tc_guess9999"))
    assert refused.status_code == 429
    assert 590 <= int(refused.headers["retry-after"]) <= 600
    assert "try again in" in refused.json()["detail"]
    # a key this process already knows costs nothing to check and is never throttled
    assert strict.get("/api/v1/fields", headers=planner).status_code == 200
    # one it does not know yet waits like any other from this address
    admin = strict.get("/api/v1/fields", headers=bearer(trained_demo.keys["admin"]))
    assert admin.status_code == 429
    # the dashboard's sign-in counts and refuses the same way
    login = sign_in(strict, "tc_other", follow_redirects=False)
    assert login.status_code == 429
    assert "retry-after" in login.headers
