"""A Pricing keeps each line's parts once worked out (a shop's lines repeat): a line priced
after another of the same total, quantity and rate gets what pricing it afresh gives, in a
list of its own, and what is kept stays bounded."""

from __future__ import annotations

from decimal import Decimal

from target_khaos_control.money import PRICES_KEPT, Pricing


def test_a_line_priced_again_gets_the_parts_a_fresh_pricing_gives_in_a_list_of_its_own() -> None:
    for gross in (True, False):
        # given a line of 3 for 29.99 at 20% priced, and its list of parts changed by the caller
        pricing = Pricing(gross_prices=gross)
        first = pricing.price(Decimal("29.99"), 3, Decimal("20.00"))
        first.clear()

        # when equal lines come, their totals and rates written with other digits, and another quantity
        again = pricing.price(Decimal("29.990"), 3, Decimal("20"))
        other = pricing.price(Decimal("29.99"), 2, Decimal("20.00"))

        # expect each as a pricing that had priced nothing gives it, the caller's change not among them
        assert again == Pricing(gross_prices=gross).price(Decimal("29.990"), 3, Decimal("20")) != []
        assert again == Pricing(gross_prices=gross).price(Decimal("29.99"), 3, Decimal("20.00"))
        assert other == Pricing(gross_prices=gross).price(Decimal("29.99"), 2, Decimal("20.00"))


def test_what_a_pricing_keeps_stays_bounded() -> None:
    # given a pricing that prices more distinct lines than it keeps
    pricing = Pricing(gross_prices=True)
    for pennies in range(1, PRICES_KEPT + 10):
        pricing.price(Decimal(pennies) / 100, 1, None)

    # expect no more kept than its bound
    assert len(pricing._priced) <= PRICES_KEPT
