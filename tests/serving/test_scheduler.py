"""The retrain scheduler: when it retrains (queued runs, settled uploads, the cron schedule),
its loop and signals, its settings and the ``scheduler`` command. The job itself is tested for
real in tests/forecasting/test_jobs.py; here a recorder stands in for it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import typer
from pydantic import ValidationError
from support import csv_bytes
from typer.testing import CliRunner

from data.catalog import load_default_catalog
from data.ingest import ingest_file, open_store
from data.store import RunRecord, Store
from forecasting.jobs import RetrainOutcome
from serving.cli_scheduler import scheduler
from serving.scheduler import Decision, Scheduler
from serving.settings import Settings

#: A schedule that is not due in any test: 00:00 on 29 February (next in 2028).
RARELY = "0 0 29 2 *"

ENROLLMENT = pd.DataFrame(
    {
        "year": [2019, 2020],
        "programme_code": ["080717T", "080901"],
        "level": ["bachelor", "bachelor"],
        "enrolled": [120, 2400],
    }
)


def settings(store: Store, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": store.url,
        "retrain_schedule": RARELY,
        "retrain_timezone": "UTC",
        "retrain_debounce_seconds": 300,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


class Recorder:
    """Stands in for the job: records each decision and reports success."""

    def __init__(self) -> None:
        self.decisions: list[Decision] = []

    def __call__(self, decision: Decision) -> RetrainOutcome:
        self.decisions.append(decision)
        return RetrainOutcome("succeeded", "test")


def upload(store: Store, rows: pd.DataFrame = ENROLLMENT) -> datetime:
    """Store an enrollment file; returns when the upload was recorded."""
    stored = ingest_file(store, "enrollment", csv_bytes(rows), filename="e.csv", uploader="t")
    return stored.upload.created_at


def finished_run(store: Store) -> RunRecord:
    """A run covering everything stored now (failed: no training happens in these tests)."""
    run = store.create_run(store.watermark(), {"test": True})
    return store.fail_run(run.id, "test")


def at(when: datetime, seconds: float = 0) -> float:
    return (when + timedelta(seconds=seconds)).timestamp()


def test_a_store_with_only_the_catalog_needs_nothing(store: Store) -> None:
    decision, note = Scheduler(store, settings(store)).decide()
    assert decision is None
    assert note == "next scheduled retrain 2028-02-29 00:00 UTC"


def test_new_uploads_retrain_once_none_arrived_for_the_debounce(store: Store) -> None:
    finished_run(store)
    uploaded = upload(store)
    sched = Scheduler(store, settings(store), clock=lambda: at(uploaded, 10))
    decision, note = sched.decide()
    assert decision is None
    assert note.startswith(
        f"upload #{store.watermark()} arrived 10 s ago; retraining once none has arrived for "
        "300 s; next scheduled retrain"
    )
    decision, _ = sched.decide(at(uploaded, 299))
    assert decision is None
    decision, _ = sched.decide(at(uploaded, 400))
    assert decision is not None
    assert decision.reason == "uploads"
    assert f"#{store.watermark()}" in decision.detail
    # Another upload restarts the wait; a run covering it ends it.
    later = upload(store, ENROLLMENT.assign(enrolled=[130, 2500]))
    assert sched.decide(at(later, 10))[0] is None
    assert sched.decide(at(later, 301))[0] is not None
    finished_run(store)
    assert sched.decide(at(later, 3600))[0] is None


def test_the_first_data_upload_of_a_fresh_store_retrains_after_the_debounce(store: Store) -> None:
    uploaded = upload(store)
    decision, _ = Scheduler(store, settings(store)).decide(at(uploaded, 301))
    assert decision is not None
    assert decision.reason == "uploads"


def test_the_schedule_is_due_from_the_newest_run_on(store: Store) -> None:
    run = finished_run(store)
    created = run.created_at
    due = created.replace(hour=3, minute=0, second=0, microsecond=0)
    if due <= created:
        due += timedelta(days=1)
    sched = Scheduler(store, settings(store, retrain_schedule="0 3 * * *"), clock=time.time)
    assert sched.next_scheduled(created.timestamp()) == due
    assert sched.decide(at(due, -60))[0] is None
    decision, _ = sched.decide(at(due, 5))
    assert decision is not None
    assert decision.reason == "schedule"
    assert decision.detail == f"the retrain scheduled for {due:%Y-%m-%d} 03:00 UTC is due"
    # Days late (the scheduler was down): due once, until a newer run exists.
    assert sched.decide(at(due, 3 * 86400))[0] is not None
    newer = finished_run(store)
    assert sched.decide(at(newer.created_at, 60))[0] is None


def test_without_runs_the_schedule_counts_from_the_schedulers_start(store: Store) -> None:
    start = datetime(2026, 11, 30, 2, 59, 30, tzinfo=UTC)
    now = [start.timestamp()]
    sched = Scheduler(store, settings(store, retrain_schedule="0 3 * * *"), clock=lambda: now[0])
    assert sched.decide()[0] is None
    now[0] = at(start, 40)
    decision, _ = sched.decide()
    assert decision is not None
    assert decision.reason == "schedule"


def test_the_schedule_is_read_in_its_time_zone(store: Store) -> None:
    sched = Scheduler(
        store, settings(store, retrain_schedule="0 3 * * *", retrain_timezone="Asia/Shanghai")
    )
    after = datetime(2026, 11, 30, 12, 0, tzinfo=UTC).timestamp()
    due = sched.next_scheduled(after)
    assert (due.hour, str(due.tzinfo)) == (3, "Asia/Shanghai")
    assert due.astimezone(UTC) == datetime(2026, 11, 30, 19, 0, tzinfo=UTC)


def test_a_queued_run_retrains_at_once_before_anything_else(store: Store) -> None:
    upload(store)
    queued = store.create_run(store.watermark(), {"queued": True}, requested_by="admin")
    recorder = Recorder()
    sched = Scheduler(store, settings(store), retrain=recorder)
    tick = sched.tick()
    assert tick.decision == Decision("queued", f"run #{queued.id} is queued")
    assert recorder.decisions == [tick.decision]
    assert tick.outcome is not None
    assert tick.outcome.status == "succeeded"


def test_a_tick_with_nothing_due_does_not_retrain(store: Store) -> None:
    recorder = Recorder()
    tick = Scheduler(store, settings(store), retrain=recorder).tick()
    assert (tick.decision, tick.outcome) == (None, None)
    assert recorder.decisions == []


def test_the_loop_retrains_then_sleeps_between_polls_until_stopped(store: Store) -> None:
    store.create_run(store.watermark(), {"queued": True})
    sleeps: list[float] = []
    decisions: list[str] = []

    def retrain(decision: Decision) -> RetrainOutcome:
        decisions.append(decision.reason)
        (pending,) = store.runs(status="pending")
        return RetrainOutcome("succeeded", "test", store.fail_run(pending.id, "done"))

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            sched.stop()

    sched = Scheduler(
        store, settings(store, scheduler_poll_seconds=7), sleep=sleep, retrain=retrain
    )
    sched.run_forever(handle_signals=False)
    assert decisions == ["queued"]
    assert sleeps == [7, 7]  # none right after the retrain: the next tick came at once


def test_a_failing_tick_is_logged_and_the_loop_goes_on(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    store.create_run(store.watermark(), {"queued": True})
    attempts: list[str] = []

    def retrain(decision: Decision) -> RetrainOutcome:
        attempts.append(decision.reason)
        raise RuntimeError("database restarting")

    def sleep(seconds: float) -> None:
        if len(attempts) == 2:
            sched.stop()

    sched = Scheduler(store, settings(store), sleep=sleep, retrain=retrain)
    with caplog.at_level("INFO", logger="serving.scheduler"):
        sched.run_forever(handle_signals=False)
    assert attempts == ["queued", "queued"]
    failures = [r for r in caplog.records if r.getMessage().startswith("tick failed")]
    assert len(failures) == 2
    assert failures[0].exc_info is not None


def test_a_second_signal_during_a_retrain_interrupts_it(store: Store) -> None:
    sched = Scheduler(store, settings(store))
    sched._busy = True  # as during a retrain
    sched._on_signal(signal.SIGTERM, None)  # the first lets the retrain finish
    with pytest.raises(KeyboardInterrupt):
        sched._on_signal(signal.SIGTERM, None)
    idle = Scheduler(store, settings(store))
    idle._on_signal(signal.SIGINT, None)
    idle._on_signal(signal.SIGINT, None)  # nothing to interrupt: stopping is enough
    idle.run_forever(handle_signals=False)  # returns at once: it was told to stop


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("retrain_schedule", "0 3 * *"),
        ("retrain_schedule", "61 3 * * *"),
        ("retrain_schedule", "0 0 3 * * *"),
        ("retrain_schedule", "daily"),
        ("retrain_timezone", "Mars/Olympus"),
    ],
)
def test_bad_schedule_settings_are_refused_naming_the_setting(name: str, value: str) -> None:
    with pytest.raises(ValidationError, match=name) as raised:
        Settings(**{name: value})  # type: ignore[arg-type]
    assert repr(value) in str(raised.value)


def test_schedule_settings_have_their_documented_defaults() -> None:
    default = Settings()
    assert default.retrain_schedule == "0 3 * * *"
    assert default.retrain_debounce_seconds == 300
    assert default.scheduler_poll_seconds == 30
    assert default.retrain_lease_seconds == 120
    assert Settings(retrain_schedule="  */15  *  * * 1-5 ").retrain_schedule == "*/15 * * * 1-5"
    assert default.lease_holder().startswith("scheduler@")
    assert default.lease_holder().endswith(f":{os.getpid()}")


# -- the command -------------------------------------------------------------------------------


def command_app(url: str) -> typer.Typer:
    """The command as serving/cli.py registers it (``app.command()(scheduler)``)."""
    app = typer.Typer()

    @app.callback()
    def configure(ctx: typer.Context) -> None:
        # Niceness 0: the command runs in the test process, and nice cannot be undone.
        ctx.obj = Settings(database_url=url, retrain_schedule=RARELY, train_niceness=0)

    app.command()(scheduler)
    return app


def test_scheduler_once_with_nothing_to_do_says_so(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    result = CliRunner().invoke(command_app(url), ["scheduler", "--once"])
    assert result.exit_code == 0, result.output
    assert "nothing to do: next scheduled retrain 2028-02-29 00:00" in result.stdout


def test_scheduler_once_runs_a_queued_run_through_the_job(tmp_path: Path) -> None:
    """The real job, on a store without data: the queued run fails at once (no enrollment),
    the command says so and exits 1, and the lease is released."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = open_store(url, catalog=load_default_catalog())
    queued = store.create_run(store.watermark(), {"queued": True})
    result = CliRunner().invoke(command_app(url), ["scheduler", "--once"])
    assert result.exit_code == 1, result.output
    assert f"run #{queued.id} is queued: run #{queued.id} failed: ValueError" in result.stdout
    assert "retraining: run" in result.stderr
    assert "INFO training stage load" in result.stderr  # the stage it failed in, in the log
    failed = store.run(queued.id)
    assert failed.status == "failed"
    assert "no enrollment data" in (failed.error or "")
    assert store.lease("retrain") is None
    store.dispose()


def test_sigterm_stops_the_scheduler_loop_cleanly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    open_store(url).dispose()
    script = textwrap.dedent(
        f"""
        import typer
        from serving.cli_scheduler import scheduler
        from serving.settings import Settings

        app = typer.Typer()

        @app.callback()
        def configure(ctx: typer.Context) -> None:
            ctx.obj = Settings(database_url={url!r}, scheduler_poll_seconds=60)

        app.command()(scheduler)
        app(["scheduler"])
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Should the announcement never come, the loop below must not wait forever.
    deadline = threading.Timer(60, process.kill)
    deadline.start()
    try:
        assert process.stderr is not None
        seen = [""]
        for line in process.stderr:  # until the loop announces itself (or the process ends)
            seen.append(line)
            if " started: retrains for " in line:
                break
        assert " started: retrains for " in seen[-1], "".join(seen)
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=30)
    finally:
        deadline.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, rest
    assert "SIGTERM: stopping" in rest
    assert "stopped" in rest
