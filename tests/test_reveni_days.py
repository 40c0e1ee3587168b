"""A timestamp of the right shape must still name a day its month has: the fast path that
passes days 01 to 28 without the calendar gives the same answer as the calendar."""

from __future__ import annotations

import copy

import pytest
from target_khaos_control.reveni import breaks

from tests.test_reveni_contract import VALID

NO_SUCH_DAY = [
    "2026-11-00T10:00:00Z",  # day 00 has the right shape: the fast path must not pass it
    "2026-02-29T10:00:00Z",  # not a leap year
    "2026-04-31T10:00:00Z",
    "2100-02-29T10:00:00Z",  # a century not divisible by 400
    "2026-12-32T10:00:00Z",
    "0000-01-15T10:00:00Z",  # year 0 has no days: a day under 29 must not pass it either
]
REAL_DAYS = ["2026-02-28T10:00:00Z", "2028-02-29T10:00:00Z", "2000-02-29T10:00:00Z", "2026-12-31T23:59:59Z"]


@pytest.mark.parametrize("stamp", NO_SUCH_DAY)
def test_a_day_its_month_lacks_is_named_on_the_field_it_is_in(stamp: str) -> None:
    given = copy.deepcopy(VALID)
    given["updated_at"] = stamp
    assert breaks(given) == f"updated_at is {stamp!r}: not a date (no such day)"


@pytest.mark.parametrize("stamp", REAL_DAYS)
def test_a_real_day_reads(stamp: str) -> None:
    given = copy.deepcopy(VALID)
    given["updated_at"] = stamp
    assert breaks(given) is None


def test_a_bad_day_in_a_later_refund_names_that_refund() -> None:
    given = copy.deepcopy(VALID)
    refund = copy.deepcopy(given["refunds"][0])
    refund["refunded_at"] = "2026-06-31T09:00:00Z"
    given["refunds"].append(refund)
    assert breaks(given) == "refunds[1].refunded_at is '2026-06-31T09:00:00Z': not a date (no such day)"
