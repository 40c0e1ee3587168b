"""The record check's quick ways give what its full ways give. The contract checks seen at once
on the typed return (`validation._surely_kept`) pass only returns the full checks on the record
(`validation._contract`) find nothing in, so every finding stays, in the same words; a lone
surrogate is found whatever was checked before; a field left out or null reads None."""

from __future__ import annotations

import copy
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from target_khaos_control import reveni
from target_khaos_control.canonical import canonical_bytes, written
from target_khaos_control.reveni import Return, breaks, read, required, sent
from target_khaos_control.rules.validation import _contract, _surely_kept, checked

from tests.test_reveni_contract import JSON, VALID, _with

# Where the contract looks beyond the schema, and values that sit on each of its edges.
CHECKED_PATHS: list[tuple[str | int, ...]] = [
    ("id",),
    ("currency",),
    ("created_at",),
    ("updated_at",),
    *(("return_items", 0, name) for name in ("id", "quantity", "price", "total", "sku", "exchange")),
    *(("return_items", 0, "exchange", name) for name in ("sku", "quantity", "price")),
]
EDGES = [
    # timestamps: Reveni's form, `sinks._iso`'s, and the forms Python reads differently or not in UTC
    "2026-11-20T10:00:00Z", "2026-11-20T10:00:00.123456Z", "2026-11-20T10:00:00.000000Z",
    "2026-11-20t10:00:00z", "2026-11-20T10:00:00.5Z", "2026-11-20T10:00:00.1234567Z",
    "2026-11-20T10:00:00+01:00", "0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00",
    "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z", "2028-02-29T10:00:00Z",
    # amounts: the digits' limit, a sign, a point with nothing after, odd digits
    "0", "24.00", "-24.00", "-0", "9999999999999", "99999999999999", "9999999999999.99",
    "99999999999999.5", "0000000000000001", "1.", ".5", "1e3", "NaN", "１２",
    # ids, SKUs and currencies: control characters, spaces, commas, quotes, letters' cases
    "ret-1", "", " ", "\u3000", " ret-1", "ret-1 ", "r,1", 'r"1', "a\x00b", "a\x7fb", "a\x1cb", "a\tb",
    "a\u2028b", "a\x85b", "é", "GBP", "gbp", "GB", "GBPX", "ＧＢＰ",
    # a line break at the end, which the schema's patterns (`$`) let through
    "2026-11-20T10:00:00Z\n", "24.00\n", "9999999999999\n", "ret-1\n", "GBP\n", "TEE\n",
    # quantities
    0, 1, 100_000, 100_001, -1, True, 2**64,
]  # fmt: skip
VALUES = st.sampled_from(EDGES) | JSON


def _kept_at_once(record: dict[str, Any]) -> bool:
    typed = read(record)
    return isinstance(typed, Return) and _surely_kept(typed)


def test_a_usual_return_is_kept_at_once() -> None:
    # given: a return as Reveni sends it, and one with its moments as the target writes them (to the microsecond)
    later = _with(("updated_at",), "2026-11-20T10:00:00.250000Z")
    no_exchange = _with(("return_items", 0, "exchange"), None)

    assert _kept_at_once(copy.deepcopy(VALID))
    assert _kept_at_once(later)
    assert _kept_at_once(no_exchange)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(CHECKED_PATHS), VALUES), min_size=1, max_size=3))
@example([(("return_items", 0, "price"), "-24.00")])  # the schema reads it; the contract refuses a negative price
@example([(("return_items", 0, "total"), "99999999999999")])  # 14 digits: past the limit
@example([(("return_items", 0, "id"), "a\x7fb")])  # DEL: a control character, refused in an id
@example([(("created_at",), "0001-01-01T00:30:00+01:00")])  # no moment in UTC
@example([(("currency",), "gbp")])
@example([(("return_items", 0, "exchange", "quantity"), 0)])
@example([(("return_items", 0, "quantity"), 0)])
@example([(("return_items", 0, "sku"), " ")])
@example([(("return_items", 0, "exchange", "sku"), "\u3000")])  # all space, as strip() reads it
@example([(("return_items", 0, "exchange", "price"), "-1")])
def test_a_return_kept_at_once_is_one_the_full_checks_find_nothing_in(changes: list[tuple[Any, Any]]) -> None:
    record = copy.deepcopy(VALID)
    for path, value in changes:
        holder: Any = record
        for part in path[:-1]:
            holder = holder[part] if isinstance(holder, dict | list) else None
        if isinstance(holder, dict):
            holder[path[-1]] = value

    # expect: kept at once only if the full checks find nothing; the record check's answer is the full one's
    assert not _kept_at_once(record) or _contract(record) == []
    found = checked(record)
    typed = read(record)
    if isinstance(typed, Return):
        assert found == (_contract(record) or typed)


def test_a_lone_surrogate_is_found_in_a_return_checked_after_others() -> None:
    # given: a long return checked first (its bytes are written into the buffer the check keeps)
    long = _with(("customer", "last_name"), "x" * 5_000)
    assert breaks(long) is None
    lone = _with(("customer", "first_name"), "An\ud800a")

    # expect: the later return's lone surrogate named all the same, and a good one after it passes
    assert breaks(lone) == "customer.first_name holds a lone surrogate (half of a UTF-16 pair), which is not text"
    assert breaks(copy.deepcopy(VALID)) is None


def test_a_record_the_target_wrote_whole_is_checked_as_if_written_again() -> None:
    # given: a good return, and one with a lone surrogate in a name (no pattern reads it), each
    # written once as the target writes the copy it stores (canonical.written)
    good, lone = copy.deepcopy(VALID), _with(("customer", "first_name"), "An\ud800a")
    for record, whole in ((good, True), (lone, False)):
        canonical, written_whole = written(record)

        # expect: whole only without a lone surrogate; the stored bytes as ever; and the check,
        # told so, answers as the check that writes the record itself
        assert written_whole is whole
        assert canonical == canonical_bytes(record)
        assert checked(record, written=written_whole) == checked(record)
    assert checked(lone, written=False) == [
        "customer.first_name holds a lone surrogate (half of a UTF-16 pair), which is not text"
    ]


def test_a_long_returns_room_is_not_kept_for_the_run() -> None:
    # given: a return of 200 KB checked (past the room the check keeps)
    assert breaks(_with(("customer", "last_name"), "x" * 200_000)) is None

    # expect: its bytes not held on to once checked
    assert sys.getsizeof(reveni._SCRATCH) < reveni.KEPT_BYTES


def test_a_field_left_out_or_null_reads_none_and_any_other_value_as_sent() -> None:
    # given: a typed return with `instant` left out, `refund_method` null and falsy values sent
    typed = read(_with(("instant",), False) | {"total": "0", "refund_method": None})
    assert isinstance(typed, Return)
    left_out = read({k: v for k, v in VALID.items() if k != "instant"})
    assert isinstance(left_out, Return)

    # expect: None for the field left out and the null one; false and "0" as sent
    assert sent(left_out.instant) is None
    assert sent(typed.refund_method) is None
    assert sent(typed.instant) is False
    assert required(typed.total, "total") == "0"
    for missing, name in ((left_out.instant, "instant"), (typed.refund_method, "refund_method")):
        with pytest.raises(KeyError, match=name):
            required(missing, name)
