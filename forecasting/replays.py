"""Reusing balance replays: a cut year is replayed again only when something it reads changed.

The balance backtest (:mod:`forecasting.balance_backtest`) replays the whole balance from a
few earlier cut years on every retrain, and that is most of a retrain's time. Yet a replay is a
pure function of what it reads: the data as known at the end of its cut year (the store's
vintage of then, or today's data cut at that year), the balance settings (horizon included),
the demand model and the code. A retrain after an ordinary upload — this year's survey, a
correction of last year's hiring — leaves most cut years' inputs exactly as they were.

So each replay is kept in the store (:mod:`data.store.replays`) under a key that is the
SHA-256 of all of those inputs:

- ``data``: a fingerprint of the replay's input data themselves — every row and column of the
  enrollment, graduates, outcomes, hiring and surveys it reads and of the catalog in force —
  rather than of upload ids. Any upload that changes what the cut reads changes it, on the
  vintage path and on the fallback to today's data alike (a revision of an old year uploaded
  today changes today's data cut at every later cut year); an upload that changes nothing the
  cut reads (a later year, another region, a repeat of the same values) does not.
- ``settings``: the balance settings the replay computes with (its horizon, reduced samples
  and demand model included), all but ``n_jobs``, ``executor`` and ``dask_address``, which
  change where the work runs and not its numbers (the engines split series into fixed-size
  chunks whatever the workers, and a cut year's replays run as one task or on the run's
  executor alike).
- ``cut`` and ``code``: the cut year, and the code version (:func:`code_fingerprint`: the
  product's version, a digest of the forecasting sources and the versions of the numerical
  libraries), so that changed code never reads an older code's replays.

A kept replay holds the replayed balance's forecast rows (:data:`REPLAY_COLUMNS`), exactly as
computed (float64, no rounding); the scores are always computed afresh from them against
today's realised balance, which changes with every upload. A row that is missing, damaged or
unreadable is replayed again and replaced.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from data.store import Store, StoredReplay
from features.talent import TalentData
from forecasting.balance import compute_balances
from forecasting.settings import BalanceSettings

log = logging.getLogger(__name__)

#: The columns of a replayed balance that the backtest scores (its forecast rows only).
REPLAY_COLUMNS: Final = (
    "field_code",
    "level",
    "year",
    "gap_p10",
    "gap_p50",
    "gap_p90",
    "ratio_p50",
    "p_shortage",
)
_TEXT: Final = ("field_code", "level")
#: Packages whose code computes a replay (the data it reads are fingerprinted themselves).
_SOURCES: Final = ("features", "forecasting", "models")
#: Libraries whose numerics a replay's numbers depend on.
_LIBRARIES: Final = (
    "numpy",
    "pandas",
    "scipy",
    "statsmodels",
    "statsforecast",
    "lightgbm",
    "mlforecast",
    "prophet",
)
#: Settings that choose where a replay's work runs, not its numbers.
_WHERE_IT_RUNS: Final = frozenset({"n_jobs", "executor", "dask_address"})
REPLAYED: Final = "replayed"
REUSED: Final = "reused"


def data_fingerprint(data: TalentData) -> str:
    """SHA-256 of everything in ``data`` (observations and catalog): column names, types
    and every value, in order."""
    digest = hashlib.sha256()
    frames = {
        "enrollment": data.enrollment,
        "graduates": data.graduates,
        "outcomes": data.outcomes,
        "hiring": data.hiring,
        "surveys": data.surveys,
        "catalog.fields": data.catalog.fields,
        "catalog.programmes": data.catalog.programmes,
        "catalog.crosswalk": data.catalog.crosswalk,
    }
    for name, frame in frames.items():
        columns = [f"{column}:{frame[column].dtype}" for column in frame.columns]
        digest.update(json.dumps([name, len(frame), columns]).encode())
        if len(frame):
            digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def code_fingerprint(version: str) -> str:
    """``version`` (the product's, :func:`forecasting.pipeline.code_version`) with a digest
    of the sources that compute a replay and the numerical libraries' versions: an installed
    release and a working copy with edits are told apart even at the same version number."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parents[1]
    for package in _SOURCES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    for library in _LIBRARIES:
        try:
            digest.update(f"{library} {metadata.version(library)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{library} absent".encode())
    return f"{version} ({digest.hexdigest()[:16]})"


def replay_key(cut: int, settings: BalanceSettings, data: str, code: str) -> str:
    """The key of the replay of ``cut`` with ``settings`` (whose ``demand_model`` is the one
    replayed) on data of fingerprint ``data`` by code ``code`` (:func:`code_fingerprint`)."""
    computed = {k: v for k, v in settings.to_dict().items() if k not in _WHERE_IT_RUNS}
    inputs = {"cut": int(cut), "settings": computed, "data": data, "code": code}
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()


def encode_balance(balance: pd.DataFrame) -> bytes:
    """The :data:`REPLAY_COLUMNS` of ``balance`` as ``.npz`` bytes (values exactly)."""
    arrays = {
        column: (
            balance[column].astype(str).to_numpy(dtype=str)
            if column in _TEXT
            else balance[column].to_numpy(dtype=np.int64 if column == "year" else float)
        )
        for column in REPLAY_COLUMNS
    }
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def decode_balance(content: bytes, cut: int) -> pd.DataFrame:
    """The replayed balance of ``cut`` from :func:`encode_balance` bytes; ValueError when they
    are not a replayed balance of that cut (a damaged row)."""
    try:
        with np.load(io.BytesIO(content), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError) as error:
        raise ValueError(f"not a replayed balance: {error}") from error
    if set(arrays) != set(REPLAY_COLUMNS):
        raise ValueError(f"a replayed balance has columns {REPLAY_COLUMNS}, got {sorted(arrays)}")
    lengths = {array.shape for array in arrays.values()}
    if len(lengths) != 1 or len(next(iter(lengths))) != 1:
        raise ValueError(f"the columns of a replayed balance differ in shape: {lengths}")
    frame = pd.DataFrame({column: arrays[column] for column in REPLAY_COLUMNS})
    for column in _TEXT:
        frame[column] = frame[column].astype(object)
    if frame.empty or not (frame["year"] > cut).all():
        raise ValueError(f"a replayed balance of {cut} has forecast years after {cut} only")
    return frame


@dataclass(frozen=True)
class CutReplay:
    """What the store keeps of a cut year's replay: the balance of each demand model found
    (:data:`REPLAY_COLUMNS`, forecast rows), the models still ``missing``, and the keys and
    data fingerprint to keep them under once replayed."""

    cut: int
    data: TalentData
    balances: dict[str, pd.DataFrame]
    missing: tuple[str, ...]
    keys: dict[str, str]
    fingerprint: str


def look_up(
    store: Store,
    data: TalentData,
    cut: int,
    settings: BalanceSettings,
    models: tuple[str, ...],
    *,
    code: str | None,
) -> CutReplay:
    """The kept replays of ``cut`` (``data`` as known at its end, ``settings`` with its horizon)
    for each demand model of ``models``; ``code`` is the :func:`code_fingerprint` (None: none is
    looked up or kept). A kept replay that cannot be read is missing (and logged)."""
    known = data.cut(cut)
    if code is None:
        return CutReplay(cut, known, {}, models, {}, "")
    fingerprint = data_fingerprint(known)
    keys = {
        m: replay_key(cut, replace(settings, demand_model=m), fingerprint, code) for m in models
    }
    balances: dict[str, pd.DataFrame] = {}
    for model, key in keys.items():
        kept = store.kept_replay(key)
        if kept is None:
            continue
        try:
            balances[model] = decode_balance(kept.content, cut)
        except ValueError as error:
            log.warning(
                "kept replay of %s (%s demand) is unreadable, replaying: %s", cut, model, error
            )
    missing = tuple(m for m in models if m not in balances)
    return CutReplay(cut, known, balances, missing, keys, fingerprint)


def replay_missing(
    task: tuple[int, TalentData, BalanceSettings, tuple[str, ...]],
) -> tuple[dict[str, bytes], float] | ValueError:
    """The balances of a cut year's missing demand models (``task``: cut, data as known then,
    settings, models), computed together (:func:`~forecasting.balance.compute_balances`) as
    :func:`encode_balance` bytes, and the seconds it took; or the ``ValueError`` that skips the
    cut year (returned, so that one short cut does not cancel the other tasks of a map)."""
    cut, data, settings, models = task
    started = time.perf_counter()
    try:
        computed = compute_balances(data, settings, models)
    except ValueError as error:
        return error
    content = {
        model: encode_balance(result.balance[result.balance["year"] > cut])
        for model, result in computed.items()
    }
    return content, time.perf_counter() - started


def keep(
    store: Store, replay: CutReplay, content: dict[str, bytes], seconds: float, code: str | None
) -> dict[str, pd.DataFrame]:
    """Every model's balance of ``replay``: those found, and those just replayed (``content``,
    read back from the bytes kept, so that a replay scores the same computed or reused), which
    are kept in the store when ``code`` is given."""
    balances = dict(replay.balances)
    for model, encoded in content.items():
        balances[model] = decode_balance(encoded, replay.cut)
        if code is not None:
            store.keep_replay(
                StoredReplay(
                    key=replay.keys[model],
                    cut=replay.cut,
                    demand_model=model,
                    code_version=code,
                    data_fingerprint=replay.fingerprint,
                    content=encoded,
                    seconds=seconds / len(content),
                    created_at=datetime.now(UTC),
                )
            )
    return balances
