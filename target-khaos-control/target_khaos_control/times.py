"""Time as the integration reads it: a moment without a zone is UTC.

Reveni sends UTC, the store writes UTC, and SQLite hands a stored moment back without its
zone; every place that compares, subtracts or shows a moment reads it through `utc`.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc(moment: datetime) -> datetime:
    """`moment` in UTC; one without a zone is taken to be UTC already. One that UTC cannot
    show (9999-12-31T23:00-05:00 is in the year 10000) stays in its own zone: it still
    compares and subtracts rightly, and nothing else about it is trusted."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return moment
