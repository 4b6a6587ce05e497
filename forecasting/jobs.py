"""Retraining as a job: one at a time across processes and machines, recovered after a crash.

Every retrain — scheduled, after uploads, or queued with ``POST /runs`` — goes through
:func:`retrain`, which holds the store's ``retrain`` lease (:mod:`data.store.leases`) while it
trains. A second caller finds the lease held and skips, so two retrains never compete for the
cores and never race to be served. The lease lives in the database, so it outlasts the process
holding it: a process killed mid-run stops renewing it, the next caller takes it over once it
expired and marks the run it was executing failed, instead of that run staying "running"
forever and the dashboard waiting for it.

The lease is kept alive by a heartbeat thread renewing it every quarter of its life while
:func:`forecasting.pipeline.train` runs, so the lease's life bounds how long a crash blocks
retraining, not how long a retrain may take.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Final, Literal

from data.store import RunRecord, Store, StoreError
from data.store.tables import RunStatus
from data.vocabulary import DEFAULT_CITY_REGION

if TYPE_CHECKING:
    from forecasting.pipeline import RunTracker, TrainingConfig, TrainingResult
    from forecasting.progress import RunProgress

log = logging.getLogger(__name__)

#: The name of the lease every retrain holds.
RETRAIN_LEASE: Final = "retrain"

#: Why a run whose process died under the retrain lease was marked failed.
INTERRUPTED_ERROR: Final = (
    "interrupted: the process holding the retrain lease stopped (lease expired)"
)

#: Why a run found running while nobody held the retrain lease was marked failed.
ORPHANED_ERROR: Final = (
    "interrupted: the run was left running while no process held the retrain lease"
)

Status = Literal["succeeded", "failed", "skipped"]


@dataclass(frozen=True)
class RetrainOutcome:
    """What one :func:`retrain` call did.

    ``status`` is ``skipped`` when another process held the lease (``holder`` then names it and
    ``run`` is None: nothing was created); otherwise ``holder`` is the caller and ``run`` the run
    it executed, as stored at the end (``failed`` with ``error`` set if training failed, or
    None if no run could be created). ``recovered_from`` and ``recovered_run_id`` name the
    holder of an expired lease that was taken over and its run; ``interrupted`` lists every run
    this call marked failed because its process had stopped. ``result`` is what
    :func:`~forecasting.pipeline.train` returned (outputs in memory, quality gates) when the
    run succeeded, for callers that report more than the stored run.
    """

    status: Status
    holder: str
    run: RunRecord | None = None
    error: str | None = None
    recovered_from: str | None = None
    recovered_run_id: int | None = None
    interrupted: tuple[int, ...] = ()
    result: TrainingResult | None = field(default=None, compare=False, repr=False)
    #: When the lease that made this call skip expires unless its holder renews it.
    lease_expires: datetime | None = None

    def describe(self) -> str:
        """One line for logs and the command line."""
        if self.status == "skipped":
            until = (
                f" until {self.lease_expires:%Y-%m-%d %H:%M:%S} UTC (renewed while it trains)"
                if self.lease_expires is not None
                else ""
            )
            return f"skipped: {self.holder} holds the retrain lease{until}"
        text = f"run #{self.run.id}" if self.run is not None else "no run"
        if self.status == "failed":
            text += f" failed: {self.error}"
        else:
            # Not served: serving was not asked for, or the run failed a quality gate.
            served = " and served" if self.run is not None and self.run.served else ", not served"
            watermark = self.run.watermark if self.run is not None else "?"
            text += f" succeeded{served} (uploads up to #{watermark})"
        if self.recovered_from is not None:
            text += f"; took the retrain lease over from {self.recovered_from}"
        if self.interrupted:
            text += f"; marked interrupted: {', '.join(f'run #{i}' for i in self.interrupted)}"
        return text


def retrain(
    store: Store,
    config: TrainingConfig,
    *,
    holder: str,
    city_region: str = DEFAULT_CITY_REGION,
    ttl_seconds: float = 120.0,
    heartbeat_seconds: float | None = None,
    serve: bool = True,
    queued_first: bool = True,
    tracker: RunTracker | None = None,
    requested_by: str | None = None,
    progress: RunProgress | None = None,
) -> RetrainOutcome:
    """Train one run under the retrain lease, unless another process holds it.

    The run is the oldest queued (pending) run if there is one, so that ``POST /runs`` and the
    scheduler share this path (``queued_first=False``, for ``talentcast retrain``, leaves the
    queue to them); otherwise a new run on everything stored now, recorded with ``config`` and
    ``city_region``. ``holder`` names this caller in the lease (unique per
    process, e.g. ``scheduler@host:pid``). The lease expires ``ttl_seconds`` after the last
    heartbeat (every ``heartbeat_seconds``, default a quarter of the ttl). ``serve``,
    ``tracker`` and ``progress`` are passed on to :func:`~forecasting.pipeline.train`; a new
    run is audited as created by ``requested_by`` (default: ``holder``).

    Once the lease is held, every failure is an outcome (``failed``, logged with its
    traceback) rather than an exception, so that the lease is always released and a scheduler
    carries on; only taking the lease may raise (e.g. the database is unreachable).
    """
    ttl = float(ttl_seconds)
    interval = ttl / 4 if heartbeat_seconds is None else float(heartbeat_seconds)
    if not 0 < interval < ttl:
        raise ValueError(
            f"heartbeat_seconds ({interval}) must be positive and shorter than ttl_seconds "
            f"({ttl}), or the lease expires between heartbeats"
        )
    lease = store.acquire_lease(RETRAIN_LEASE, holder, ttl)
    if lease is None:
        current = store.lease(RETRAIN_LEASE)
        if current is None:  # released between our two reads: try once more
            lease = store.acquire_lease(RETRAIN_LEASE, holder, ttl)
        if lease is None:
            other = current.holder if current is not None else "another process"
            until = current.expires_at if current is not None else None
            log.info("retrain skipped: %s holds the retrain lease until %s", other, until)
            return RetrainOutcome("skipped", other, lease_expires=until)

    run: RunRecord | None = None
    interrupted: tuple[int, ...] = ()
    try:
        interrupted = _fail_interrupted(store, lease.recovered_from, lease.recovered_run_id)
        actor = (requested_by or holder)[:100]  # the audit log's actor is shorter than a holder
        run, region, queued = _next_run(store, config, city_region, actor, queued_first)
        # Before training starts it: a crash from here on leaves the run to the next holder.
        store.attach_run_to_lease(RETRAIN_LEASE, holder, run.id)
        log.info(
            "retrain by %s: %s run #%s on uploads up to #%s",
            holder,
            "queued" if queued else "new",
            run.id,
            run.watermark,
        )
        outcome = _train(
            store,
            config,
            run,
            city_region=region,
            holder=holder,
            ttl=ttl,
            interval=interval,
            serve=serve,
            tracker=tracker,
            requested_by=actor,
            progress=progress,
        )
    except Exception as error:  # e.g. an empty store: no upload to create a run on
        log.exception("retrain by %s could not start", holder)
        outcome = RetrainOutcome("failed", holder, run, error=f"{type(error).__name__}: {error}")
    finally:
        try:
            store.release_lease(RETRAIN_LEASE, holder)
        except Exception:
            # The lease then expires on its own; the next retrain takes it over.
            log.exception("could not release the retrain lease held by %s", holder)
    return RetrainOutcome(
        outcome.status,
        holder,
        outcome.run,
        error=outcome.error,
        recovered_from=lease.recovered_from,
        recovered_run_id=lease.recovered_run_id,
        interrupted=interrupted,
        result=outcome.result,
    )


def _train(
    store: Store,
    config: TrainingConfig,
    run: RunRecord,
    *,
    city_region: str,
    holder: str,
    ttl: float,
    interval: float,
    serve: bool,
    tracker: RunTracker | None,
    requested_by: str,
    progress: RunProgress | None = None,
) -> RetrainOutcome:
    from forecasting.pipeline import train  # the model libraries load on first use

    try:
        with _Heartbeat(store, holder, ttl, interval):
            result = train(
                store,
                config,
                city_region=city_region,
                serve=serve,
                pending=run,
                requested_by=requested_by,
                tracker=tracker,
                trained_by=holder,
                progress=progress,
            )
    except Exception as error:
        # train marked the run failed already (unless the store refused that too).
        log.exception("run #%s failed", run.id)
        return RetrainOutcome(
            "failed", holder, store.run(run.id), error=f"{type(error).__name__}: {error}"
        )
    except BaseException as error:
        # Ctrl+C or SystemExit mid-run: train does not catch those, so the run would stay
        # running until the next retrain swept it; mark it now, and let the interrupt go on.
        _fail_if_unfinished(store, run.id, f"interrupted: the retrain was stopped ({error!r})")
        raise
    log.info("run #%s succeeded", result.run.id)
    return RetrainOutcome("succeeded", holder, result.run, result=result)


def _fail_interrupted(
    store: Store, recovered_from: str | None, recovered_run_id: int | None
) -> tuple[int, ...]:
    """Mark failed the run of the process whose expired lease was taken over, and any other run
    left running, which no live process can be executing: every retrain holds the lease, and
    this caller holds it now. Returns the ids of the runs it failed."""
    failed: list[int] = []
    if recovered_from is not None:
        log.warning(
            "took over the retrain lease from %s, which stopped without releasing it",
            recovered_from,
        )
    if recovered_run_id is not None and _fail_if_unfinished(
        store, recovered_run_id, INTERRUPTED_ERROR
    ):
        failed.append(recovered_run_id)
    for stale in store.runs(status=RunStatus.RUNNING.value):
        if _fail_if_unfinished(store, stale.id, ORPHANED_ERROR):
            failed.append(stale.id)
    for run_id in failed:
        log.warning("run #%s marked failed: its process stopped mid-run", run_id)
    return tuple(failed)


def _fail_if_unfinished(store: Store, run_id: int, error: str) -> bool:
    """Fail a pending or running run; False if it had finished (or failed) in the meantime."""
    try:
        store.fail_run(run_id, error)
    except StoreError:  # succeeded or failed already: a conditional update found nothing to do
        return False
    return True


def _next_run(
    store: Store, config: TrainingConfig, city_region: str, actor: str, queued_first: bool
) -> tuple[RunRecord, str, bool]:
    """The oldest queued run with the city it was queued for (if ``queued_first``), or a new
    run on everything stored now; and whether it was queued."""
    queued = store.runs(status=RunStatus.PENDING.value) if queued_first else []
    if queued:
        run = min(queued, key=lambda r: r.id)
        return run, str(run.config.get("city_region", city_region)), True
    from forecasting.pipeline import create_run

    run = create_run(store, config, city_region=city_region, requested_by=actor)
    return run, city_region, False


class _Heartbeat:
    """Renews the retrain lease every ``interval`` seconds in a daemon thread while training.

    A lost lease (taken over after a pause longer than its life) cannot stop the training
    already under way; the process that took it over marks this run failed, so its
    ``finish_run`` is refused and nothing it computed is served.
    """

    def __init__(self, store: Store, holder: str, ttl: float, interval: float) -> None:
        self.store = store
        self.holder = holder
        self.ttl = ttl
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"lease-heartbeat-{holder}", daemon=True
        )

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                held = self.store.renew_lease(RETRAIN_LEASE, self.holder, self.ttl)
            except Exception:
                # The database may be back before the lease expires: keep trying.
                log.exception("heartbeat of the retrain lease failed; retrying")
                continue
            if not held:
                log.error(
                    "%s lost the retrain lease (another process took it over after it "
                    "expired); this run will not be kept",
                    self.holder,
                )
                return
