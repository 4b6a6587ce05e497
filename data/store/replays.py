"""Replayed balances kept for reuse: the balance backtest's results per cut year and key.

A retrain replays the balance from a few earlier cut years (:mod:`forecasting.balance_backtest`),
and most of those replays read exactly what the previous retrain's did. The pipeline keys each
replay by everything it depends on (:mod:`forecasting.replays`) and keeps its result here; a
later replay with the same key reads it instead of computing it again.

Rows are a cache, never a record: deleting any of them only costs the next retrain the time
to replay. So a row whose content no longer matches its checksum, or that cannot be read or
written at all, is reported missing (and replaced by the next replay) and logged rather than
raised, and the table keeps the most recently used :data:`KEPT_REPLAYS` rows only.

:class:`~data.store.store.Store` delegates its replay methods here.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from data.store.runs import _utc
from data.store.store import StoreError
from data.store.tables import balance_replays

log = logging.getLogger(__name__)

#: Rows kept: a retrain uses a few cut years × demand models; this keeps those of the last
#: several configurations (a setting tried and reverted finds its replays again).
KEPT_REPLAYS: Final = 60
_KEY = re.compile(r"[0-9a-f]{64}")
#: Longest code version the table holds (a longer one is shortened: it is for people, the key
#: already covers the code).
_CODE_VERSION_CHARS: Final = 200


@dataclass(frozen=True)
class StoredReplay:
    """A replay as kept: its content (exactly the bytes given to :meth:`ReplayStore.keep`),
    what it was computed from and how long computing it took."""

    key: str
    cut: int
    demand_model: str
    code_version: str
    data_fingerprint: str
    content: bytes
    seconds: float
    created_at: datetime


class ReplayStore:
    """The replay part of the store, on the engine of a :class:`~data.store.store.Store`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def replay(self, key: str) -> StoredReplay | None:
        """The replay kept under ``key`` (and marked used now), or None when there is none or
        its content no longer matches its checksum (logged: it will be replayed again)."""
        _check_key(key)
        try:
            with self.engine.begin() as connection:
                row = connection.execute(
                    sa.select(balance_replays).where(balance_replays.c.key == key)
                ).first()
                if row is None:
                    return None
                values = row._mapping
                content = bytes(values["content"])
                if hashlib.sha256(content).hexdigest() != values["content_sha256"]:
                    log.warning("kept replay %s does not match its checksum: replaying", key)
                    return None
                connection.execute(
                    balance_replays.update()
                    .where(balance_replays.c.key == key)
                    .values(used_at=datetime.now(UTC))
                )
        except sa.exc.SQLAlchemyError as error:
            # A cache that cannot be read costs a replay, never the run.
            log.warning("kept replay %s cannot be read (%s): replaying", key, error)
            return None
        return StoredReplay(
            key=key,
            cut=int(values["cut"]),
            demand_model=str(values["demand_model"]),
            code_version=str(values["code_version"]),
            data_fingerprint=str(values["data_fingerprint"]),
            content=content,
            seconds=float(values["seconds"]),
            created_at=_utc(values["created_at"]),
        )

    def keep(self, replay: StoredReplay) -> None:
        """Keep ``replay`` under its key, replacing a row of the same key (a damaged one), and
        drop all but the :data:`KEPT_REPLAYS` most recently used rows."""
        _check_key(replay.key)
        if not replay.content:
            raise StoreError(f"replay {replay.key} has no content: nothing to keep")
        now = datetime.now(UTC)
        row = {
            "key": replay.key,
            "cut": int(replay.cut),
            "demand_model": replay.demand_model,
            "code_version": replay.code_version[:_CODE_VERSION_CHARS],
            "data_fingerprint": replay.data_fingerprint,
            "content": replay.content,
            "content_sha256": hashlib.sha256(replay.content).hexdigest(),
            "seconds": float(replay.seconds),
            "created_at": replay.created_at,
            "used_at": now,
        }
        newest = (
            sa.select(balance_replays.c.key)
            .order_by(balance_replays.c.used_at.desc(), balance_replays.c.key)
            .limit(KEPT_REPLAYS)
            .scalar_subquery()
        )
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    balance_replays.delete().where(balance_replays.c.key == replay.key)
                )
                connection.execute(balance_replays.insert().values(**row))
                connection.execute(
                    balance_replays.delete().where(balance_replays.c.key.not_in(newest))
                )
        except sa.exc.IntegrityError:
            # Another process kept the same key meanwhile: the same inputs, the same numbers.
            log.info("replay %s was kept by another process", replay.key)
        except sa.exc.SQLAlchemyError as error:
            # Nothing was kept (the transaction rolled back): the next retrain replays again.
            log.warning("replay %s cannot be kept (%s)", replay.key, error)

    def count(self) -> int:
        """How many replays are kept."""
        with self.engine.connect() as connection:
            return int(
                connection.execute(sa.select(sa.func.count()).select_from(balance_replays)).scalar()
                or 0
            )


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise StoreError(f"a replay key is 64 lower-case hex digits (a SHA-256), got {key!r}")
