"""Money that matches the cash: every figure below was worked out by hand and written here.

Each case is a Reveni return laid over the golden cases' base return (one accepted
TEE-BLK-M at 24.00, refunded in full, GBP). Expected: the Khaos prices of each line,
what Khaos will credit for the whole return, whether Khaos may process it on import, and
the finance exception that explains a difference.
"""

from __future__ import annotations

import math
import random
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import msgspec
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from reveni_khaos_sandbox.reveni_data import ReturnGenerator
from target_khaos_control.khaos_documents import Price
from target_khaos_control.money import Pricing, paid_units
from target_khaos_control.reveni import Refund
from target_khaos_control.rules import Catalogue, load_ruleset
from target_khaos_control.rules.catalogue import StockItem
from target_khaos_control.rules.golden import build_return
from target_khaos_control.rules.refund_check import Paid, paid_total

ROOT = Path(__file__).resolve().parent.parent
DEMO, ACME = ROOT / "rules" / "demo", ROOT / "rules" / "acme"  # gross prices, net prices
BASE = yaml.safe_load((DEMO / "tests" / "base.yaml").read_text())


def refund(amount: str, currency: str = "GBP") -> dict[str, Any]:
    return {
        "id": f"r-{amount}",
        "amount": amount,
        "currency": currency,
        "status": "completed",
        "refunded_at": "2026-11-20T10:00:00Z",
    }


def draft(rules: Path, given: dict[str, Any], stock: list[StockItem] | None = None) -> Any:
    catalogue = Catalogue()
    for item in stock or []:
        catalogue.items[item.code] = item
    return load_ruleset(rules).draft(build_return(BASE, given), catalogue)


def prices(line: Any) -> list[tuple[int, str, str]]:
    sent = [(p.Quantity, msgspec.to_builtins(p.UnitPrice, builtin_types=(Decimal,))) for p in line.returned]
    return [(quantity, *next(iter((k, str(v)) for k, v in price.items()))) for quantity, price in sent]


def finance_messages(result: Any) -> list[str]:
    return [p.message for p in result.problems if p.owner == "finance"]


# --- pricing from what was paid -------------------------------------------------------


def test_a_discount_is_credited_as_paid_not_at_the_list_price() -> None:
    # 2 × 24.00 listed, 10% off: the customer paid 43.20, i.e. 21.60 a unit.
    result = draft(
        DEMO,
        {
            "total": "43.20",
            "return_items": [{"quantity": 2, "total": "43.20", "tax": "7.20"}],
            "refunds": [refund("43.20")],
        },
    )

    assert prices(result.lines[0]) == [(2, "Gross", "21.60")]
    assert result.credit == Decimal("43.20")
    assert result.process is True
    assert finance_messages(result) == []


def test_three_for_25_pounds_goes_as_two_at_8_33_and_one_at_8_34() -> None:
    # 25.00 / 3 = 8.333...: 2 × 8.33 + 1 × 8.34 = 25.00 to the penny.
    result = draft(
        DEMO,
        {
            "total": "25.00",
            "return_items": [{"quantity": 3, "price": "9.00", "total": "25.00", "tax": "4.17"}],
            "refunds": [refund("25.00")],
        },
    )

    assert prices(result.lines[0]) == [(2, "Gross", "8.33"), (1, "Gross", "8.34")]
    assert result.credit == Decimal("25.00")
    assert result.process is True


def test_net_prices_3_x_0_67_at_20_percent_credit_2_01_not_2_02() -> None:
    # One line of 3 at net 0.56: net 1.68 + VAT 0.34 = 2.02, a penny too much.
    # Split: 2 at 0.56 (net 1.12 + VAT 0.22 = 1.34) and 1 at 0.56 (0.56 + 0.11 = 0.67): 2.01.
    result = draft(
        ACME,
        {
            "total": "2.01",
            "return_items": [{"quantity": 3, "price": "0.67", "total": "2.01", "tax": "0.34"}],
            "refunds": [refund("2.01")],
        },
    )

    assert prices(result.lines[0]) == [(2, "Net", "0.56"), (1, "Net", "0.56")]
    assert result.credit == Decimal("2.01")
    assert result.process is True


def test_net_and_gross_prices_of_one_24_pound_tee() -> None:
    gross = draft(DEMO, {})
    net = draft(ACME, {})

    assert prices(gross.lines[0]) == [(1, "Gross", "24.00")]
    assert prices(net.lines[0]) == [(1, "Net", "20.00")]  # 20.00 + VAT 4.00 = 24.00
    assert gross.credit == net.credit == Decimal("24.00")


def test_a_penny_no_net_price_can_reach_is_named_for_finance() -> None:
    # 0.69 at 20%: net 0.57 gives 0.57 + 0.11 = 0.68, net 0.58 gives 0.58 + 0.12 = 0.70.
    result = draft(
        ACME,
        {
            "total": "0.69",
            "return_items": [{"price": "0.69", "total": "0.69", "tax": "0.12"}],
            "refunds": [refund("0.69")],
        },
    )

    assert result.credit in (Decimal("0.68"), Decimal("0.70"))
    assert {p.kind for p in result.problems} >= {"net_price_penny", "refund_credit_difference"}
    assert result.process is False


def test_paid_units_split_a_line_a_penny_apart() -> None:
    assert paid_units(Decimal("25.00"), 3) == [(2, Decimal("8.33")), (1, Decimal("8.34"))]
    assert paid_units(Decimal("10.00"), 4) == [(4, Decimal("2.50"))]
    assert paid_units(Decimal("0.05"), 7) == [(2, Decimal("0.00")), (5, Decimal("0.01"))]


def test_a_line_at_one_price_is_sent_in_pennies_whatever_its_total_was_written_as() -> None:
    # Given totals written without pennies or with a trailing nought: the unit price Khaos
    # is sent is written to the penny all the same ("60.00", not "60").
    assert [(units, str(unit)) for units, unit in paid_units(Decimal("60"), 1)] == [(1, "60.00")]
    assert [(units, str(unit)) for units, unit in paid_units(Decimal("60.000"), 3)] == [(3, "20.00")]


def test_nothing_paid_of_a_kind_adds_up_to_nought_in_pennies() -> None:
    assert str(paid_total([])) == "0.00"


def test_movements_add_up_in_order_from_nought_in_pennies_keeping_their_places() -> None:
    # Given refunds of 5, 2.500 and -1.5 (as Reveni wrote them): 0.00 + 5 = 5.00, + 2.500 = 7.500, - 1.5 = 6.000.
    movements: list[Paid] = [Refund(amount="5"), Refund(amount="2.500"), Refund(amount="-1.5")]
    assert str(paid_total(movements)) == "6.000"
    assert str(paid_total([Refund(amount="12")])) == "12.00"


# --- refund against credit -----------------------------------------------------------


def test_a_fee_kept_back_is_held_with_both_amounts_for_finance() -> None:
    # Goods 59.99, Reveni refunded 56.04: 3.95 kept back.
    result = draft(
        DEMO,
        {
            "total": "59.99",
            "return_items": [{"price": "59.99", "total": "59.99", "tax": "10.00"}],
            "refunds": [refund("56.04")],
        },
    )

    assert result.credit == Decimal("59.99")
    assert result.process is False
    [message] = finance_messages(result)
    assert "Reveni refunded 56.04 GBP; the credit asks Khaos for 59.99 GBP, a difference of -3.95 GBP" in message
    assert "kept 3.95 GBP back" in message


def test_a_fee_kept_back_travels_as_a_deduction_line_when_the_rules_name_one(tmp_path: Path) -> None:
    rules = (
        DEMO / "rules.yml"
    ).read_text() + '\ndeductions: {stock_code: RETURN-FEE, khaos_reason: "4", tax_code: "2"}\n'
    (tmp_path / "rules.yml").write_text(rules)

    result = draft(
        tmp_path,
        {
            "total": "59.99",
            "return_items": [{"price": "59.99", "total": "59.99", "tax": "10.00"}],
            "refunds": [refund("56.04")],
        },
    )

    item, deduction = result.lines
    assert prices(item) == [(1, "Gross", "59.99")]
    assert deduction.returned[0].SKU == "RETURN-FEE"
    assert prices(deduction) == [(1, "Gross", "-3.95")]
    assert result.credit == Decimal("56.04")  # 59.99 - 3.95
    assert result.process is True
    assert finance_messages(result) == []


def test_a_partial_refund_one_of_two_items_is_held() -> None:
    # Two tees at 24.00 refunded instantly (48.00); the warehouse rejected the second.
    result = draft(
        DEMO,
        {
            "total": "48.00",
            "instant": True,
            "status": "partly_accepted",
            "return_items": [{}, {"status": "rejected", "reject_reason": "used"}],
            "refunds": [refund("48.00")],
        },
    )

    assert result.credit == Decimal("24.00")
    assert result.process is False
    [message] = finance_messages(result)
    assert "a difference of 24.00 GBP" in message
    assert "paid 24.00 GBP more than the credit" in message


def test_a_euro_return_matches_in_euros() -> None:
    result = draft(
        DEMO,
        {
            "currency": "EUR",
            "total": "28.00",
            "customer": {"address": {"country_code": "IE"}},
            "return_items": [{"price": "28.00", "total": "28.00", "tax": "4.67"}],
            "refunds": [refund("28.00", "EUR")],
        },
    )

    assert result.currency == "EUR"
    assert result.credit == result.refunded == Decimal("28.00")
    assert result.process is True


def test_a_refund_in_another_currency_is_never_counted_as_the_return_s() -> None:
    result = draft(
        DEMO,
        {
            "currency": "EUR",
            "total": "28.00",
            "customer": {"address": {"country_code": "IE"}},
            "return_items": [{"price": "28.00", "total": "28.00", "tax": "4.67"}],
            "refunds": [refund("28.00", "GBP")],
        },
    )

    assert result.refunded == Decimal("0")
    assert result.process is False
    messages = finance_messages(result)
    assert any("Reveni paid 28.00 GBP (refund r-28.00) on a EUR return" in m for m in messages)


# --- exchanges -------------------------------------------------------------------------


def test_an_exchange_for_a_cheaper_item_credits_the_difference_reveni_refunded() -> None:
    # Hoodie 59.99 back, jeans at 49.99 out: Reveni refunds 10.00.
    exchange = {"sku": "JEAN-IND-32", "ean": "5056000000055", "quantity": 1, "price": "49.99"}
    result = draft(
        DEMO,
        {
            "type": "exchange",
            "total": "59.99",
            "refunds": [refund("10.00")],
            "return_items": [{"price": "59.99", "total": "59.99", "tax": "10.00", "exchange": exchange}],
        },
    )

    line = result.lines[0]
    assert prices(line) == [(1, "Gross", "59.99")]
    assert [(e.SKU, e.Quantity, e.UnitPrice) for e in line.exchanges] == [
        ("JEAN-IND-32", 1, Price(Gross=Decimal("49.99")))
    ]
    assert result.credit == Decimal("10.00")
    assert result.process is True


def test_an_exchange_for_a_dearer_item_balances_the_top_up_the_customer_paid() -> None:
    # A 24.00 tee back, a 30.00 item out, the customer paid 6.00: credit -6.00, refunded -6.00.
    exchange = {"sku": "TEE-BLK-L", "ean": "5056000000024", "quantity": 1, "price": "30.00"}
    top_up = {
        "id": "p-1",
        "amount": "6.00",
        "currency": "GBP",
        "status": "completed",
        "paid_at": "2026-11-20T10:00:00Z",
    }
    result = draft(
        DEMO,
        {"type": "exchange", "refunds": [], "exchange_payments": [top_up], "return_items": [{"exchange": exchange}]},
    )

    assert result.credit == Decimal("-6.00")
    assert result.refunded == Decimal("-6.00")
    assert result.process is True


def test_an_unpriced_exchange_with_money_moving_is_held() -> None:
    # Reveni sent no price for the new item: like for like (credit 0.00), but it refunded 10.00.
    exchange = {"sku": "TEE-BLK-L", "ean": "5056000000024", "quantity": 1}
    result = draft(DEMO, {"type": "exchange", "refunds": [refund("10.00")], "return_items": [{"exchange": exchange}]})

    assert result.credit == Decimal("0.00")
    assert result.process is False
    assert "a difference of 10.00 GBP" in finance_messages(result)[0]


# --- tax -------------------------------------------------------------------------------


def test_a_vat_rate_unlike_the_khaos_stock_item_s_holds_the_line_for_finance() -> None:
    zero_rated = StockItem("S1", "TEE-BLK-M", discontinued=False, tax_code="2")  # Khaos: 0.00%

    result = draft(DEMO, {}, stock=[zero_rated])

    assert result.lines == []
    [vat] = [p for p in result.problems if p.kind == "vat_rate_mismatch"]
    assert vat.owner == "finance"
    assert "Reveni charged VAT at 20.00% but Khaos's stock item is at 0.00% (tax code 2)" in vat.message


def test_net_prices_use_the_khaos_stock_item_s_rate() -> None:
    standard = StockItem("S1", "TEE-BLK-M", discontinued=False, tax_code="1")

    result = draft(ACME, {}, stock=[standard])

    assert prices(result.lines[0]) == [(1, "Net", "20.00")]


# --- the property ----------------------------------------------------------------------

amounts = st.integers(min_value=1, max_value=20_000).map(lambda pennies: Decimal(pennies) / 100)


@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(
        st.tuples(st.integers(1, 5), amounts, st.sampled_from(["accepted", "rejected", "pending"])),
        min_size=1,
        max_size=4,
    ),
    refund_share=st.sampled_from(["all", "accepted", "less", "none"]),
    net=st.booleans(),
)
def test_credits_equal_refunds_or_finance_holds_the_return(
    lines: list[tuple[int, Decimal, str]], refund_share: str, net: bool
) -> None:
    items = [
        {
            "id": f"item-{n}",
            "quantity": quantity,
            "price": str(total),
            "total": str(total),
            "status": verdict,
            "tax": str(Pricing(True).round(total / 6)),
        }  # 20% VAT inside the gross
        for n, (quantity, total, verdict) in enumerate(lines)
    ]
    paid = {
        "all": sum((total for _, total, _ in lines), Decimal(0)),
        "accepted": sum((total for _, total, verdict in lines if verdict == "accepted"), Decimal(0)),
        "less": sum((total for _, total, _ in lines), Decimal(0)) - Decimal("1.00"),
        "none": Decimal(0),
    }[refund_share]
    given_return = {"return_items": items, "refunds": [refund(str(paid))] if paid > 0 else []}

    result = draft(ACME if net else DEMO, given_return)

    if result.process:
        assert result.credit == result.refunded
    if result.credit != result.refunded:
        assert finance_messages(result), "a difference always reaches finance"
        assert result.process is False


def test_over_the_sandboxs_returns_a_credit_khaos_processes_is_always_the_refund() -> None:
    # 2,000 returns as the Reveni sandbox makes them: discounts, fees, partial refunds,
    # exchanges for dearer and cheaper items, GBP, EUR and USD.
    generator, ruleset = ReturnGenerator(seed=11, count=2000), load_ruleset(DEMO)
    processed, differences = 0, 0

    for i in range(2000):
        result = ruleset.draft(generator.build(i))
        if result.process:
            processed += 1
            assert result.credit == result.refunded, (result.return_id, result.currency)
        if result.credit != result.refunded and not result.hold_reason and not result.withdraw:
            differences += 1
            assert result.process is False
            assert any(p.kind == "refund_credit_difference" for p in result.problems), result.return_id

    assert processed > 300, "most settled returns are processed on import"
    assert differences > 100, "the sandbox's fees, partial refunds and top-ups are all caught"


# --- net prices: one or two net unit prices reach the paid total ----------------------


def test_net_prices_3_for_29_99_at_20_percent_go_as_one_line_at_8_33() -> None:
    # 3 × 8.33 = net 24.99, VAT 24.99 × 20% = 4.998 -> 5.00: 29.99. Before, the line was
    # first cut into gross units (1 at 9.99, 2 at 10.00) and no net price gives 9.99.
    result = draft(
        ACME,
        {
            "total": "29.99",
            "return_items": [{"quantity": 3, "price": "9.99", "total": "29.99", "tax": "5.00"}],
            "refunds": [refund("29.99")],
        },
    )

    assert prices(result.lines[0]) == [(3, "Net", "8.33")]
    assert result.credit == Decimal("29.99")
    assert "net_price_penny" not in {p.kind for p in result.problems}


def test_net_prices_11_for_99_99_at_20_percent_go_as_8_at_7_58_and_3_at_7_56() -> None:
    # No single price: 11 × 7.57 = 83.27 + 16.65 = 99.92, 11 × 7.58 = 83.38 + 16.68 = 100.06.
    # 8 × 7.58 = 60.64 + VAT 12.128 -> 12.13 = 72.77; 3 × 7.56 = 22.68 + 4.536 -> 4.54 = 27.22;
    # 72.77 + 27.22 = 99.99.
    result = draft(
        ACME,
        {
            "total": "99.99",
            "return_items": [{"quantity": 11, "price": "9.09", "total": "99.99", "tax": "16.67"}],
            "refunds": [refund("99.99")],
        },
    )

    assert prices(result.lines[0]) == [(8, "Net", "7.58"), (3, "Net", "7.56")]
    assert result.credit == Decimal("99.99")
    assert "net_price_penny" not in {p.kind for p in result.problems}


RATES = ("20", "5", "23", "21", "10", "7.7", "5.5", "0", "19")
WINDOW = 50  # the brute force tries every first price within 50 pennies of the mean unit net


def _gross(net_pennies: int, quantity: int, rate: Fraction) -> int:
    """Khaos's gross in pennies, worked out apart from money.py: net, plus VAT rounded half up."""
    net = net_pennies * quantity
    return net + math.floor(net * rate / 100 + Fraction(1, 2))


def _brute_force(quantity: int, total: int, rate: Fraction) -> bool:
    """Is there any split of the line into one or two net unit prices that reaches `total`?"""
    mean = round(total * 100 / (100 + rate) / quantity)
    prices_tried = range(max(mean - WINDOW, 0), mean + WINDOW + 1)
    if any(_gross(net, quantity, rate) == total for net in prices_tried):
        return True
    for first in range(1, quantity):
        second = {_gross(net, quantity - first, rate) for net in range(max(mean - 3 * WINDOW, 0), mean + 3 * WINDOW)}
        if any(total - _gross(net, first, rate) in second for net in prices_tried):
            return True
    return False


def test_net_prices_reach_the_total_whenever_any_split_into_two_prices_does() -> None:
    # Given 3,000 generated lines (1 to 12 units, 0.01 to 300.00, nine VAT rates), expect:
    # a split that adds up to the total exactly when the brute force finds one, in at most
    # two lines; otherwise one line, which the rules hold with `net_price_penny`.
    generated = random.Random(17)
    unreachable = 0
    for _ in range(3000):
        quantity, rate_text = generated.randint(1, 12), generated.choice(RATES)
        rate, total = Fraction(rate_text), generated.randint(quantity, 30000)
        parts = Pricing(gross_prices=False).price(Decimal(total) / 100, quantity, Decimal(rate_text))
        reached = sum((part.credit for part in parts), Decimal(0)) == Decimal(total) / 100
        exists = _brute_force(quantity, total, rate)

        assert reached == exists, f"{quantity} units for {total / 100} at {rate}%: {parts}"
        assert len(parts) <= 2
        assert sum(part.quantity for part in parts) == quantity
        for part in parts:
            assert _gross(int(part.price["Net"] * 100), part.quantity, rate) == part.credit * 100
        unreachable += not exists
    assert 0 < unreachable < 3000  # both kinds of line were tried
