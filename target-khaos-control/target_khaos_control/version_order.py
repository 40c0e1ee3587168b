"""Which version of a Reveni return is the later, and whether its status went backwards.

Reveni may send versions of a return out of order, or send one whose status goes back
down (accepted, then in progress); `publishing` applies a version only when it is the
later one and its status has not gone back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from target_khaos_control.times import utc

# How far a return has come; a version that goes back down is questioned, not applied.
# `cancelled` is not on the ladder: Reveni may cancel at any point (a withdrawal).
PROGRESS = {
    "in_progress": 0,
    "shipped": 1,
    "received": 2,
    "for_review": 3,
    "accepted": 4,
    "partly_accepted": 4,
    "rejected": 4,
}


class Version(NamedTuple):  # made for each return of a batch: a frozen dataclass cost 3x to make
    """A version of a return as the ordering sees it: its `updated_at` (None when it
    cannot be read) and its Reveni status."""

    updated_at: datetime | None
    status: str


def read_moment(value: Any) -> datetime | None:
    """Reveni's `updated_at` as a moment in UTC; None when it cannot be read."""
    try:
        read = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return utc(read)


def older(incoming: Version, latest: Version) -> bool:
    """`incoming` is known to be older than `latest`."""
    return incoming.updated_at is not None and latest.updated_at is not None and incoming.updated_at < latest.updated_at


def backwards(was: str, now: str) -> bool:
    """The status went back down the ladder (cancelled and unknown statuses never do)."""
    return was in PROGRESS and now in PROGRESS and PROGRESS[now] < PROGRESS[was]
