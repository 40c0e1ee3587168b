"""Which Reveni returns the tap can read well enough to page and bookmark by.

Reveni sorts its list by `updated_at`, so the tap pages and bookmarks by it. A return
whose `updated_at` is garbage, null, a number or missing, or that has no `id`, is still
passed on whole: the target holds it as an `invalid_record` exception for that return,
and the rest flow. Its garbled timestamp never moves the bookmark nor the paging; the
tap says so in its log, naming the return.
"""

from __future__ import annotations

import typing as t
from datetime import UTC, datetime


def timestamp_of(record: dict[str, t.Any]) -> datetime | None:
    """The return's `updated_at` as a moment, or None if it is no timestamp."""
    return moment(record.get("updated_at"))


def moment(value: t.Any) -> datetime | None:
    """A timestamp in UTC (naive means UTC), or None if `value` is none."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.upper())  # RFC 3339 allows a lower-case t and z
        if parsed.tzinfo is UTC:  # Reveni's own "...Z": asked of every record, so no conversion
            return parsed
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def unreadable(record: dict[str, t.Any], stamp: datetime | None) -> str | None:
    """Why the tap cannot page or bookmark by this return, or None; `stamp` is its
    `timestamp_of`, worked out once by the caller (it is asked of every record)."""
    return_id = record.get("id")
    if stamp is not None and isinstance(return_id, str) and return_id:
        return None
    problems = []
    if not isinstance(return_id, str) or not return_id:
        problems.append(f"its id is {return_id!r}")
    if stamp is None:
        problems.append(f"its updated_at is {record.get('updated_at', 'missing')!r}")
    return " and ".join(problems) or None
