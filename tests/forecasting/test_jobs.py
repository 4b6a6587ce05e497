"""The retrain job: one retrain at a time under the store's lease, queued runs first, and runs
of crashed processes marked failed by the next retrain.

The quick tests replace ``forecasting.pipeline.train`` with a stand-in that walks a run through
the store as ``train`` does; the slow ones train the demo for real in separate processes (two at
once; one killed with SIGKILL mid-run), on SQLite files.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from data.demo import load_demo
from data.ingest import open_store
from data.store import RunRecord, Store
from forecasting.jobs import (
    INTERRUPTED_ERROR,
    ORPHANED_ERROR,
    RETRAIN_LEASE,
    RetrainOutcome,
    retrain,
)
from forecasting.pipeline import TrainingConfig
from forecasting.quotas import QuotaSettings
from forecasting.settings import BalanceSettings

#: A small retrain of the demo (no balance backtest: these tests are about the job around it).
CHEAP = TrainingConfig(
    balance=BalanceSettings(horizon=3, n_samples=200, n_jobs=1),
    quotas=QuotaSettings(scenarios=30, resamples=1),
    balance_backtest_cuts=0,
)


# -- the job with a stand-in for training --------------------------------------------------------


@dataclass
class Trained:
    run: RunRecord


class FakeTrain:
    """Walks the pending run it is given through the store as ``train`` does (start, then
    finish and serve, or fail and raise); ``during`` runs while the run is running."""

    def __init__(
        self,
        during: Callable[[Store, RunRecord], None] | None = None,
        error: Exception | None = None,
    ) -> None:
        self.during = during
        self.error = error
        self.calls: list[dict[str, Any]] = []

    def __call__(
        self,
        store: Store,
        config: TrainingConfig,
        *,
        city_region: str,
        serve: bool,
        pending: RunRecord,
        requested_by: str,
        tracker: object,
        trained_by: str,
        progress: object = None,
    ) -> Trained:
        self.calls.append({"run_id": pending.id, "city_region": city_region, "config": config})
        run = store.start_run(pending.id, by=trained_by)
        if self.during is not None:
            self.during(store, run)
        if self.error is not None:
            store.fail_run(run.id, f"{type(self.error).__name__}: {self.error}")
            raise self.error
        served_by = requested_by if serve else None
        return Trained(store.finish_run(run.id, {}, metrics={}, timings={}, served_by=served_by))


@pytest.fixture
def fake_train(monkeypatch: pytest.MonkeyPatch) -> FakeTrain:
    fake = FakeTrain()
    monkeypatch.setattr("forecasting.pipeline.train", fake)
    return fake


def test_a_retrain_creates_a_run_trains_serves_and_releases_the_lease(
    store: Store, fake_train: FakeTrain
) -> None:
    outcome = retrain(store, CHEAP, holder="scheduler@host:1", city_region="120000")
    assert outcome.status == "succeeded"
    assert outcome.holder == "scheduler@host:1"
    assert outcome.run is not None
    assert outcome.run.served
    assert (outcome.error, outcome.recovered_from, outcome.interrupted) == (None, None, ())
    assert store.runs() == [outcome.run]
    recorded = json.loads(json.dumps({**CHEAP.to_dict(), "city_region": "120000"}))
    assert outcome.run.config == recorded
    assert outcome.run.code_version is not None
    assert outcome.run.code_version.startswith("talentcast")
    assert fake_train.calls == [
        {"run_id": outcome.run.id, "city_region": "120000", "config": CHEAP}
    ]
    (created,) = store.audit_log(action="run.create")
    assert created.actor == "scheduler@host:1"
    (started,) = store.audit_log(action="run.start")  # the process that computed it
    assert (started.actor, started.target) == ("scheduler@host:1", f"run #{outcome.run.id}")
    assert store.lease(RETRAIN_LEASE) is None
    assert outcome.describe() == (
        f"run #{outcome.run.id} succeeded and served (uploads up to #{store.watermark()})"
    )
    assert isinstance(outcome.result, Trained)


def test_a_live_lease_skips_the_retrain_without_creating_a_run(
    store: Store, fake_train: FakeTrain
) -> None:
    assert store.acquire_lease(RETRAIN_LEASE, "scheduler@other:7", 60) is not None
    outcome = retrain(store, CHEAP, holder="scheduler@host:1")
    held = store.lease(RETRAIN_LEASE)
    assert held is not None
    assert held.holder == "scheduler@other:7"
    assert outcome == RetrainOutcome("skipped", "scheduler@other:7", lease_expires=held.expires_at)
    # the refusal says who holds the lease and until when
    assert outcome.describe() == (
        "skipped: scheduler@other:7 holds the retrain lease until "
        f"{held.expires_at:%Y-%m-%d %H:%M:%S} UTC (renewed while it trains)"
    )
    assert store.runs() == []
    assert fake_train.calls == []


def test_queued_runs_are_executed_oldest_first_before_new_ones(
    store: Store, fake_train: FakeTrain
) -> None:
    first = store.create_run(store.watermark(), {"city_region": "110000"}, requested_by="admin")
    second = store.create_run(store.watermark(), {}, requested_by="admin")
    executed = [retrain(store, CHEAP, holder="h", city_region="120000").run for _ in range(3)]
    ids = [run.id for run in executed if run is not None]
    assert ids[:2] == [first.id, second.id]
    assert ids[2] not in (first.id, second.id)
    # A queued run keeps the city it was queued for; a new one gets the caller's.
    assert [call["city_region"] for call in fake_train.calls] == ["110000", "120000", "120000"]
    assert {run.status for run in store.runs()} == {"succeeded"}


def test_without_queued_first_a_new_run_is_trained_and_the_queue_left_alone(
    store: Store, fake_train: FakeTrain
) -> None:
    queued = store.create_run(store.watermark(), {}, requested_by="admin")
    outcome = retrain(
        store, CHEAP, holder="cli:admin@host:9", queued_first=False, requested_by="cli:admin"
    )
    assert outcome.run is not None
    assert outcome.run.id != queued.id
    assert store.run(queued.id).status == "pending"
    assert store.audit_log(action="run.create")[0].actor == "cli:admin"


def test_a_stale_lease_is_taken_over_and_the_runs_left_running_are_failed(
    store: Store, fake_train: FakeTrain
) -> None:
    # A process took the lease, started a run and died; another run was left running by a
    # process that held no lease at all.
    assert store.acquire_lease(RETRAIN_LEASE, "scheduler@dead:13", 0.2) is not None
    attached = store.start_run(store.create_run(store.watermark(), {}).id)
    assert store.attach_run_to_lease(RETRAIN_LEASE, "scheduler@dead:13", attached.id)
    orphan = store.start_run(store.create_run(store.watermark(), {}).id)
    time.sleep(0.3)

    outcome = retrain(store, CHEAP, holder="scheduler@host:1")
    assert outcome.status == "succeeded"
    assert outcome.recovered_from == "scheduler@dead:13"
    assert outcome.recovered_run_id == attached.id
    assert outcome.interrupted == (attached.id, orphan.id)
    assert (store.run(attached.id).status, store.run(attached.id).error) == (
        "failed",
        INTERRUPTED_ERROR,
    )
    assert (store.run(orphan.id).status, store.run(orphan.id).error) == ("failed", ORPHANED_ERROR)
    assert outcome.run is not None
    assert store.served_run() == outcome.run
    (recovered,) = store.audit_log(action="lease.recover")
    assert recovered.detail["previous_holder"] == "scheduler@dead:13"
    assert recovered.detail["run_id"] == attached.id
    assert "took the retrain lease over from scheduler@dead:13" in outcome.describe()
    assert store.lease(RETRAIN_LEASE) is None


def test_a_failed_training_is_an_outcome_and_releases_the_lease(
    store: Store, fake_train: FakeTrain
) -> None:
    fake_train.error = ValueError("no enrollment data")
    outcome = retrain(store, CHEAP, holder="h")
    assert outcome.status == "failed"
    assert outcome.error == "ValueError: no enrollment data"
    assert outcome.run is not None
    assert outcome.run.status == "failed"
    assert outcome.describe() == f"run #{outcome.run.id} failed: ValueError: no enrollment data"
    assert store.served_run() is None
    assert store.lease(RETRAIN_LEASE) is None


def test_an_interrupted_retrain_fails_its_run_releases_the_lease_and_propagates(
    store: Store, fake_train: FakeTrain
) -> None:
    def interrupt(_store: Store, _run: RunRecord) -> None:
        raise KeyboardInterrupt

    fake_train.during = interrupt
    with pytest.raises(KeyboardInterrupt):
        retrain(store, CHEAP, holder="h")
    (run,) = store.runs()
    assert run.status == "failed"
    assert (run.error or "").startswith("interrupted: the retrain was stopped")
    assert store.lease(RETRAIN_LEASE) is None


def test_the_heartbeat_keeps_the_lease_alive_past_its_ttl(
    store: Store, fake_train: FakeTrain
) -> None:
    seen: list[Any] = []

    def outlive_the_ttl(each: Store, run: RunRecord) -> None:
        time.sleep(1.5)
        seen.append(each.lease(RETRAIN_LEASE))
        seen.append(each.acquire_lease(RETRAIN_LEASE, "intruder", 60))

    fake_train.during = outlive_the_ttl
    outcome = retrain(store, CHEAP, holder="h", ttl_seconds=0.8, heartbeat_seconds=0.1)
    assert outcome.status == "succeeded"
    lease, intruder = seen
    assert lease.live
    assert lease.holder == "h"
    assert outcome.run is not None
    assert lease.run_id == outcome.run.id
    assert (lease.heartbeat_at - lease.acquired_at).total_seconds() > 1
    assert intruder is None


def test_an_empty_store_fails_to_create_a_run_and_releases_the_lease(
    store_url: str, fake_train: FakeTrain
) -> None:
    bare = Store.connect(store_url)
    bare.upgrade()  # no catalog, no uploads: no watermark to create a run on
    outcome = retrain(bare, CHEAP, holder="h")
    assert outcome.status == "failed"
    assert outcome.run is None
    assert "the store has no catalog yet" in (outcome.error or "")  # and says how to load one
    assert bare.lease(RETRAIN_LEASE) is None
    bare.dispose()


def test_a_heartbeat_as_long_as_the_lease_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="heartbeat_seconds"):
        retrain(store, CHEAP, holder="h", ttl_seconds=10, heartbeat_seconds=10)
    assert store.lease(RETRAIN_LEASE) is None


# -- real retrains in separate processes ---------------------------------------------------------

#: One retrain in its own process: connect, pay for the imports, say "ready", wait for the go
#: file (if any), retrain, print the outcome as JSON.
RETRAIN_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path

    import forecasting.pipeline  # the imports before the start, so that both start together
    from data.store import Store
    from forecasting.jobs import retrain
    from forecasting.pipeline import TrainingConfig
    from forecasting.quotas import QuotaSettings
    from forecasting.settings import BalanceSettings

    url, holder, ttl, go = sys.argv[1:5]
    config = TrainingConfig(
        balance=BalanceSettings(horizon=3, n_samples=200, n_jobs=1),
        quotas=QuotaSettings(scenarios=30, resamples=1),
        balance_backtest_cuts=0,
    )
    store = Store.connect(url)
    print("ready", flush=True)
    while go and not Path(go).exists():
        time.sleep(0.01)
    outcome = retrain(store, config, holder=holder, ttl_seconds=float(ttl))
    run_id = outcome.run.id if outcome.run is not None else None
    print(json.dumps({"status": outcome.status, "holder": outcome.holder, "run_id": run_id}))
    """
)

#: Single-threaded numerical libraries, as the test process has them (see tests/conftest.py).
SINGLE_THREADED = dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), "1")


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file with the demo data loaded (untrained), copied by each test."""
    path = tmp_path_factory.mktemp("jobs") / "demo.db"
    store = open_store(f"sqlite:///{path}")
    load_demo(store)
    store.dispose()  # the last connection checkpoints the WAL into the file
    return path


@pytest.fixture
def demo_url(demo_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "demo.db"
    shutil.copy(demo_template, path)
    return f"sqlite:///{path}"


def start_retrain(
    url: str, holder: str, ttl: float, go: Path | None, log: Path
) -> subprocess.Popen[str]:
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", RETRAIN_SCRIPT, url, holder, str(ttl), str(go or "")],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={**os.environ, **SINGLE_THREADED},
            cwd=log.parent,
        )
    assert process.stdout is not None
    ready = process.stdout.readline().strip()
    assert ready == "ready", log.read_text()
    return process


@pytest.mark.slow
def test_two_concurrent_retrains_create_one_run(demo_url: str, tmp_path: Path) -> None:
    go = tmp_path / "go"
    processes = [
        start_retrain(demo_url, f"worker-{i}", 60, go, tmp_path / f"worker-{i}.log")
        for i in range(2)
    ]
    go.touch()
    results = []
    for i, process in enumerate(processes):
        stdout, _ = process.communicate(timeout=900)
        assert process.returncode == 0, (tmp_path / f"worker-{i}.log").read_text()
        results.append(json.loads(stdout.strip().splitlines()[-1]))
    results.sort(key=lambda result: result["status"])
    skipped, succeeded = results
    assert (skipped["status"], succeeded["status"]) == ("skipped", "succeeded")
    assert skipped["run_id"] is None
    assert skipped["holder"] == succeeded["holder"]  # the skipped one names who held the lease

    store = open_store(demo_url)
    try:
        (run,) = store.runs()
        assert (run.id, run.status, run.served) == (succeeded["run_id"], "succeeded", True)
        assert store.lease(RETRAIN_LEASE) is None
    finally:
        store.dispose()


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"waited {timeout:.0f} s for {what}")


@pytest.mark.slow
def test_a_retrain_killed_mid_run_is_recovered_by_the_next_one(
    demo_url: str, tmp_path: Path
) -> None:
    ttl = 10.0
    victim = start_retrain(demo_url, "victim", ttl, None, tmp_path / "victim.log")
    store = open_store(demo_url)
    try:
        try:
            running = wait_for(
                lambda: store.runs(status="running") or victim.poll() is not None,
                600,
                "the victim's run to start",
            )
            assert victim.poll() is None, (tmp_path / "victim.log").read_text()
            os.kill(victim.pid, signal.SIGKILL)
        finally:
            if victim.poll() is None:
                victim.kill()
            victim.wait()
        (killed,) = running
        lease = store.lease(RETRAIN_LEASE)
        assert lease is not None
        assert (lease.holder, lease.run_id) == ("victim", killed.id)
        assert store.run(killed.id).status == "running"  # nobody told the store it died

        # Until its lease expires, the dead process still counts as retraining.
        left = (lease.expires_at - datetime.now(UTC)).total_seconds()
        assert left > 2, "the heartbeat (every ttl/4) should have left most of the lease"
        early = retrain(store, CHEAP, holder="rescuer", ttl_seconds=60)
        assert (early.status, early.holder, early.run) == ("skipped", "victim", None)
        assert early.lease_expires is not None
        assert early.lease_expires >= lease.expires_at  # the victim's last heartbeat or later

        wait_for(lambda: not store.lease(RETRAIN_LEASE).live, 2 * ttl, "the lease to expire")
        outcome = retrain(store, CHEAP, holder="rescuer", ttl_seconds=60)
        assert outcome.status == "succeeded", outcome.error
        assert (outcome.recovered_from, outcome.recovered_run_id) == ("victim", killed.id)
        assert outcome.interrupted == (killed.id,)
        interrupted = store.run(killed.id)
        assert (interrupted.status, interrupted.error) == ("failed", INTERRUPTED_ERROR)
        assert outcome.run is not None
        served = store.served_run()
        assert served is not None
        assert served.id == outcome.run.id != killed.id
        assert len(store.run_output(served.id, "balance")) > 0
        (recovered,) = store.audit_log(action="lease.recover")
        assert (recovered.actor, recovered.detail["run_id"]) == ("rescuer", killed.id)
        assert store.lease(RETRAIN_LEASE) is None
        assert [run.status for run in store.runs()] == ["succeeded", "failed"]
    finally:
        store.dispose()


def test_the_job_module_imports_without_the_model_libraries() -> None:
    """The CLI imports the scheduler, which imports the job: none may pull in the pipeline."""
    script = (
        "import sys, forecasting.jobs, serving.scheduler, serving.cli_scheduler; "
        "print('forecasting.pipeline' in sys.modules, 'prophet' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False"]


def test_threads_sharing_a_holder_name_still_exclude_each_other(
    store: Store, fake_train: FakeTrain
) -> None:
    release = threading.Event()
    fake_train.during = lambda _store, _run: release.wait(30)
    outcomes: list[RetrainOutcome] = []
    first = threading.Thread(target=lambda: outcomes.append(retrain(store, CHEAP, holder="h")))
    first.start()
    wait_for(lambda: store.runs(status="running"), 30, "the first retrain to start")
    second = retrain(store, CHEAP, holder="h")
    release.set()
    first.join()
    assert second.status == "skipped"
    assert [o.status for o in outcomes] == ["succeeded"]
    assert len(store.runs()) == 1
