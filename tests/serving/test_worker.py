"""Training outside the API process: ``talentcast serve`` queues, its worker process trains."""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from support import Demo, bearer, serve
from worlds import load_world

from data.ingest import open_store
from serving.auth import issue_key

API = "/api/v1"
WAIT_SECONDS = 240
#: `talentcast serve` as deployed: it starts its worker (the tests' default turns it off).
WITH_WORKER = {"TALENTCAST_RUN_WORKER": "true"}


def _tree(pid: int) -> dict[int, str]:
    """The process and its descendants, with their command lines (from /proc)."""
    found: dict[int, bytes] = {}
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            found[current] = Path(f"/proc/{current}/cmdline").read_bytes().replace(b"\0", b" ")
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return {key: value.decode(errors="replace") for key, value in found.items()}


def _wait_for(condition: Callable[[], bool], what: str, seconds: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    pytest.fail(f"{what} within {seconds:.0f} s")


def _gone(tree: dict[int, str]) -> bool:
    return not any(Path(f"/proc/{pid}").exists() for pid in tree)


def _copy(demo: Demo, folder: Path) -> str:
    copy = folder / "demo.db"
    shutil.copy(Path(demo.url.removeprefix("sqlite:///")), copy)
    return f"sqlite:///{copy}"


@pytest.mark.slow
def test_the_server_queues_runs_and_its_worker_process_trains_them(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'city.db'}"
    store = open_store(url)
    try:
        load_world(store)  # a small city: what is tested here is who trains, not the balance
        admin = bearer(issue_key(store, "admin", "admin", actor="test")[1])
    finally:
        store.dispose()
    env = {
        **WITH_WORKER,
        "TALENTCAST_HORIZON_YEARS": "5",
        "TALENTCAST_SAMPLES": "200",
        "TALENTCAST_TRAIN_JOBS": "2",  # a pool of spawned processes inside the worker
        "TALENTCAST_BALANCE_BACKTEST_CUTS": "0",
        "TALENTCAST_WORKER_POLL_SECONDS": "0.5",
    }
    with serve(url, tmp_path / "server.log", env) as served:
        server = served.process
        workers = [p for p, line in _tree(server.pid).items() if "serving.cli worker" in line]
        assert len(workers) == 1, _tree(server.pid)
        assert os.getpriority(os.PRIO_PROCESS, workers[0]) == 10  # trains at low priority
        with httpx.Client(base_url=served.base, timeout=10) as http:
            queued = http.post(f"{API}/runs", headers=admin)
            assert queued.status_code == 202, queued.text
            run_id = queued.json()["id"]

            def finished() -> bool:
                status = http.get(f"{API}/runs/{run_id}", headers=admin).json()["status"]
                return status in ("succeeded", "failed")

            _wait_for(finished, "the queued run did not finish")
            run = http.get(f"{API}/runs/{run_id}", headers=admin).json()
            assert run["status"] == "succeeded", run["error"]
            # Stored and served at once, or kept with the reason: never in between.
            assert run["served"] or run["not_served_reason"], run
            if not run["served"]:
                promoted = http.post(f"{API}/runs/{run_id}/promote", headers=admin)
                assert promoted.status_code == 200, promoted.text

            def answered() -> bool:
                page = http.get(f"{API}/balance", params={"limit": 1}, headers=admin)
                return page.status_code == 200 and page.json()["run_id"] == run_id

            _wait_for(answered, "the new run was not answered from", seconds=10)
        # The server process itself never trained: the worker did.
        store = open_store(url)
        try:
            [start] = [
                row for row in store.audit_log(action="run.start") if row.target == f"run #{run_id}"
            ]
        finally:
            store.dispose()
        assert start.actor.startswith("worker@"), start.actor
        assert start.actor.endswith(f":{workers[0]}")
        tree = _tree(server.pid)
        server.send_signal(signal.SIGINT)  # Ctrl+C
        server.wait(30)
    # The worker (and any training pool) stopped with the server.
    _wait_for(lambda: _gone(tree), f"processes outlived the server: {tree}", 15)


def test_nothing_the_server_started_outlives_it_when_it_is_killed(
    trained_demo: Demo, tmp_path: Path
) -> None:
    """``kill -9`` of the server leaves no process behind: not its worker, not the processes
    that read uploads (which would otherwise wait for work forever)."""
    with serve(_copy(trained_demo, tmp_path), tmp_path / "server.log", WITH_WORKER) as served:
        with httpx.Client(base_url=served.base, timeout=30) as http:
            hiring = b"period,field_code,level,postings\n2025-12,ic,bachelor,130\n"
            answer = http.post(
                f"{API}/uploads/hiring",
                headers=bearer(trained_demo.keys["ic"]),
                files={"file": ("h.csv", hiring, "text/csv")},
            )
            assert answer.status_code == 201, answer.text
        tree = _tree(served.process.pid)
        assert any("serving.cli worker" in line for line in tree.values()), tree
        assert any("spawn_main" in line for line in tree.values()), tree  # the upload readers
        served.process.kill()
        served.process.wait()
    _wait_for(lambda: _gone(tree), f"processes outlived the server: {tree}", 15)
