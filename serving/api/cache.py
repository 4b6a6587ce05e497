"""In-process caches of what never changes once written: a succeeded run's outputs and samples,
and the catalog as of a watermark; and, for a few seconds, the served run and the API keys seen.

A run's outputs are written once, in the transaction that marks it succeeded, and never again, so
a cached frame can never be stale; only the *served* run can change (a promotion), and that is
looked up again after at most ``served_ttl`` seconds. Each worker process has its own cache.

API keys are checked on every request; an active key found in the store is remembered for
``key_ttl`` seconds (2 by default), so a busy client costs one key lookup every two seconds per
worker instead of one per request. The price is that revoking a key (``talentcast keys revoke``)
takes effect within ``key_ttl`` seconds (plus the few milliseconds of that lookup) rather than at
once. Unknown and revoked keys are never remembered: a key issued a moment ago works at once.

When the served run or a key is due to be looked up again, one request does it and the others
meanwhile keep the previous answer, so a busy process does not send (and open connections for)
one identical query per waiting request every time the entry expires.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final, TypeVar

import pandas as pd

from data.catalog import Catalog
from data.store import KeyRecord, Store
from data.store.runs import RunRecord
from forecasting.scenarios import BalanceSamples, load_samples

T = TypeVar("T")

#: Frames kept per process; a run has seven outputs, so this holds a few runs.
MAX_FRAMES: Final = 48
#: Joint samples are tens of MB each: keep the served run's and one more.
MAX_SAMPLES: Final = 2
#: Serialised responses kept per process (each a page of at most a few hundred rows).
MAX_RESPONSES: Final = 4096
#: Active API keys remembered per process (by the hash of their secret).
MAX_KEYS: Final = 1024


class _LRU:
    """A small thread-safe least-recently-used map (the server runs sync routes in threads)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any | None:
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def pop(self, key: Any) -> None:
        with self._lock:
            self._items.pop(key, None)


class ServingCache:
    """Run outputs, samples, catalogs and rendered responses, shared by the requests of one
    process (held in ``app.state.cache``)."""

    def __init__(self, served_ttl: float = 1.0, key_ttl: float = 2.0) -> None:
        self.served_ttl = served_ttl
        self.key_ttl = key_ttl
        self._frames = _LRU(MAX_FRAMES)
        self._samples = _LRU(MAX_SAMPLES)
        self._responses = _LRU(MAX_RESPONSES)
        self._keys = _LRU(MAX_KEYS)
        # Hashes the store did not know, and when: asked again within key_ttl, not looked up.
        self._unknown_keys = _LRU(MAX_KEYS)
        self._served: tuple[float, RunRecord | None] | None = None
        self._lock = threading.Lock()
        # Lookups under way (the served run; key hashes): one at a time per entry.
        self._refreshing_served = False
        self._refreshing_keys: set[str] = set()

    def served_run(self, store: Store) -> RunRecord | None:
        """The served run, looked up again once ``served_ttl`` seconds have passed (while one
        caller does that, the others get the previous answer)."""
        with self._lock:
            fresh, run = self._served_now()
            if fresh:
                return run
            self._refreshing_served = True
        try:
            now = time.monotonic()
            run = store.served_run()
            self._served = (now, run)
        finally:
            with self._lock:
                self._refreshing_served = False
        return run

    def served_if_fresh(self) -> tuple[bool, RunRecord | None]:
        """``(True, run)`` if the served run was looked up less than ``served_ttl`` seconds ago
        or is being looked up again right now (``run`` None: none is served), else
        ``(False, None)``: call :meth:`served_run`. Never touches the store."""
        with self._lock:
            return self._served_now()

    def _served_now(self) -> tuple[bool, RunRecord | None]:
        cached = self._served
        if cached is not None and (
            time.monotonic() - cached[0] < self.served_ttl or self._refreshing_served
        ):
            return True, cached[1]
        return False, None

    def known_key(self, key_hash: str) -> KeyRecord | None:
        """The active key with this hash if the store returned it less than ``key_ttl``
        seconds ago (or it is being looked up again right now), else None: call :meth:`key`.
        Never touches the store."""
        with self._lock:
            return self._key_now(key_hash)

    def key(self, store: Store, key_hash: str) -> KeyRecord | None:
        """The active key with this hash, from the store unless :meth:`known_key` has it; an
        active key is remembered for ``key_ttl`` seconds, and so is the store's "no such key"
        (a client repeating a wrong key does not cost a lookup per request)."""
        with self._lock:
            record = self._key_now(key_hash)
            if record is not None:
                return record
            missed = self._unknown_keys.get(key_hash)
            if missed is not None and time.monotonic() - missed < self.key_ttl:
                return None
            self._refreshing_keys.add(key_hash)
        try:
            now = time.monotonic()
            record = store.key_by_hash(key_hash)
            if record is None:
                self._keys.pop(key_hash)
                self._unknown_keys.put(key_hash, now)
            else:
                self._keys.put(key_hash, (now, record))
                self._unknown_keys.pop(key_hash)
        finally:
            with self._lock:
                self._refreshing_keys.discard(key_hash)
        return record

    def _key_now(self, key_hash: str) -> KeyRecord | None:
        cached = self._keys.get(key_hash)
        if cached is None:
            return None
        if time.monotonic() - cached[0] >= self.key_ttl and key_hash not in self._refreshing_keys:
            return None
        record: KeyRecord = cached[1]
        return record

    def forget_served(self) -> None:
        """After a promotion in this process: the next request looks the served run up."""
        with self._lock:
            self._served = None

    def output(self, store: Store, run_id: int, name: str) -> pd.DataFrame:
        """A run's whole output table (callers filter copies; the cached frame is shared)."""
        key = ("output", run_id, name)
        return self._get(self._frames, key, lambda: store.run_output(run_id, name))

    def computed(self, key: Any, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        """A frame derived from stored data, under a key that changes when its inputs do
        (e.g. the store's watermark and the runs involved)."""
        return self._get(self._frames, ("computed", key), compute)

    def catalog(self, store: Store, as_of: int) -> Catalog:
        return self._get(self._frames, ("catalog", as_of), lambda: store.catalog(as_of=as_of))

    def cached_catalog(self, as_of: int) -> Catalog | None:
        """The catalog as of ``as_of`` if it is in the cache (never touches the store)."""
        value = self._frames.get(("catalog", as_of))
        return value if isinstance(value, Catalog) else None

    def samples(self, store: Store, run_id: int, region: str | None = None) -> BalanceSamples:
        """A run's joint samples (of ``region`` in a run of several regions)."""
        return self._get(
            self._samples, (run_id, region), lambda: load_samples(store, run_id, region)
        )

    def response(self, key: Any) -> bytes | None:
        value = self._responses.get(key)
        return value if isinstance(value, bytes) else None

    def keep_response(self, key: Any, body: bytes) -> None:
        self._responses.put(key, body)

    def _get(self, lru: _LRU, key: Any, load: Callable[[], T]) -> T:
        value = lru.get(key)
        if value is None:
            value = load()  # two threads may both load once; the result is the same
            lru.put(key, value)
        return value
