"""``/keys``: API keys created by the admin over HTTP, as ``talentcast keys`` does on the server.

Only the first admin key needs the server's command line; the planners' and associations' keys
of a new city are then created from anywhere the admin works. A secret is returned once, when
the key is created; the store keeps its hash. Every change is audited by the store.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, status
from pydantic import BaseModel, Field

from data.store import KeyRecord
from data.vocabulary import Role
from serving.api.deps import Allow, StoreDep
from serving.api.problems import JSON_BODY_ERRORS, problem
from serving.auth import ADMINS, Principal, issue_key

router = APIRouter(tags=["keys"])
Admin = Annotated[Principal, Depends(Allow(ADMINS))]
KeyName = Annotated[str, Path(min_length=1, max_length=100, description="The key's name.")]


class KeyIn(BaseModel):
    """A key to create: for whom, with which role and (associations only) which fields."""

    name: str = Field(min_length=1, max_length=100, examples=["cq_ic_association"])
    role: Role
    fields: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="Field codes of the catalog an association reports for (others: none).",
    )


class KeyOut(BaseModel):
    """A key as the store knows it (never its secret)."""

    name: str
    role: Role
    fields: list[str]
    key_prefix: str = Field(description="The first characters of the secret, to recognise it.")
    created_at: datetime
    created_by: str
    revoked_at: datetime | None

    @classmethod
    def of(cls, record: KeyRecord) -> KeyOut:
        return cls(
            name=record.name,
            role=record.role,
            fields=list(record.fields),
            key_prefix=record.key_prefix,
            created_at=record.created_at,
            created_by=record.created_by,
            revoked_at=record.revoked_at,
        )


class KeyCreated(BaseModel):
    """The new key and its secret: shown only in this answer."""

    key: KeyOut
    secret: str


@router.post(
    "/keys",
    response_model=KeyCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Create a key",
    responses={
        409: problem(
            "An active key has this name, or the role and fields do not fit (an association "
            "needs fields of the catalog, other roles none)."
        ),
        **JSON_BODY_ERRORS,
    },
)
def create_key(body: KeyIn, principal: Admin, store: StoreDep) -> KeyCreated:
    """Create a key; its secret is in this answer and nowhere else (give it to its holder)."""
    record, secret = issue_key(store, body.name, body.role, body.fields, actor=principal.name)
    return KeyCreated(key=KeyOut.of(record), secret=secret)


@router.get("/keys", response_model=list[KeyOut], summary="Keys")
def keys(principal: Admin, store: StoreDep, revoked: bool = False) -> list[KeyOut]:
    """Active keys in the order they were created (with ``revoked=true``, revoked ones too)."""
    return [KeyOut.of(record) for record in store.keys(include_revoked=revoked)]


@router.delete("/keys/{name}", response_model=KeyOut, summary="Revoke a key")
def revoke_key(name: KeyName, principal: Admin, store: StoreDep) -> KeyOut:
    """Revoke the active key called ``name`` (404 if there is none): it stops working now."""
    return KeyOut.of(store.revoke_key(name, actor=principal.name))  # UnknownKey → 404
