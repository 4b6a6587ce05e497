"""Leases: named, expiring locks in the database, so that a job runs in one process at a time.

A lease is a row of ``leases`` held by one *holder* (a name unique to the process, e.g.
``scheduler@host:pid``) until ``expires_at``. The holder keeps it by renewing it (a heartbeat)
well before it expires and deletes it when done. A process that dies (SIGKILL, OOM, a lost
machine) cannot release it, but it stops renewing: once expired, the next process to ask takes
the lease over and learns who held it and which run it was executing, so that it can mark that
run failed instead of leaving it "running" forever.

Every operation is atomic on both backends without read-then-write transactions (SQLite's
driver begins a transaction only at the first write, so a SELECT cannot lock anything):

* a free lease is taken by an INSERT, and of concurrent INSERTs the primary key admits one;
* an expired lease is taken over by a compare-and-swap: an UPDATE conditioned on the row being
  exactly as it was read (holder, acquisition time, run) *and* still expired. Of concurrent
  takeovers one updates the row and the others find it changed and see a live lease; a holder
  that renews in between moves ``expires_at`` into the future, so its lease is not taken.

Times come from one clock per backend: PostgreSQL's ``clock_timestamp()`` (the holders of a
lease may run on different machines, whose clocks may disagree; the database's is the one they
share) and the local UTC clock for SQLite (whose database file every holder shares on one
machine). Stored times are UTC; SQLite gives them back naive (see :func:`_utc`).

:class:`~data.store.store.Store` delegates its lease methods here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from data.store.runs import _utc
from data.store.store import StoreError
from data.store.tables import leases

#: How often :meth:`LeaseStore.acquire` re-reads the lease after losing a race. Every lost race
#: means another process just inserted or took the lease over, so the next read sees it live;
#: the bound only guards against a pathological loop.
_ATTEMPTS: Final = 5


def _length(column: sa.Column[Any]) -> int:
    length: int | None = getattr(column.type, "length", None)
    assert length is not None, column
    return length


@dataclass(frozen=True)
class LeaseRecord:
    """One lease as the store knows it; times are aware UTC datetimes.

    ``live`` says whether it had not expired when it was read (by the store's clock, see the
    module's docstring). A record returned by :meth:`LeaseStore.acquire` after taking over an
    expired lease names the previous holder and the run it had attached in ``recovered_from``
    and ``recovered_run_id`` (both None for a lease that was free).
    """

    name: str
    holder: str
    acquired_at: datetime
    heartbeat_at: datetime
    expires_at: datetime
    run_id: int | None
    live: bool
    recovered_from: str | None = None
    recovered_run_id: int | None = None

    @classmethod
    def from_row(cls, row: sa.Row[Any], now: datetime, **recovered: Any) -> LeaseRecord:
        values = row._mapping
        expires_at = _utc(values["expires_at"])
        return cls(
            name=values["name"],
            holder=values["holder"],
            acquired_at=_utc(values["acquired_at"]),
            heartbeat_at=_utc(values["heartbeat_at"]),
            expires_at=expires_at,
            run_id=None if values["run_id"] is None else int(values["run_id"]),
            live=expires_at >= now,
            **recovered,
        )


#: A callback run inside the transaction that took over an expired lease, with the new record
#: (whose ``recovered_*`` fields name the previous holder and run), for rows that must commit
#: or roll back with the takeover (the ``lease.recover`` audit row).
OnRecover = Callable[[sa.Connection, LeaseRecord], None]


class LeaseStore:
    """The lease part of the store, on the engine of a :class:`~data.store.store.Store`.

    ``clock`` replaces the store's clock (an aware datetime; tests use it to expire leases
    without waiting).
    """

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self._clock = clock

    def acquire(
        self,
        name: str,
        holder: str,
        ttl_seconds: float,
        *,
        on_recover: OnRecover | None = None,
    ) -> LeaseRecord | None:
        """Take the lease ``name`` for ``ttl_seconds``, or None if anyone holds it live.

        That includes ``holder`` itself: a lease is not re-entrant, so two threads that share a
        holder name still exclude each other. A lease that expired is taken over (see the
        module's docstring); the record then names the previous holder and its run, and
        ``on_recover`` runs in the transaction of the takeover.
        """
        name = _text(name, "lease name", _length(leases.c.name))
        holder = _text(holder, "lease holder", _length(leases.c.holder))
        ttl = _ttl(ttl_seconds)
        for _ in range(_ATTEMPTS):
            with self.engine.connect() as connection:
                now = self._now(connection)
                current = connection.execute(sa.select(leases).where(leases.c.name == name)).first()
            if current is None:
                taken = self._insert(name, holder, ttl)
                if taken is not None:
                    return taken
                continue  # someone inserted first: read what they hold
            if _utc(current.expires_at) >= now:
                return None
            taken = self._take_over(current, holder, ttl, on_recover)
            if taken is not None:
                return taken
        return None

    def _insert(self, name: str, holder: str, ttl: timedelta) -> LeaseRecord | None:
        try:
            with self.engine.begin() as connection:
                now = self._now(connection)
                row = connection.execute(
                    leases.insert()
                    .values(
                        name=name,
                        holder=holder,
                        acquired_at=now,
                        heartbeat_at=now,
                        expires_at=now + ttl,
                        run_id=None,
                    )
                    .returning(*leases.c)
                ).one()
        except sa.exc.IntegrityError:  # the primary key: another process inserted it first
            return None
        return LeaseRecord.from_row(row, now)

    def _take_over(
        self,
        previous: sa.Row[Any],
        holder: str,
        ttl: timedelta,
        on_recover: OnRecover | None,
    ) -> LeaseRecord | None:
        """Compare-and-swap an expired lease to ``holder``; None if the row changed since it
        was read (another process took it over, or its holder renewed it)."""
        with self.engine.begin() as connection:
            now = self._now(connection)
            same_run = (
                leases.c.run_id.is_(None)
                if previous.run_id is None
                else leases.c.run_id == previous.run_id
            )
            row = connection.execute(
                leases.update()
                .where(
                    leases.c.name == previous.name,
                    leases.c.holder == previous.holder,
                    leases.c.acquired_at == previous.acquired_at,
                    same_run,
                    leases.c.expires_at < now,
                )
                .values(
                    holder=holder,
                    acquired_at=now,
                    heartbeat_at=now,
                    expires_at=now + ttl,
                    run_id=None,
                )
                .returning(*leases.c)
            ).first()
            if row is None:
                return None
            record = LeaseRecord.from_row(
                row,
                now,
                recovered_from=previous.holder,
                recovered_run_id=None if previous.run_id is None else int(previous.run_id),
            )
            if on_recover is not None:
                on_recover(connection, record)
        return record

    def renew(self, name: str, holder: str, ttl_seconds: float) -> bool:
        """Extend ``holder``'s lease to ``ttl_seconds`` from now; False if it no longer holds it
        (released, or taken over after it expired).

        A lease that expired but that nobody took over yet is renewed too: nothing happened
        that the holder needs to know about, and a takeover racing with the renewal fails its
        compare-and-swap because ``expires_at`` moved into the future.
        """
        ttl = _ttl(ttl_seconds)
        with self.engine.begin() as connection:
            now = self._now(connection)
            result = connection.execute(
                leases.update()
                .where(leases.c.name == name, leases.c.holder == holder)
                .values(heartbeat_at=now, expires_at=now + ttl)
            )
        return result.rowcount == 1

    def attach_run(self, name: str, holder: str, run_id: int | None) -> bool:
        """Record the run ``holder`` executes under its lease (so that whoever recovers the
        lease can fail it); False if ``holder`` no longer holds the lease."""
        with self.engine.begin() as connection:
            result = connection.execute(
                leases.update()
                .where(leases.c.name == name, leases.c.holder == holder)
                .values(run_id=run_id)
            )
        return result.rowcount == 1

    def release(self, name: str, holder: str) -> bool:
        """Give the lease up; False (and nothing changed) if ``holder`` did not hold it."""
        with self.engine.begin() as connection:
            result = connection.execute(
                leases.delete().where(leases.c.name == name, leases.c.holder == holder)
            )
        return result.rowcount == 1

    def lease(self, name: str) -> LeaseRecord | None:
        """The lease ``name`` if a row exists (live or expired), else None."""
        with self.engine.connect() as connection:
            now = self._now(connection)
            row = connection.execute(sa.select(leases).where(leases.c.name == name)).first()
        return LeaseRecord.from_row(row, now) if row is not None else None

    def _now(self, connection: sa.Connection) -> datetime:
        if self._clock is not None:
            return _utc(self._clock())
        if connection.dialect.name == "postgresql":
            # clock_timestamp(), not now(): now() is the start of the transaction.
            value = connection.execute(sa.select(sa.func.clock_timestamp())).scalar_one()
            return _utc(value)
        return datetime.now(UTC)


def _text(value: Any, what: str, length: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise StoreError(f"{what} must be non-empty text, not {value!r}")
    if len(value) > length:
        raise StoreError(f"{what} {value[:20]!r}… is longer than {length} characters")
    return value


def _ttl(seconds: Any) -> timedelta:
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not math.isfinite(seconds)
        or seconds <= 0
    ):
        raise StoreError(f"a lease's ttl_seconds must be a positive number, not {seconds!r}")
    return timedelta(seconds=float(seconds))
