"""Vintages: which upload ended what the store knew about a year.

A backtest that replays the forecast from the end of year ``c`` should see the store as it was
then, not today's revised values and catalog. Uploads carry no calendar date of the data they
describe, but their observations do (the enrollment, graduates and outcomes year, a hiring
period's year, a survey's year), and upload ids only grow. So the *vintage* of ``c`` is the
newest upload ``w`` such that no upload with id ≤ ``w`` holds an observation dated after ``c``:
reading the store as of ``w`` gives everything known at the end of ``c`` and nothing later,
including the catalog version in force then.

One query answers it on either backend: the smallest upload id holding an observation dated
after ``c``, per observation table (an index range scan: each table's key index starts with its
date column), then the newest upload below that.
"""

from __future__ import annotations

import sqlalchemy as sa

from data.store.tables import observations, uploads
from data.vocabulary import Kind


def dated_after(kind: Kind, table: sa.Table, year: int) -> sa.ColumnElement[bool]:
    """Rows of ``table`` (observations of ``kind``) dated after ``year``."""
    if kind is Kind.HIRING:
        # Periods are "2024", "2024-Q2" or "2024-05": text order is year order, and a period
        # of year y+1 or later sorts at or after "y+1" (this keeps the key index usable).
        return table.c.period >= str(year + 1)
    if kind is Kind.DEMAND_SURVEY:
        return table.c.survey_year > year
    return table.c.year > year


def vintage_query(year: int, as_of: int | None) -> sa.Select[tuple[int | None]]:
    """The id of the vintage of ``year`` among uploads up to ``as_of`` (NULL if none)."""
    firsts = [
        sa.select(sa.func.min(table.c.upload_id).label("first")).where(
            dated_after(kind, table, year)
        )
        for kind, table in observations.items()
    ]
    union = sa.union_all(*firsts).subquery()
    first_later = sa.select(sa.func.min(union.c.first)).scalar_subquery()
    query = sa.select(sa.func.max(uploads.c.id)).where(
        sa.or_(first_later.is_(None), uploads.c.id < first_later)
    )
    if as_of is not None:
        query = query.where(uploads.c.id <= as_of)
    return query
