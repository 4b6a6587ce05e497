"""The retrain scheduler: decides when to retrain, and retrains through the shared job.

Three things call for a retrain, checked in this order at every tick:

1. a run queued with ``POST /runs`` is waiting (the job executes the oldest);
2. uploads arrived since the newest run's data watermark and none for
   ``retrain_debounce_seconds``: an association sending a dozen files one by one gets one
   retrain after the last, not a dozen;
3. the cron schedule ``retrain_schedule`` (in ``retrain_timezone``) had an instant since the
   newest run was created.

The schedule is measured from the newest run in the store, not from the scheduler's own memory,
so that a scheduler restarted after missing 03:00 catches up once, ``--once`` invoked by cron or
a Kubernetes CronJob every few minutes behaves like the loop, and a retrain skipped because
another process held the lease is tried again at the next tick. A store without runs measures
from the scheduler's start (its first training comes from the upload trigger).

Every retrain goes through :func:`forecasting.jobs.retrain`, under the store's retrain lease:
several schedulers, the server's run worker and ``talentcast retrain`` never train at once.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from types import FrameType
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from data.store import Store
from data.store.tables import CATALOG_KIND, RunStatus
from serving.settings import Settings

if TYPE_CHECKING:
    from forecasting.jobs import RetrainOutcome

log = logging.getLogger(__name__)

Reason = Literal["queued", "uploads", "schedule"]

#: Every trigger: what ``talentcast scheduler`` answers to.
ALL_TRIGGERS: frozenset[Reason] = frozenset({"queued", "uploads", "schedule"})
#: Only runs queued with ``POST /runs``: what ``talentcast worker`` answers to.
QUEUED_ONLY: frozenset[Reason] = frozenset({"queued"})


@dataclass(frozen=True)
class Decision:
    """Why a tick retrains: the trigger and a sentence for the log."""

    reason: Reason
    detail: str


@dataclass(frozen=True)
class Tick:
    """What one tick saw and did: the decision (None: nothing to do, ``note`` says why) and the
    outcome of the retrain it ran."""

    at: float
    decision: Decision | None
    note: str
    outcome: RetrainOutcome | None = None


class Scheduler:
    """Retrains when a queued run, settled uploads or the cron schedule call for it.

    ``clock`` gives the time in epoch seconds and ``sleep`` waits between ticks (tests pass
    fakes); ``retrain`` replaces the job (tests record decisions instead of training);
    ``holder`` names this process in the retrain lease (default ``scheduler@host:pid``).
    ``triggers`` are the reasons it retrains for (``talentcast worker`` runs one with
    :data:`QUEUED_ONLY`: it executes what the API queues and nothing else), checked every
    ``poll_seconds`` (default ``scheduler_poll_seconds``).
    """

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], object] | None = None,
        retrain: Callable[[Decision], RetrainOutcome] | None = None,
        holder: str | None = None,
        triggers: frozenset[Reason] = ALL_TRIGGERS,
        poll_seconds: float | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.holder = holder or settings.lease_holder()
        self.triggers = triggers
        self.poll_seconds = (
            settings.scheduler_poll_seconds if poll_seconds is None else poll_seconds
        )
        self._clock = clock
        self._stop = threading.Event()
        self._sleep = sleep if sleep is not None else self._stop.wait
        self._retrain = retrain if retrain is not None else self._run_job
        self._zone = ZoneInfo(settings.retrain_timezone)
        self._started = clock()
        self._busy = False
        self._signals = 0
        self._last_note = ""

    # -- deciding ---------------------------------------------------------------------------

    def decide(self, now: float | None = None) -> tuple[Decision | None, str]:
        """Whether to retrain at ``now`` (default: the clock), and a note saying why or why
        not. Reads the store only."""
        now = self._clock() if now is None else now
        queued = self.store.runs(status=RunStatus.PENDING.value, limit=1)
        if queued:
            return Decision("queued", f"run #{queued[0].id} is queued"), ""
        if not self.triggers - {"queued"}:  # nothing else to look at: the queue was all
            return None, "no run is queued"
        newest = self.store.latest_run(status=None)
        watermark = self.store.watermark()
        trained = newest.watermark if newest is not None else 0
        note = ""
        if (
            "uploads" in self.triggers
            and watermark > trained
            and self._has_data(newest is not None)
        ):
            latest = self.store.uploads(limit=1)[0]
            quiet = now - latest.created_at.timestamp()
            debounce = self.settings.retrain_debounce_seconds
            if quiet >= debounce:
                return Decision(
                    "uploads",
                    f"new uploads up to #{watermark} (the newest run read up to #{trained}), "
                    f"none in the last {quiet:.0f} s",
                ), ""
            note = (
                f"upload #{watermark} arrived {quiet:.0f} s ago; retraining once none has "
                f"arrived for {debounce:.0f} s"
            )
        since = newest.created_at.timestamp() if newest is not None else self._started
        if "schedule" not in self.triggers:
            return None, note or "retrains only for queued runs and new uploads"
        due = self.next_scheduled(since)
        if due.timestamp() <= now:
            label = f"{due:%Y-%m-%d %H:%M %Z}"
            return Decision("schedule", f"the retrain scheduled for {label} is due"), ""
        scheduled = f"next scheduled retrain {due:%Y-%m-%d %H:%M %Z}"
        return None, f"{note}; {scheduled}" if note else scheduled

    def next_scheduled(self, after: float) -> datetime:
        """The first instant of ``retrain_schedule`` after epoch second ``after``, aware in
        ``retrain_timezone``."""
        from croniter import croniter

        start = datetime.fromtimestamp(after, self._zone)
        due: datetime = croniter(self.settings.retrain_schedule, start).get_next(datetime)
        return due

    def _has_data(self, has_runs: bool) -> bool:
        """Whether anything but catalogs was uploaded: a fresh store holds only the default
        catalog, and training on it would only fail. Once a run exists, any upload counts
        (a new catalog changes the crosswalk, hence the balance)."""
        return has_runs or any(u.kind != CATALOG_KIND for u in self.store.uploads())

    # -- acting -----------------------------------------------------------------------------

    def tick(self) -> Tick:
        """Decide, and retrain if called for (synchronously, through the job)."""
        now = self._clock()
        decision, note = self.decide(now)
        if decision is None:
            if note != self._last_note:  # say it when it changes, not every poll
                log.info("nothing to do: %s", note)
                self._last_note = note
            return Tick(now, None, note)
        self._last_note = ""
        log.info("retraining: %s", decision.detail)
        self._busy = True
        try:
            outcome = self._retrain(decision)
        finally:
            self._busy = False
        level = logging.WARNING if outcome.status == "failed" else logging.INFO
        log.log(level, "%s", outcome.describe())
        return Tick(now, decision, note, outcome)

    def run_forever(self, *, handle_signals: bool = True) -> None:
        """Tick every ``scheduler_poll_seconds`` until :meth:`stop`, SIGTERM or SIGINT.

        A signal during a retrain lets it finish (it is stored whole or marked failed either
        way, but finishing keeps its work); a second signal interrupts it, and the run is
        marked failed. Right after a successful retrain the next tick comes at once, so that
        queued runs do not wait a poll each.
        """
        with self._signal_handlers(handle_signals):
            log.info("%s started: %s", self.holder, self.describe())
            while not self._stop.is_set():
                try:
                    tick: Tick | None = self.tick()
                except Exception:
                    # The database may be restarting: log it and try again at the next poll.
                    log.exception("tick failed; trying again in %.0f s", self._poll())
                    tick = None
                if self._stop.is_set():
                    break
                outcome = tick.outcome if tick is not None else None
                if outcome is not None and outcome.status == "succeeded":
                    continue  # more runs may be queued; a failure waits a poll (no busy loop)
                self._sleep(self._poll())
        log.info("%s stopped", self.holder)

    def describe(self) -> str:
        """What this loop retrains for and how often it looks, for its first log line."""
        settings = self.settings
        reasons = ["runs queued with POST /runs"]
        if "uploads" in self.triggers:
            reasons.append(f"{settings.retrain_debounce_seconds:.0f} s after new uploads settle")
        if "schedule" in self.triggers:
            due = f"{self.next_scheduled(self._clock()):%Y-%m-%d %H:%M}"
            reasons.append(
                f"at '{settings.retrain_schedule}' ({settings.retrain_timezone}; next {due})"
            )
        return f"retrains for {', '.join(reasons)}; checking every {self._poll():.0f} s"

    def stop(self) -> None:
        """Stop after the current tick (and wake the loop if it is sleeping)."""
        self._stop.set()

    def _poll(self) -> float:
        return self.poll_seconds

    def _run_job(self, decision: Decision) -> RetrainOutcome:
        from forecasting.jobs import retrain
        from forecasting.progress import LogProgress

        ttl = self.settings.retrain_lease_seconds
        return retrain(
            self.store,
            self.settings.training_config(),
            holder=self.holder,
            city_region=self.settings.city_region,
            ttl_seconds=ttl,
            heartbeat_seconds=ttl / 4,
            tracker=self.settings.tracker(),
            progress=LogProgress(),  # a stage line each in the log, not counts
        )

    @contextmanager
    def _signal_handlers(self, enabled: bool) -> Iterator[None]:
        """SIGTERM (the orchestrator) and SIGINT (Ctrl+C) stop the loop; only the main thread
        may install handlers, so elsewhere (tests) the loop stops through :meth:`stop`."""
        if not enabled or threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
        for sig in previous:
            signal.signal(sig, self._on_signal)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, number: int, _frame: FrameType | None) -> None:
        self._signals += 1
        name = signal.Signals(number).name
        if self._busy and self._signals > 1:
            log.warning("%s again: interrupting the retrain (its run is marked failed)", name)
            raise KeyboardInterrupt
        if self._busy:
            log.warning("%s: stopping after the current retrain (again to interrupt it)", name)
        else:
            log.info("%s: stopping", name)
        self.stop()
