"""What Reveni paid out on a return, one definition for the rules, the reconciliation and
the close: completed refunds less completed top-ups, per currency. Figures worked by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from target_khaos_control.operations.reconciliation import compare
from target_khaos_control.refunded import paid_out, refunded
from target_khaos_control.rules import Catalogue, load_ruleset
from target_khaos_control.rules.golden import build_return

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "rules" / "demo"
BASE = yaml.safe_load((DEMO / "tests" / "base.yaml").read_text())


def movement(
    amount: Any, status: str = "completed", currency: str | None = "GBP", on: str = "2026-11-20"
) -> dict[str, Any]:
    return {
        "id": f"m-{amount}",
        "amount": amount,
        "currency": currency,
        "status": status,
        "refunded_at": f"{on}T10:00:00Z",
        "paid_at": f"{on}T10:00:00Z",
    }


def test_refunds_less_top_ups_per_currency_counting_only_completed_readable_amounts() -> None:
    record = {
        "refunds": [
            movement("30.00"),
            movement("12.5"),
            movement("9.99", status="pending"),
            movement("not money"),
            movement("5.00", currency="EUR"),
            movement("1.00", currency=None),  # names no currency: the return's
        ],
        "exchange_payments": [movement("4.50"), movement("2.00", status="failed")],
    }

    # GBP: 30.00 + 12.50 + 1.00 - 4.50 = 39.00; EUR: 5.00
    assert refunded(record, "GBP") == {"GBP": Decimal("39.00"), "EUR": Decimal("5.00")}


def test_a_period_counts_only_the_money_dated_in_it() -> None:
    record = {
        "refunds": [movement("30.00", on="2026-10-31"), movement("20.00", on="2026-11-02")],
        "exchange_payments": [movement("7.25", on="2026-11-30")],
    }

    in_november = refunded(record, "GBP", dated=lambda when: when.startswith("2026-11"))

    # 20.00 - 7.25 = 12.75; October's 30.00 is another period's
    assert in_november == {"GBP": Decimal("12.75")}


def test_a_refund_naming_no_currency_is_the_return_s_for_the_rules_and_the_reconciliation() -> None:
    # Given the base return (one TEE-BLK-M at 24.00) refunded by a refund Reveni sent with
    # a null currency, expect the rules and the reconciliation to both count 24.00 GBP.
    given = {"refunds": [movement("24.00", currency=None)]}
    record = build_return(BASE, given)

    draft = load_ruleset(DEMO).draft(record, Catalogue())
    line = compare(
        record, [], {}, now=datetime(2026, 12, 1, tzinfo=UTC), unconfirmed_after=timedelta(days=2), waiting=False
    )

    assert draft.refunded == Decimal("24.00")
    assert [p.kind for p in draft.problems] == []
    assert draft.process is True
    assert line is not None
    assert line.refunded == Decimal("24.00")
    assert line.refunded_elsewhere == {}


def test_paid_out_from_movements_already_read_gives_refunded_s_figures_and_currency_order() -> None:
    # The reconciliation reads each return's completed movements once and passes them on.
    refunds = [movement("7"), movement("3.25", currency="EUR"), movement("1.10", currency=None)]
    top_ups = [movement("2.5", currency="USD"), movement("0.35")]

    # GBP: 7 + 1.10 - 0.35 = 7.75; EUR: 3.25; USD: nothing refunded, 2.50 topped up: -2.50
    paid = paid_out(refunds, top_ups, "GBP")

    assert paid == {"GBP": Decimal("7.75"), "EUR": Decimal("3.25"), "USD": Decimal("-2.50")}
    assert list(paid) == ["GBP", "EUR", "USD"]  # in the order the currencies were first met
    assert str(paid["GBP"]) == "7.75"  # added up from 0.00: pennies shown
    assert str(paid["USD"]) == "-2.50"
    assert paid == refunded({"refunds": refunds, "exchange_payments": top_ups}, "GBP")
