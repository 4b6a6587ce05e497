"""The store (see :mod:`data.store.store`): SQLAlchemy Core tables, Alembic migrations."""

from data.store.access import AuditRecord, KeyRecord, UnknownKey
from data.store.leases import LeaseRecord
from data.store.replays import StoredReplay
from data.store.runs import ArtifactFile, RunRecord, UnknownArtifact, UnknownRun
from data.store.sessions import SessionRecord
from data.store.store import (
    NoCatalog,
    Store,
    StoredUpload,
    StoreError,
    UnknownUpload,
    UploadRecord,
    content_hash,
)
from data.store.tables import CATALOG_KIND, OUTPUT_SPECS, OUTPUT_TABLES, RunStatus

__all__ = [
    "CATALOG_KIND",
    "OUTPUT_SPECS",
    "OUTPUT_TABLES",
    "ArtifactFile",
    "AuditRecord",
    "KeyRecord",
    "LeaseRecord",
    "NoCatalog",
    "RunRecord",
    "RunStatus",
    "SessionRecord",
    "Store",
    "StoreError",
    "StoredReplay",
    "StoredUpload",
    "UnknownArtifact",
    "UnknownKey",
    "UnknownRun",
    "UnknownUpload",
    "UploadRecord",
    "content_hash",
]
