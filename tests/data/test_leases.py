"""Leases on SQLite and PostgreSQL: one holder at a time, heartbeats, release, takeover of an
expired lease naming the previous holder and run, and races between threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib import resources

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

from data.ingest import open_store
from data.store import LeaseRecord, Store, StoreError
from data.store.leases import LeaseStore
from data.store.tables import metadata

NAME = "retrain"


class FakeClock:
    """An aware UTC clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def a_run(store: Store) -> int:
    return store.create_run(store.watermark(), {"test": True}).id


def test_a_lease_is_acquired_renewed_and_released(store: Store) -> None:
    lease = store.acquire_lease(NAME, "worker-a", 60)
    assert isinstance(lease, LeaseRecord)
    assert (lease.name, lease.holder, lease.run_id, lease.live) == (NAME, "worker-a", None, True)
    assert lease.recovered_from is None
    assert lease.recovered_run_id is None
    assert lease.acquired_at.tzinfo is not None
    assert lease.expires_at - lease.acquired_at == timedelta(seconds=60)
    assert store.lease(NAME) == lease

    time.sleep(0.01)
    assert store.renew_lease(NAME, "worker-a", 120)
    renewed = store.lease(NAME)
    assert renewed is not None
    assert renewed.acquired_at == lease.acquired_at
    assert renewed.heartbeat_at > lease.heartbeat_at
    assert renewed.expires_at - renewed.heartbeat_at == timedelta(seconds=120)

    run_id = a_run(store)
    assert store.attach_run_to_lease(NAME, "worker-a", run_id)
    held = store.lease(NAME)
    assert held is not None
    assert held.run_id == run_id

    store.release_lease(NAME, "worker-a")
    assert store.lease(NAME) is None
    assert not store.renew_lease(NAME, "worker-a", 60)
    assert not store.attach_run_to_lease(NAME, "worker-a", run_id)
    store.release_lease(NAME, "worker-a")  # releasing what one does not hold changes nothing
    again = store.acquire_lease(NAME, "worker-b", 60)
    assert again is not None
    assert again.recovered_from is None  # a released lease is free, not recovered
    assert store.audit_log(action="lease.recover") == []


def test_a_live_lease_is_refused_to_everyone_else_and_to_its_holder(store: Store) -> None:
    assert store.acquire_lease(NAME, "worker-a", 60) is not None
    assert store.acquire_lease(NAME, "worker-b", 60) is None
    assert store.acquire_lease(NAME, "worker-a", 60) is None  # not re-entrant
    assert not store.renew_lease(NAME, "worker-b", 60)
    assert not store.attach_run_to_lease(NAME, "worker-b", a_run(store))
    store.release_lease(NAME, "worker-b")  # not its lease: nothing happens
    held = store.lease(NAME)
    assert held is not None
    assert (held.holder, held.run_id) == ("worker-a", None)
    # Other names are other leases.
    other = store.acquire_lease("nightly-export", "worker-b", 60)
    assert other is not None
    assert other.holder == "worker-b"


def test_an_expired_lease_is_taken_over_naming_the_previous_holder_and_run(
    store: Store,
) -> None:
    clock = FakeClock()
    leases = LeaseStore(store.engine, clock=clock)
    assert leases.acquire(NAME, "worker-a", 30) is not None
    run_id = a_run(store)
    assert leases.attach_run(NAME, "worker-a", run_id)

    clock.advance(29)
    assert leases.acquire(NAME, "worker-b", 30) is None
    assert leases.renew(NAME, "worker-a", 30)  # the holder is alive: 30 s more from now
    clock.advance(29)
    assert leases.acquire(NAME, "worker-b", 30) is None
    clock.advance(2)
    stale = leases.lease(NAME)
    assert stale is not None
    assert not stale.live

    taken = leases.acquire(NAME, "worker-b", 30)
    assert taken is not None
    assert (taken.holder, taken.run_id, taken.live) == ("worker-b", None, True)
    assert (taken.recovered_from, taken.recovered_run_id) == ("worker-a", run_id)
    assert taken.acquired_at == clock.now
    # The previous holder finds out at its next heartbeat, and cannot release or attach.
    assert not leases.renew(NAME, "worker-a", 30)
    assert not leases.attach_run(NAME, "worker-a", run_id)
    assert not leases.release(NAME, "worker-a")
    assert leases.acquire(NAME, "worker-c", 30) is None
    current = leases.lease(NAME)
    assert current is not None
    assert current.holder == "worker-b"


def test_an_expired_lease_that_nobody_took_can_still_be_renewed(store: Store) -> None:
    clock = FakeClock()
    leases = LeaseStore(store.engine, clock=clock)
    assert leases.acquire(NAME, "worker-a", 10) is not None
    clock.advance(60)  # e.g. a long pause of the holder's process
    assert leases.renew(NAME, "worker-a", 10)
    assert leases.acquire(NAME, "worker-b", 10) is None


def test_taking_over_on_the_store_clock_writes_one_audit_row(store: Store) -> None:
    assert store.acquire_lease(NAME, "scheduler@host-1:101", 0.3) is not None
    run_id = a_run(store)
    assert store.attach_run_to_lease(NAME, "scheduler@host-1:101", run_id)
    deadline = time.monotonic() + 10
    taken = None
    while taken is None and time.monotonic() < deadline:
        time.sleep(0.1)
        taken = store.acquire_lease(NAME, "scheduler@host-2:202", 60)
    assert taken is not None
    assert (taken.recovered_from, taken.recovered_run_id) == ("scheduler@host-1:101", run_id)
    (row,) = store.audit_log(action="lease.recover")
    assert row.actor == "scheduler@host-2:202"
    assert row.target == f"lease {NAME}"
    assert row.detail == {
        "holder": "scheduler@host-2:202",
        "previous_holder": "scheduler@host-1:101",
        "run_id": run_id,
    }


def race(store_url: str, attempt: Callable[[Store, int], LeaseRecord | None]) -> list[LeaseRecord]:
    """Six threads, each with its own engine (as separate processes would have), released at
    once; returns the leases they obtained."""
    stores = [Store.connect(store_url) for _ in range(6)]
    barrier = threading.Barrier(len(stores))
    won: list[LeaseRecord] = []
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            lease = attempt(stores[i], i)
            if lease is not None:
                won.append(lease)
        except BaseException as error:  # noqa: BLE001 - collected and re-raised below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for each in stores:
        each.dispose()
    assert not errors, errors
    return won


def test_of_six_concurrent_acquisitions_exactly_one_wins(store_url: str) -> None:
    store = open_store(store_url)
    won = race(store_url, lambda s, i: s.acquire_lease(NAME, f"worker-{i}", 60))
    assert len(won) == 1
    assert store.lease(NAME) == won[0]
    store.dispose()


def test_of_six_concurrent_takeovers_exactly_one_wins(store_url: str) -> None:
    store = open_store(store_url)
    clock = FakeClock()
    assert LeaseStore(store.engine, clock=clock).acquire(NAME, "crashed", 30) is not None
    clock.advance(31)

    def take_over(each: Store, i: int) -> LeaseRecord | None:
        return LeaseStore(each.engine, clock=clock).acquire(
            NAME, f"worker-{i}", 30, on_recover=lambda c, r: each.audit(r.holder, "x", connection=c)
        )

    won = race(store_url, take_over)
    assert len(won) == 1
    assert won[0].recovered_from == "crashed"
    held = store.lease(NAME)
    assert held is not None
    assert held.holder == won[0].holder
    assert len(store.audit_log(action="x")) == 1
    store.dispose()


@pytest.mark.parametrize(
    ("name", "holder", "ttl", "message"),
    [
        (NAME, "", 60, "lease holder must be non-empty text"),
        (NAME, "h" * 201, 60, "longer than 200 characters"),
        ("", "worker-a", 60, "lease name must be non-empty text"),
        ("n" * 51, "worker-a", 60, "longer than 50 characters"),
        (NAME, "worker-a", 0, "ttl_seconds must be a positive number"),
        (NAME, "worker-a", -5, "ttl_seconds must be a positive number"),
        (NAME, "worker-a", float("nan"), "ttl_seconds must be a positive number"),
        (NAME, "worker-a", True, "ttl_seconds must be a positive number"),
    ],
)
def test_bad_acquisitions_are_refused_naming_the_problem(
    store: Store, name: str, holder: str, ttl: float, message: str
) -> None:
    with pytest.raises(StoreError, match=message):
        store.acquire_lease(name, holder, ttl)
    assert store.lease(NAME) is None


def test_downgrade_to_0004_drops_the_leases_and_upgrade_restores_them(store: Store) -> None:
    assert store.acquire_lease(NAME, "worker-a", 60) is not None
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("data.store").joinpath("migrations"))
    )
    for revision, direction in (("0004", "downgrade"), ("head", "upgrade")):
        with store.engine.begin() as connection:
            config.attributes["connection"] = connection
            getattr(command, direction)(config, revision)
        with store.engine.connect() as connection:
            tables = set(sa.inspect(connection).get_table_names())
        assert ("leases" in tables) == (direction == "upgrade")
    with store.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []
    assert store.lease(NAME) is None
    assert store.acquire_lease(NAME, "worker-a", 60) is not None
