"""The target's reading of Reveni's timestamps: UTC with a `Z`, to the microsecond; one
already written that way is kept as sent without being parsed, and gives the same as
parsing it would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from target_khaos_control.sinks import NORMAL, _iso, _kept_as_sent

EAST = timezone(timedelta(hours=1))


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("2026-09-21T00:02:22Z", "2026-09-21T00:02:22Z"),  # as Reveni writes it
        ("2026-09-21T00:02:22.500000Z", "2026-09-21T00:02:22.500000Z"),
        ("2026-09-21T00:02:22.000000Z", "2026-09-21T00:02:22Z"),  # no microseconds: to the second
        ("2026-09-21T00:02:22.5Z", "2026-09-21T00:02:22.500000Z"),
        ("2026-09-21t00:02:22z", "2026-09-21T00:02:22Z"),  # RFC 3339 allows lower case
        ("2026-09-21T01:02:22+01:00", "2026-09-21T00:02:22Z"),
        ("2026-02-30T00:00:00Z", "2026-02-30T00:00:00Z"),  # no such day: as sent, for the check to name
        ("2026-09-21T00:02:22", "2026-09-21T00:02:22"),  # no offset: as sent
        ("yesterday", "yesterday"),
    ],
)
def test_a_timestamp_is_kept_in_utc_with_a_z(sent: str, kept: str) -> None:
    assert _iso(sent) == kept


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)))
def test_a_moment_written_as_the_target_writes_it_comes_back_unchanged(moment: datetime) -> None:
    # given a moment written to the second, or to a microsecond that is not zero
    written = moment.replace(tzinfo=None).isoformat(timespec="microseconds" if moment.microsecond else "seconds") + "Z"
    # expect the fast path to take it, and to give what parsing gives
    assert NORMAL.match(written)
    assert _iso(written) == written
    # and the same moment written an hour east of UTC comes to the same text the slow way
    assert _iso(moment.astimezone(EAST).isoformat()) == written


# Text of Reveni's timestamp's shape (20 characters, T and Z in their places), whatever else it holds.
REVENIS_SHAPE = st.tuples(st.text(min_size=10, max_size=10), st.text(min_size=8, max_size=8)).map(
    lambda parts: f"{parts[0]}T{parts[1]}Z"
)


@given(REVENIS_SHAPE | st.sampled_from(["2026-09-21T00:02:22Z", "2026-02-30T00:00:00Z", "2026-13-21T00:02:22Z"]))
def test_text_kept_as_sent_by_its_shape_alone_is_text_iso_gives_back(sent: str) -> None:
    # given text of Reveni's timestamp's shape: a moment, a day no month has, or no timestamp at all
    assert _kept_as_sent(sent)
    # expect what reading it would give: the same text
    assert _iso(sent) == sent


@pytest.mark.parametrize(
    "sent",
    [
        "2026-09-21t00:02:22z",
        "2026-09-21t00:02:22Z",
        "2026-09-21T00:02:22z",
        "2026-09-21T00:02:22.5Z",
        "2026-09-21T01:02:22+01:00",
    ],
)
def test_a_timestamp_of_another_shape_is_read(sent: str) -> None:
    assert not _kept_as_sent(sent)
    assert _iso(sent) != sent
