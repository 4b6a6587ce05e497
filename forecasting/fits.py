"""Engine fits shared within a run: a panel fitted once is not fitted again.

After its balance a run recomputes the balance without each recent upload when cells moved
against the served run (:mod:`forecasting.changes`), to say which upload moved them. An
upload of hiring leaves the intake and outcome-rate panels exactly as they were, and an engine
fitted on the same panel with the same parameters is the same engine: fitting (backtests,
selection, calibration — nearly all of a balance's time) is deterministic, and sampling or
predicting does not change a fitted engine. Inside a :func:`shared_fits` block the balance's
engines are looked up by where they are fitted, their horizon and the panel's content, and
fitted only when absent; outside one every call fits. A value computed ahead of its use can
also be left there for one later use (:func:`keep`, :func:`take`): a run forecasts the parts of
its balance that no demand model changes beside its balance backtest, and its balance takes
them from there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from features.panel import Panel
from forecasting.engine import ForecastEngine

#: What was computed so far inside the current :func:`shared_fits` block, by key: fitted
#: engines, and values left for one later use (:func:`keep`) with the data they are of.
_FITS: ContextVar[dict[str, object] | None] = ContextVar("shared_fits", default=None)


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
    engine = fits[key]
    assert isinstance(engine, ForecastEngine)
    return engine


def keep(key: str, of: object, value: object) -> None:
    """Hand ``value``, computed from the object ``of`` (the run's data, say) and ``key``
    (what else it depends on), to a later :func:`take` in the same :func:`shared_fits`
    block; outside a block nothing is kept. ``of`` is kept with it, so that its identity,
    part of the key, is not reused by another object meanwhile."""
    fits = _FITS.get()
    if fits is not None:
        fits[f"{key}|{id(of)}"] = (of, value)


def take(key: str, of: object) -> object | None:
    """The value :func:`keep` left for ``of`` and ``key``, once (it is not kept after), or
    None."""
    fits = _FITS.get()
    entry = None if fits is None else fits.pop(f"{key}|{id(of)}", None)
    if isinstance(entry, tuple) and entry[0] is of:
        return entry[1]
    return None


def panel_fingerprint(panel: Panel) -> str:
    """SHA-256 of a panel's series ids, starts, frequency and every value."""
    digest = hashlib.sha256()
    digest.update(
        json.dumps([panel.freq, list(panel.ids), [str(s) for s in panel.starts]]).encode()
    )
    digest.update(panel.indptr.astype("int64").tobytes())
    digest.update(panel.values.astype("float64").tobytes())
    return digest.hexdigest()
