"""Slowing down key guessing: failed authentications counted per client address and per key
prefix, refused with 429 once a subject has failed too often in a window.

An address or a prefix that failed ``limit`` times within ``window`` seconds is refused, before
any database lookup, until the oldest of those failures leaves the window; the answer says
when to retry. A key this process already knows to be active is never throttled (checking it
costs nothing), so a colleague's script stuck on a revoked key does not lock out the rest of
an office behind one address. Counts are per server process: with several workers, a guesser
gets ``limit`` tries per worker.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

#: Subjects remembered at most (the oldest are forgotten first): bounded memory under a flood
#: of addresses.
MAX_SUBJECTS = 10_000


class FailureThrottle:
    """Sliding-window failure counts per subject (``addr:…``, ``key:…``)."""

    def __init__(
        self, limit: int = 20, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, *subjects: str) -> float | None:
        """Seconds until every subject may try again, or None if none is throttled now."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for subject in subjects:
                times = self._failures.get(subject)
                if times is None:
                    continue
                while times and times[0] <= now - self.window:
                    times.popleft()
                if len(times) >= self.limit:
                    wait = max(wait, times[0] + self.window - now)
        return wait if wait > 0 else None

    def failed(self, *subjects: str) -> None:
        """Count one failed authentication against every subject."""
        now = self.clock()
        with self._lock:
            for subject in subjects:
                times = self._failures.pop(subject, None) or deque(maxlen=self.limit)
                times.append(now)
                self._failures[subject] = times  # most recent last
            while len(self._failures) > MAX_SUBJECTS:
                self._failures.popitem(last=False)


def subjects(address: str | None, secret: str) -> tuple[str, str]:
    """What a failure counts against: the client address and the key's first characters
    (a guesser varies the rest; a real key's prefix is its public id)."""
    return (f"addr:{address or 'unknown'}", f"key:{secret[:10]}")
