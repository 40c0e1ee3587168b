"""One reading of time: a moment without a zone is UTC (Reveni's, and SQLite's stored ones)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from target_khaos_control.times import utc


def test_a_moment_without_a_zone_is_utc() -> None:
    # given what SQLite hands back for a moment written as 2026-11-30 23:30 UTC
    assert utc(datetime(2026, 11, 30, 23, 30)) == datetime(2026, 11, 30, 23, 30, tzinfo=UTC)


def test_a_moment_with_a_zone_is_the_same_instant_in_utc() -> None:
    # given 1 December 00:30 in Madrid (UTC+1): 30 November 23:30 UTC, still November
    madrid = datetime(2026, 12, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))

    assert utc(madrid) == datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    assert utc(madrid).tzinfo is UTC
    assert utc(madrid).month == 11
