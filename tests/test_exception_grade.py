"""How urgent an exception is, and what a run counts: figures worked out by hand.

Given the details an exception carries, expect the money at stake a person would work out
(a difference, a refund or credit alone, a price times a quantity), and a severity graded
by that money and the days open, as docs/finance.md ("How urgent") says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from target_khaos_control.channel.dashboard_lists import inert
from target_khaos_control.exception_grade import age_days, grade, money_at_stake
from target_khaos_control.exception_kinds import Kind
from target_khaos_control.exception_log import ExceptionLog, Subject
from target_khaos_control.store import exceptions, open_store

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        ({"refunded": "30.00", "credited": "25.50"}, Decimal("4.50")),  # 30.00 - 25.50
        ({"refunded": "42.10"}, Decimal("42.10")),  # a refund with no credit note
        ({"credited": "19.99"}, Decimal("19.99")),  # a credit note with no refund
        ({"difference": "-5.75", "refunded": "0.00", "credited": "5.75"}, Decimal("5.75")),  # the difference, unsigned
        ({"price": "12.50", "quantity": 2}, Decimal("25.00")),  # 12.50 x 2
        ({"price": 9.99}, Decimal("9.99")),  # no quantity: one
        ({"sku": "TEE-RED-M"}, None),  # names no money
        ({"price": "twelve", "quantity": 2}, None),  # a price that is no number
        ({"refunded": "NaN"}, None),
        ({"price": "1e999999999", "quantity": "1e999999999"}, None),  # past any context: none, not a crash
        ({"refunded": "1e999999999", "credited": "-1e999999999"}, None),
    ],
)
def test_money_at_stake(details: dict[str, Any], expected: Decimal | None) -> None:
    assert money_at_stake(details) == expected


@pytest.mark.parametrize(
    ("kind", "stored", "at_stake", "age", "expected"),
    [
        ("refund_without_credit_note", "high", Decimal("100.00"), 0, "high"),  # 100 or more
        ("refund_without_credit_note", "high", Decimal("99.99"), 0, "medium"),  # 20 to 99.99
        ("refund_without_credit_note", "high", Decimal("20.00"), 0, "medium"),
        ("refund_without_credit_note", "high", Decimal("19.99"), 1, "low"),  # under 20, under 2 days
        ("refund_without_credit_note", "high", Decimal("19.99"), 2, "medium"),  # 2 days open
        ("refund_without_credit_note", "high", Decimal("0.01"), 7, "high"),  # a week open
        ("sku_not_found", "high", None, 0, "high"),  # no money: its kind's own
        ("khaos_push_rejected", "medium", None, 6, "medium"),
        ("khaos_push_rejected", "medium", None, 7, "high"),  # no money, a week open
        ("unknown_reason", "low", Decimal("500"), 30, "low"),  # the client's own severity stays
    ],
)
def test_grade(kind: str, stored: str, at_stake: Decimal | None, age: int, expected: str) -> None:
    assert grade(kind, stored, at_stake, age) == expected


def test_age_is_whole_days_since_first_seen_also_for_sqlites_times_without_a_zone() -> None:
    assert age_days(NOW - timedelta(days=2, hours=23), NOW) == 2
    assert age_days((NOW - timedelta(days=3)).replace(tzinfo=None), NOW) == 3


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+1", "'+1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("-2+3", "'-2+3"),
        ("\tTAB", "'\tTAB"),
        ("-5.75", "-5.75"),  # a negative amount stays a number
        (Decimal("-5.75"), "-5.75"),
        (3, "3"),
        ("TEE-RED-M", "TEE-RED-M"),
        (None, ""),
    ],
)
def test_a_csv_cell_never_starts_a_formula(cell: object, expected: str) -> None:
    assert inert(cell) == expected


def test_a_run_counts_the_exceptions_it_opened_reopened_and_resolved(tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    stored = {"sku_not_found:a:": "open", "sku_not_found:b:": "resolved", "sku_not_found:c:": "open"}
    row = {"kind": "sku_not_found", "owner": "warehouse", "return_id": "ret-1", "message": "m", "severity": "high"}
    with engine.begin() as conn:
        for key, status in stored.items():
            conn.execute(
                exceptions.insert().values(
                    trace_key=key, status=status, first_seen=NOW, last_seen=NOW, occurrences=1, **row
                )
            )
    log = ExceptionLog(stored, NOW + timedelta(hours=1))

    log.raise_exception(Kind.SKU_NOT_FOUND, Subject.of_return("b"), "m")  # resolved before, found again: reopened
    log.raise_exception(Kind.SKU_NOT_FOUND, Subject.of_return("d"), "m")  # new
    log.raise_exception(Kind.SKU_NOT_FOUND, Subject.of_return("c"), "m")  # open, seen again: not opened again
    log.gone("sku_not_found:a:")  # no longer found: resolved
    with engine.begin() as conn:
        log.write(conn)

    assert (log.opened, log.resolved) == (2, 1)
