"""Data layer: catalog, upload schemas and validation, file readers and the store.

Nothing in this package imports from the other Talentcast packages; everything above it
(features, models, forecasting, serving) reads data through :mod:`data.store`.
"""
