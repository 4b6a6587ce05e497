"""Ingestion: the one path by which files become stored observations.

``read -> validate -> store``, in that order, so that nothing touches the database before the
whole file is known to be good. The CLI and the HTTP upload endpoint both call
:func:`ingest_file`; they differ only in where the bytes come from and who the uploader is.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Final

import pandas as pd

from data.catalog import Catalog, build_catalog
from data.problems import Problem, UploadRejected
from data.readers import DEFAULT_MAX_BYTES, RawTable, read_table
from data.store import NoCatalog, Store, StoredUpload
from data.validation import ValidationContext, validate
from data.vocabulary import DEFAULT_CITY_REGION, Kind

SYSTEM_UPLOADER: Final = "system"


@dataclass(frozen=True)
class IngestOptions:
    """Deployment settings that shape validation (from the service settings)."""

    city_region: str = DEFAULT_CITY_REGION
    #: The regions rows may belong to (none: just ``city_region``); see ValidationContext.
    regions: tuple[str, ...] = ()
    max_bytes: int = DEFAULT_MAX_BYTES
    max_year: int | None = None
    #: Field codes the uploader may send rows for (None: any); see ValidationContext.
    allowed_fields: frozenset[str] | None = None

    def with_fields(self, fields: Collection[str]) -> IngestOptions:
        """The same options for an uploader limited to ``fields``."""
        return replace(self, allowed_fields=frozenset(fields))


def open_store(url: str, *, catalog: Catalog | None = None) -> Store:
    """Connect and migrate to the newest schema.

    An empty store stays empty: a city's first upload is its own catalog, not Tianjin's (whose
    fields, programmes and crosswalk weights it would otherwise inherit unseen). Only a caller
    that means a catalog passes one (the Tianjin demo), and it is loaded if the store has none.
    """
    store = Store.connect(url)
    store.upgrade()
    if catalog is not None:
        ensure_catalog(store, catalog)
    return store


def ensure_catalog(store: Store, catalog: Catalog) -> None:
    """Load ``catalog`` if the store has none yet (a store with a catalog keeps its own)."""
    try:
        store.catalog()
    except NoCatalog:
        store.add_catalog(catalog, uploader=SYSTEM_UPLOADER, filename="reference")


@dataclass(frozen=True)
class PreparedUpload:
    """A file read and validated, ready to store: what :func:`prepare_upload` hands over."""

    kind: Kind
    rows: pd.DataFrame
    file_format: str
    encoding: str | None


def prepare_upload(
    kind: Kind | str,
    content: bytes,
    *,
    catalog: Catalog,
    filename: str | None = None,
    options: IngestOptions | None = None,
) -> PreparedUpload:
    """Read and validate one file against ``catalog`` without touching the store (so that
    the server can run it in another process); raises
    :class:`~data.problems.UploadRejected` on any problem."""
    kind = _kind(kind)
    options = options or IngestOptions()
    table = read_table(content, filename, max_bytes=options.max_bytes)
    context = ValidationContext(
        catalog=catalog,
        city_region=options.city_region,
        regions=options.regions,
        max_year=options.max_year,
        allowed_fields=options.allowed_fields,
    )
    return PreparedUpload(kind, validate(table, kind, context), table.format.value, table.encoding)


def store_upload(
    store: Store, prepared: PreparedUpload, *, uploader: str, filename: str | None = None
) -> StoredUpload:
    """Store a prepared upload in one transaction (identical content: the earlier upload)."""
    return store.add_observations(
        prepared.kind,
        prepared.rows,
        uploader=uploader,
        filename=filename,
        file_format=prepared.file_format,
        encoding=prepared.encoding,
    )


def ingest_file(
    store: Store,
    kind: Kind | str,
    content: bytes,
    *,
    filename: str | None = None,
    uploader: str,
    options: IngestOptions | None = None,
) -> StoredUpload:
    """Validate and store one file; raises :class:`~data.problems.UploadRejected` on any problem.

    Identical content uploaded before returns the earlier upload with ``created=False``.
    """
    prepared = prepare_upload(
        kind, content, catalog=store.catalog(), filename=filename, options=options
    )
    return store_upload(store, prepared, uploader=uploader, filename=filename)


def ingest_catalog(
    store: Store,
    programmes: bytes,
    *,
    fields: bytes | None = None,
    uploader: str,
    filename: str | None = None,
    fields_filename: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> StoredUpload:
    """Replace the catalog with a new version (programmes file, optionally a new fields file).

    Without a fields file the current fields are kept. Stored observations are never changed:
    rows of programmes that the new catalog drops stay in the store's history.
    """
    programmes_name = filename or "programmes"
    fields_name = fields_filename or "fields"
    programmes_table = _read_named(programmes, programmes_name, max_bytes)
    if fields is None:
        try:
            current = store.catalog().fields
        except NoCatalog:
            raise UploadRejected(
                [replace(Problem.of(None, None, "catalog.no_fields"), file=fields_name)]
            ) from None
        fields_table = read_table(current.to_csv(index=False).encode(), "fields.csv")
    else:
        fields_table = _read_named(fields, fields_name, max_bytes)
    catalog = build_catalog(
        fields_table, programmes_table, fields_name=fields_name, programmes_name=programmes_name
    )
    return store.add_catalog(catalog, uploader=uploader, filename=filename)


def _read_named(content: bytes, name: str, max_bytes: int) -> RawTable:
    """Read one of several files of a request; its problems name the file."""
    try:
        return read_table(content, name, max_bytes=max_bytes)
    except UploadRejected as rejected:
        named = [replace(problem, file=name) for problem in rejected.problems]
        raise UploadRejected(named, rejected.total) from None


def _kind(kind: Kind | str) -> Kind:
    try:
        return Kind(kind)
    except ValueError:
        choices = ", ".join(k.value for k in Kind)
        raise ValueError(f"unknown kind {kind!r}; use one of {choices}") from None
