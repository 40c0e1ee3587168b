"""Time as the integration reads it: a moment without a zone is UTC.

Reveni sends UTC, the store writes UTC, and SQLite hands a stored moment back without its
zone; every place that compares, subtracts or shows a moment reads it through `utc`.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc(moment: datetime) -> datetime:
    """`moment` in UTC; one without a zone is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
