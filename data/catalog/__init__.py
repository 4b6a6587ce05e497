"""Catalog of priority fields and programmes (see :mod:`data.catalog.catalog`)."""

from data.catalog.catalog import (
    OTHER,
    Catalog,
    build_catalog,
    catalog_from_frames,
    load_default_catalog,
)

__all__ = ["OTHER", "Catalog", "build_catalog", "catalog_from_frames", "load_default_catalog"]
