"""API keys and the audit log: who may call the API, and who did what.

A key is stored by the SHA-256 of its secret (the secret itself is shown once, by whoever made
it, and never reaches the database), so a leaked database does not leak working keys. Revoking
keeps the row, so that audit rows naming the key keep their meaning; a name is unique among
*active* keys only, checked here because partial unique indexes differ between backends.

Every audit row is written in the transaction of the write it describes (callers pass their
connection to :meth:`AccessStore.audit`), so the log never claims a write that was rolled back
and never misses one that was committed.

:class:`~data.store.store.Store` delegates its key and audit methods here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from data.store.runs import _json_text, _maybe_utc, _utc
from data.store.store import StoreError
from data.store.tables import CATALOG_KIND, api_keys, audit_log, catalog_fields, uploads
from data.vocabulary import Role

#: PostgreSQL advisory lock key that serialises key creation (see :meth:`AccessStore.create_key`).
_KEYS_LOCK: Final = int.from_bytes(b"tc-keys", "big") >> 1

#: A key's hash is the SHA-256 of its secret in (lower-case) hex.
_HASH_LENGTH: Final = 64
_SHA256_HEX: Final = re.compile(f"[0-9a-f]{{{_HASH_LENGTH}}}")

#: Every column but the hash: records never carry it, so it cannot leak through a listing.
_KEY_COLUMNS: Final = tuple(c for c in api_keys.c if c.name != "key_hash")


def _length(column: sa.Column[Any]) -> int:
    length: int | None = getattr(column.type, "length", None)
    assert length is not None, column
    return length


class UnknownKey(StoreError, LookupError):
    """No active key has the requested name."""


@dataclass(frozen=True)
class KeyRecord:
    """One API key as the store knows it: everything but the hash of its secret.

    ``fields`` are the field codes an association key reports for (empty for other roles);
    timestamps are aware UTC datetimes.
    """

    id: int
    name: str
    role: Role
    fields: tuple[str, ...]
    key_prefix: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> KeyRecord:
        values = row._mapping
        return cls(
            id=int(values["id"]),
            name=values["name"],
            role=Role(values["role"]),
            fields=tuple(values["fields"].split(",")) if values["fields"] else (),
            key_prefix=values["key_prefix"],
            created_at=_utc(values["created_at"]),
            created_by=values["created_by"],
            revoked_at=_maybe_utc(values["revoked_at"]),
        )


@dataclass(frozen=True)
class AuditRecord:
    """One audit row; ``role`` is None for actions of the system itself (the CLI, the demo)."""

    id: int
    at: datetime
    actor: str
    role: Role | None
    action: str
    target: str | None
    detail: dict[str, Any] = field(hash=False)

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> AuditRecord:
        values = row._mapping
        return cls(
            id=int(values["id"]),
            at=_utc(values["at"]),
            actor=values["actor"],
            role=Role(values["role"]) if values["role"] is not None else None,
            action=values["action"],
            target=values["target"],
            detail=json.loads(values["detail"]),
        )


class AccessStore:
    """The key and audit half of the store, on the engine of a
    :class:`~data.store.store.Store`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- keys -------------------------------------------------------------------------------

    def create_key(
        self,
        name: str,
        role: Role | str,
        fields: Iterable[str],
        key_hash: str,
        key_prefix: str,
        *,
        actor: str,
    ) -> KeyRecord:
        """Store a new key and its ``key.create`` audit row in one transaction.

        Refused with the reason, and nothing kept, unless the name, the role, the fields (an
        association reports for at least one field of the current catalog, the other roles for
        none) and the hash (64 hex digits, never used before) are right and no active key has
        the same name.
        """
        name = _text(name, "key name", _length(api_keys.c.name))
        role = _role(role)
        codes = _field_codes(fields)
        if role is Role.ASSOCIATION and not codes:
            raise StoreError(
                f"key {name!r}: an association key needs at least one field code (the fields it "
                "reports for)"
            )
        if role is not Role.ASSOCIATION and codes:
            raise StoreError(
                f"key {name!r}: a {role.value} key has no fields (only association keys are "
                f"limited to fields), got {list(codes)}"
            )
        joined = ",".join(codes)
        if len(joined) > _length(api_keys.c.fields):
            raise StoreError(f"key {name!r}: too many fields ({len(codes)})")
        key_hash = _key_hash(key_hash)
        key_prefix = _text(key_prefix, "key prefix", _length(api_keys.c.key_prefix))
        actor = _text(actor, "actor", _length(api_keys.c.created_by))
        with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Without it, two transactions could each insert a key of the same name, each
                # check before the other commits, and both commit.
                connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_KEYS_LOCK)))
            known = _catalog_field_codes(connection)
            unknown = [code for code in codes if code not in known]
            if unknown:
                listed = ", ".join(known) if known else "none: the store has no catalog yet"
                raise StoreError(
                    f"key {name!r}: unknown field codes {unknown}; the catalog's fields are "
                    f"{listed}"
                )
            taken = connection.execute(
                sa.select(api_keys.c.id).where(api_keys.c.key_hash == key_hash)
            ).first()
            if taken is not None:
                raise StoreError(
                    f"key {name!r}: another key (active or revoked) has the same hash; generate "
                    "a new secret"
                )
            row = connection.execute(
                api_keys.insert()
                .values(
                    name=name,
                    role=role.value,
                    fields=joined,
                    key_hash=key_hash,
                    key_prefix=key_prefix,
                    created_at=datetime.now(UTC),
                    created_by=actor,
                    revoked_at=None,
                )
                .returning(*_KEY_COLUMNS)
            ).one()
            # Checked after our insert: on SQLite the insert is what takes the write lock (its
            # driver begins transactions at the first write), so a check before it could race.
            clash = connection.execute(
                sa.select(api_keys.c.id).where(
                    api_keys.c.name == name,
                    api_keys.c.revoked_at.is_(None),
                    api_keys.c.id != row.id,
                )
            ).first()
            if clash is not None:
                raise StoreError(f"an active key named {name!r} exists; revoke it first")
            self.audit(
                actor,
                "key.create",
                target=f"key {name}",
                detail={"role": role.value, "fields": list(codes)},
                connection=connection,
            )
        return KeyRecord.from_row(row)

    def revoke_key(self, name: str, *, actor: str) -> KeyRecord:
        """Revoke the active key called ``name`` and audit it, in one transaction.

        One conditional UPDATE: of two concurrent revocations, the second finds no active key.
        """
        actor = _text(actor, "actor", _length(audit_log.c.actor))
        with self.engine.begin() as connection:
            rows = connection.execute(
                api_keys.update()
                .where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
                .returning(*_KEY_COLUMNS)
            ).all()
            if not rows:
                active = connection.execute(
                    sa.select(api_keys.c.name)
                    .where(api_keys.c.revoked_at.is_(None))
                    .order_by(api_keys.c.id)
                ).scalars()
                names = ", ".join(repr(n) for n in active) or "none"
                raise UnknownKey(f"no active key named {name!r}; active keys: {names}")
            record = KeyRecord.from_row(rows[0])
            self.audit(
                actor,
                "key.revoke",
                target=f"key {name}",
                detail={"role": record.role.value, "key_prefix": record.key_prefix},
                connection=connection,
            )
        return record

    def keys(self, include_revoked: bool = False) -> list[KeyRecord]:
        """Keys in the order they were created; active ones only unless asked otherwise."""
        query = sa.select(*_KEY_COLUMNS).order_by(api_keys.c.id)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_at.is_(None))
        with self.engine.connect() as connection:
            return [KeyRecord.from_row(row) for row in connection.execute(query)]

    def key_by_hash(self, key_hash: str) -> KeyRecord | None:
        """The active key whose secret hashes to ``key_hash``, or None.

        This runs on every API request: one SELECT on the unique index, and none at all for a
        value that cannot be a hash.
        """
        if not isinstance(key_hash, str) or len(key_hash) != _HASH_LENGTH:
            return None
        query = sa.select(*_KEY_COLUMNS).where(
            api_keys.c.key_hash == key_hash.lower(), api_keys.c.revoked_at.is_(None)
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return KeyRecord.from_row(row) if row is not None else None

    # -- audit ------------------------------------------------------------------------------

    def audit(
        self,
        actor: str,
        action: str,
        *,
        role: Role | str | None = None,
        target: str | None = None,
        detail: Mapping[str, Any] | None = None,
        connection: sa.Connection | None = None,
    ) -> None:
        """Append one audit row; with ``connection``, inside that caller's transaction, so that
        the row commits or rolls back with the write it describes."""
        values = {
            "at": datetime.now(UTC),
            "actor": _text(actor, "actor", _length(audit_log.c.actor)),
            "role": None if role is None else _role(role).value,
            "action": _text(action, "action", _length(audit_log.c.action)),
            "target": None
            if target is None
            else _text(target, "target", _length(audit_log.c.target)),
            "detail": _json_text({} if detail is None else detail, "audit detail"),
        }
        if connection is not None:
            connection.execute(audit_log.insert().values(**values))
            return
        with self.engine.begin() as own:
            own.execute(audit_log.insert().values(**values))

    def audit_log(
        self,
        *,
        limit: int = 100,
        offset: int = 0,
        actor: str | None = None,
        action: str | None = None,
    ) -> list[AuditRecord]:
        """Audit rows newest first (by id: the order of commits' inserts, unlike clock time),
        optionally of one actor and/or one action."""
        for what, number in (("limit", limit), ("offset", offset)):
            if isinstance(number, bool) or not isinstance(number, int) or number < 0:
                raise StoreError(f"audit log {what} must be a whole number ≥ 0, not {number!r}")
        query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit).offset(offset)
        if actor is not None:
            query = query.where(audit_log.c.actor == actor)
        if action is not None:
            query = query.where(audit_log.c.action == action)
        with self.engine.connect() as connection:
            return [AuditRecord.from_row(row) for row in connection.execute(query)]


# -- checks ----------------------------------------------------------------------------------


def _text(value: Any, what: str, length: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise StoreError(f"{what} must be non-empty text, not {value!r}")
    if len(value) > length:
        raise StoreError(f"{what} {value[:20]!r}… is longer than {length} characters")
    return value


def _role(role: Any) -> Role:
    try:
        return Role(role)
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise StoreError(f"unknown role {role!r}; roles are {roles}") from None


def _field_codes(fields: Iterable[str]) -> tuple[str, ...]:
    """Field codes as a tuple without repeats, in the order given (the caller's value is only
    read)."""
    if isinstance(fields, str | bytes) or not isinstance(fields, Iterable):
        raise StoreError(f"fields must be a collection of field codes, not {fields!r}")
    codes: list[str] = []
    for code in fields:
        if not isinstance(code, str) or not code.strip() or "," in code:
            raise StoreError(f"field code {code!r}: a code is non-empty text without commas")
        if code not in codes:
            codes.append(code)
    return tuple(codes)


def _key_hash(key_hash: Any) -> str:
    if not isinstance(key_hash, str) or not _SHA256_HEX.fullmatch(key_hash.lower()):
        raise StoreError(
            f"key_hash must be the SHA-256 of the secret as {_HASH_LENGTH} hex digits (the "
            "secret itself is never stored)"
        )
    return key_hash.lower()


def _catalog_field_codes(connection: sa.Connection) -> list[str]:
    """Field codes of the newest catalog, in catalog order."""
    newest = (
        sa.select(sa.func.max(uploads.c.id)).where(uploads.c.kind == CATALOG_KIND).scalar_subquery()
    )
    query = (
        sa.select(catalog_fields.c.field_code)
        .where(catalog_fields.c.upload_id == newest)
        .order_by(catalog_fields.c.sort_order, catalog_fields.c.field_code)
    )
    return [str(code) for code in connection.execute(query).scalars()]
