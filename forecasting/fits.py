"""Engine fits shared within a run: a panel fitted once is not fitted again.

After its balance a run recomputes the balance without each recent upload when cells moved
against the served run (:mod:`forecasting.changes`), to say which upload moved them. An
upload of hiring leaves the intake and outcome-rate panels exactly as they were, and an engine
fitted on the same panel with the same parameters is the same engine: fitting (backtests,
selection, calibration — nearly all of a balance's time) is deterministic, and sampling or
predicting does not change a fitted engine. Inside a :func:`shared_fits` block the balance's
engines are looked up by where they are fitted, their horizon and the panel's content, and
fitted only when absent; outside one every call fits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from features.panel import Panel
from forecasting.engine import ForecastEngine

#: The engines fitted so far inside the current :func:`shared_fits` block, by key.
_FITS: ContextVar[dict[str, ForecastEngine] | None] = ContextVar("shared_fits", default=None)


@contextmanager
def shared_fits() -> Iterator[None]:
    """Share engine fits between the balances computed inside the block (one run's balance
    and its leave-one-upload-out recomputations); they are dropped when it ends."""
    if _FITS.get() is not None:
        yield
        return
    token = _FITS.set({})
    try:
        yield
    finally:
        _FITS.reset(token)


def fitted(
    site: str, panel: Panel, horizon: int, fit: Callable[[], ForecastEngine]
) -> ForecastEngine:
    """The engine ``fit()`` returns for ``panel`` at ``site`` (one place in the code, with its
    own fixed parameters) and ``horizon``: fitted once per :func:`shared_fits` block."""
    fits = _FITS.get()
    if fits is None:
        return fit()
    key = f"{site}|{horizon}|{panel_fingerprint(panel)}"
    if key not in fits:
        fits[key] = fit()
    return fits[key]


def panel_fingerprint(panel: Panel) -> str:
    """SHA-256 of a panel's series ids, starts, frequency and every value."""
    digest = hashlib.sha256()
    digest.update(
        json.dumps([panel.freq, list(panel.ids), [str(s) for s in panel.starts]]).encode()
    )
    digest.update(panel.indptr.astype("int64").tobytes())
    digest.update(panel.values.astype("float64").tobytes())
    return digest.hexdigest()
