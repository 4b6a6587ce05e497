"""Dashboard sessions: a browser signs in once with its key and then holds a random session id.

The cookie carries the session id, never the key: a stolen cookie ends with the session (a
working day, or sign-out), and the store keeps only the id's SHA-256. A session belongs to the
key it signed in with and is read joined with that key while it is active, so revoking the key
ends its sessions at once. Each session has its own CSRF token, which every state-changing
request authenticated by the cookie must echo (:mod:`serving.api.deps`).

:class:`~data.store.store.Store` delegates its session methods here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from data.store.access import _KEY_COLUMNS, KeyRecord
from data.store.runs import _utc
from data.store.store import StoreError
from data.store.tables import api_keys, sessions

_HASH_LENGTH: Final = 64
#: A session is read with its key's columns (never the key's hash).
_SESSION_COLUMNS: Final = (*_KEY_COLUMNS, sessions.c.csrf_token, sessions.c.expires_at)


@dataclass(frozen=True)
class SessionRecord:
    """A live session: the key it signed in with, its CSRF token and when it ends."""

    key: KeyRecord
    csrf_token: str
    expires_at: datetime


class SessionStore:
    """The session part of the store, on the engine of a :class:`~data.store.store.Store`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create_session(
        self, key_id: int, token_hash: str, csrf_token: str, ttl_seconds: float
    ) -> SessionRecord:
        """Start a session for the active key ``key_id``; expired sessions are cleared in the
        same transaction, so the table holds live sessions only (plus those of the day)."""
        now = datetime.now(UTC)
        expires = now + timedelta(seconds=ttl_seconds)
        with self.engine.begin() as connection:
            key = connection.execute(
                sa.select(*_KEY_COLUMNS).where(
                    api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)
                )
            ).first()
            if key is None:
                raise StoreError(f"no active key has id {key_id}: a session needs one")
            connection.execute(sessions.delete().where(sessions.c.expires_at < now))
            connection.execute(
                sessions.insert().values(
                    token_hash=token_hash,
                    key_id=key_id,
                    csrf_token=csrf_token,
                    created_at=now,
                    expires_at=expires,
                )
            )
        return SessionRecord(KeyRecord.from_row(key), csrf_token, expires)

    def session_by_hash(self, token_hash: str) -> SessionRecord | None:
        """The live session whose id hashes to ``token_hash`` (unexpired, its key active)."""
        if not isinstance(token_hash, str) or len(token_hash) != _HASH_LENGTH:
            return None
        query = (
            sa.select(*_SESSION_COLUMNS)
            .select_from(sessions.join(api_keys, sessions.c.key_id == api_keys.c.id))
            .where(
                sessions.c.token_hash == token_hash,
                sessions.c.expires_at > datetime.now(UTC),
                api_keys.c.revoked_at.is_(None),
            )
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        values = row._mapping
        return SessionRecord(
            KeyRecord.from_row(row), values["csrf_token"], _utc(values["expires_at"])
        )

    def end_session(self, token_hash: str) -> None:
        """Sign out: the session is deleted (nothing happens for an unknown one)."""
        with self.engine.begin() as connection:
            connection.execute(sessions.delete().where(sessions.c.token_hash == token_hash))
