"""Catalog of priority fields and programmes (see :mod:`data.catalog.catalog`)."""

from data.catalog.catalog import (
    OTHER,
    REFERENCE_CATALOGS,
    Catalog,
    build_catalog,
    catalog_from_frames,
    load_default_catalog,
    load_reference_catalog,
)

__all__ = [
    "OTHER",
    "REFERENCE_CATALOGS",
    "Catalog",
    "build_catalog",
    "catalog_from_frames",
    "load_default_catalog",
    "load_reference_catalog",
]
