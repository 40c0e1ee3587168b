"""The rules' quicker ways with an item give what the longer ones gave: net prices credited at
the Khaos gross found while solving, credits added in sum()'s order, one SourceReference a
return (never another return's), a Line that cannot be changed once made."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st
from target_khaos_control.documents import Line
from target_khaos_control.khaos_documents import OrderRef, OrderReference
from target_khaos_control.money import Priced, Pricing, credited
from target_khaos_control.rules import load_ruleset
from target_khaos_control.rules.golden import build_return

from tests.servers import DEMO_RULES

BASE = yaml.safe_load((DEMO_RULES / "tests" / "base.yaml").read_text())


# --- net prices: the credit is the Khaos gross of each part ----------------------------------------


@given(
    pennies=st.integers(min_value=1, max_value=500_000),
    quantity=st.integers(min_value=1, max_value=12),
    rate=st.sampled_from(["20.00", "5.00", "0.00", "17.5"]),
    rounding=st.sampled_from(["half_up", "half_even"]),
)
@example(pennies=2999, quantity=3, rate="20.00", rounding="half_up")  # one line at 8.33
@example(pennies=2400, quantity=3, rate="20.00", rounding="half_up")  # split: 2 at 6.67, 1 at 6.66
def test_each_net_part_credits_what_khaos_posts_for_it(pennies: int, quantity: int, rate: str, rounding: str) -> None:
    pricing = Pricing(gross_prices=False, rounding=rounding)
    total = Decimal(pennies) / 100

    parts = pricing.price(total, quantity, Decimal(rate))

    for part in parts:  # worked out again the long way, digit for digit
        assert str(part.credit) == str(pricing.khaos_gross(part.price["Net"], part.quantity, Decimal(rate)))
    assert [(part.quantity, part.price["Net"]) for part in parts] == pricing.net_parts(quantity, total, Decimal(rate))


def test_three_for_24_pounds_at_20_percent_are_two_lines_whose_grosses_add_up() -> None:
    parts = Pricing(gross_prices=False).price(Decimal("24.00"), 3, Decimal("20.00"))

    # 2 at 6.67 net: 13.34 + 2.67 VAT = 16.01; 1 at 6.66 net: 6.66 + 1.33 VAT = 7.99; 16.01 + 7.99 = 24.00
    assert parts == [
        Priced(2, {"Net": Decimal("6.67")}, Decimal("16.01")),
        Priced(1, {"Net": Decimal("6.66")}, Decimal("7.99")),
    ]


def test_a_guess_of_minus_nothing_is_sent_as_nothing() -> None:
    # given: a free line under a rate that makes the net guess -0.00 (0 × 100 ÷ -50)
    parts = Pricing(gross_prices=False).price(Decimal("0.00"), 2, Decimal("-150"))

    # expect: the guess tried as 0.00 + 0.00, as before: Khaos is never sent "-0.00"
    assert [(part.quantity, str(part.price["Net"]), str(part.credit)) for part in parts] == [(2, "0.00", "0.00")]


# --- credits added in sum()'s order -------------------------------------------------------------------


def test_credits_add_up_from_zero_as_sum_did() -> None:
    minus_nothing = Priced(1, {"Gross": Decimal("-0.00")}, Decimal("-0.00"))
    two = [
        Priced(2, {"Gross": Decimal("8.33")}, Decimal("16.66")),
        Priced(1, {"Gross": Decimal("8.34")}, Decimal("8.34")),
    ]

    assert str(credited([])) == "0"
    assert str(credited([minus_nothing])) == "0.00"  # 0 + -0.00 is 0.00: no minus sign reaches a document
    assert str(credited(two)) == "25.00"


# --- one SourceReference a return ---------------------------------------------------------------------


def test_every_line_of_a_return_points_at_its_own_order_and_the_next_return_at_its_own() -> None:
    ruleset = load_ruleset(DEMO_RULES)
    two_items = [{"sku": "TEE-BLK-M"}, {"sku": "TEE-BLK-L", "return_reason": {"code": "faulty", "label": "Faulty"}}]
    first = build_return(BASE, {"id": "ret-1", "order": {"external_id": "5123400056"}, "return_items": two_items})
    second = build_return(BASE, {"id": "ret-2", "order": {"external_id": "5123400099"}})
    first["refunds"][0]["amount"] = "48.00"

    drafts = [ruleset.draft(first), ruleset.draft(second)]

    assert [[item.SourceReference for line in draft.lines for item in line.returned] for draft in drafts] == [
        [OrderReference(SourceOrder=OrderRef(AssociatedRef="5123400056"))] * 2,
        [OrderReference(SourceOrder=OrderRef(AssociatedRef="5123400099"))],
    ]


# --- a Line cannot be changed once made -------------------------------------------------------------


def test_a_line_is_read_and_compared_like_before_and_cannot_be_changed() -> None:
    line = Line("item-1", [], [], accepted=True, credit=Decimal("24.00"))

    assert repr(line) == (
        "Line(item_id='item-1', returned=[], exchanges=[], accepted=True, credit=Decimal('24.00'), disposition='')"
    )
    assert line == Line("item-1", [], [], True, Decimal("24.00"), "")
    with pytest.raises(AttributeError):
        line.credit = Decimal("0.00")  # type: ignore[misc]
    assert msgspec.structs.replace(line, disposition="restock").disposition == "restock"
