"""API keys and what each role may do.

A key is a random secret (``tc_`` + 43 URL-safe characters, 256 bits) shown once when it is
created; the store keeps only its SHA-256. A fast hash is enough here: the secret is random, not
a password, so there is nothing to guess from the hash and no need for a slow KDF on every
request.

Roles (:class:`data.vocabulary.Role`): ``planner`` reads and runs scenarios; ``association``
reads the figures of its own fields and uploads hiring and survey data for them; ``admin`` may
do everything, including retraining and reading every upload.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

from data.store import KeyRecord, Store
from data.vocabulary import Role

KEY_PREFIX: Final = "tc_"
#: Characters of the secret kept in clear, so that a listing can say which key is which.
SHOWN_CHARACTERS: Final = 10


@dataclass(frozen=True)
class NewKey:
    """A freshly generated key: the secret (to hand over once) and what the store keeps."""

    secret: str
    key_hash: str
    key_prefix: str


def generate_key() -> NewKey:
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    return NewKey(secret, hash_key(secret), secret[:SHOWN_CHARACTERS])


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's name, role and (for associations) fields."""

    name: str
    role: Role
    fields: frozenset[str] = frozenset()

    @classmethod
    def of(cls, key: KeyRecord) -> Principal:
        """Who calls with this key (by bearer header or through a session it started)."""
        return cls(key.name, Role(key.role), frozenset(key.fields))

    @property
    def field_scoped(self) -> bool:
        """Associations see and send only their own fields; the other roles see everything."""
        return self.role is Role.ASSOCIATION

    def may_see_field(self, field_code: str) -> bool:
        return not self.field_scoped or field_code in self.fields

    def may(self, roles: Collection[Role]) -> bool:
        return self.role in roles


#: Who may call what, by name; routes declare one of these and the authorisation test reads
#: them back from the route table.
READERS: Final = frozenset({Role.PLANNER, Role.ASSOCIATION, Role.ADMIN})
PLANNERS: Final = frozenset({Role.PLANNER, Role.ADMIN})
UPLOADERS: Final = frozenset({Role.ASSOCIATION, Role.ADMIN})
ADMINS: Final = frozenset({Role.ADMIN})


def issue_key(
    store: Store, name: str, role: Role | str, fields: Collection[str] = (), *, actor: str
) -> tuple[KeyRecord, str]:
    """Create a key in the store and return its record and the secret (shown only now)."""
    new = generate_key()
    record = store.create_key(
        name, Role(role), tuple(sorted(fields)), new.key_hash, new.key_prefix, actor=actor
    )
    return record, new.secret
