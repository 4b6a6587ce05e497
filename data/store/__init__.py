"""The store (see :mod:`data.store.store`): SQLAlchemy Core tables, Alembic migrations."""

from data.store.store import (
    Store,
    StoredUpload,
    StoreError,
    UnknownUpload,
    UploadRecord,
    content_hash,
)
from data.store.tables import CATALOG_KIND

__all__ = [
    "CATALOG_KIND",
    "Store",
    "StoreError",
    "StoredUpload",
    "UnknownUpload",
    "UploadRecord",
    "content_hash",
]
