"""The run worker: executes runs queued by ``POST /runs``, one at a time, in the server process.

Queued runs are rows with status ``pending``; starting one is a conditional update (pending →
running), so two server processes polling the same store never execute the same run twice.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

from data.store import Store
from data.store.tables import RunStatus
from serving.settings import Settings

log = logging.getLogger(__name__)


class RunWorker:
    """Polls for pending runs every ``interval`` seconds in a daemon thread."""

    def __init__(self, store: Store, settings: Settings, interval: float = 2.0) -> None:
        self.store = store
        self.settings = settings
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="run-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_pending(self) -> int:
        """Execute pending runs, oldest first, under the retrain lease (shared with the
        scheduler and the CLI); returns how many this call executed."""
        from forecasting.jobs import retrain  # the model libraries load on first use

        holder = f"worker@{socket.gethostname()}:{os.getpid()}"
        done = 0
        while not self._stop.is_set() and self.store.runs(status=RunStatus.PENDING.value, limit=1):
            outcome = retrain(
                self.store,
                self.settings.training_config(),
                holder=holder,
                city_region=self.settings.city_region,
                ttl_seconds=self.settings.retrain_lease_seconds,
                tracker=self.settings.tracker(),
            )
            if outcome.status == "skipped" or outcome.run is None:
                break  # another process is retraining, or nothing could start
            if outcome.status == "failed":
                log.warning("%s", outcome.describe())
            done += 1
        return done

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.run_pending()
