"""What Khaos will credit for a line, priced from what the customer paid.

Khaos credits `UnitPrice` × `Quantity` for each item and takes VAT from its own stock
item. With gross prices the gross is what we send. With net prices Khaos adds VAT per
line: net = round(unit net × quantity), gross = net + round(net × rate / 100) (our model
of Khaos; khaos-sandbox posts credit notes the same way). So a price is derived here, and
the credit it will produce is computed here, once, for the rules and the checks.

A Reveni line's price is what was paid: `total` ÷ `quantity`, never the list `price`.
Where that is not a whole penny the line is split into units a penny apart (3 for 25.00:
2 at 8.33 and 1 at 8.34), so Σ UnitPrice × Quantity equals the line total to the penny.
With net prices the whole line is priced at once: one net unit price, else two whose
Khaos grosses add up to the line total (3 for 29.99 at 20%: 3 at 8.33, one line).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

import msgspec

PENNY = Decimal("0.01")
_NOTHING = Decimal(0)  # what an empty line credits (Decimal is immutable: one is enough)
ROUNDING = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN}
SPLIT_PENNIES = 5  # how far from the mean unit net a two-line split is searched
PRICES_KEPT = 4_096  # lines' parts a Pricing keeps worked out (`Pricing.price`): a shop's lines repeat


# Made for each part of each line: a frozen Struct is quicker to make than a NamedTuple or a dataclass.
class Priced(msgspec.Struct, frozen=True):
    """Some units of one line at one Khaos price, and what Khaos will credit for them."""

    quantity: int
    price: dict[str, Decimal]  # a Khaos Price: {"Gross": ...} or {"Net": ...}
    credit: Decimal  # gross, as Khaos will post it


@dataclass(frozen=True)
class Pricing:
    """How a client's Khaos prices lines (gross or net unit prices) and rounds them to pennies."""

    gross_prices: bool
    rounding: str = "half_up"  # how Khaos rounds a line's net and VAT to pennies
    # `rounding` as the decimal module names it, looked up once: each line rounds several times
    _mode: str = field(init=False, repr=False, compare=False)
    # Each line's parts by its total, quantity and rate (`price`): a shop's lines repeat, and a
    # Priced is never changed. At most PRICES_KEPT are kept, then they are worked out again.
    # The rules' totals and rates are Decimals made once (`RuleSet.amount`), their hashes kept:
    # hashing two new Decimals costs more (~0.9 us) than pricing the line (~0.8 us).
    _priced: dict[tuple[Decimal, int, Decimal | None], tuple[Priced, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        """Look the rounding up once (an unknown one fails where it is used, as before)."""
        object.__setattr__(self, "_mode", ROUNDING.get(self.rounding, ""))

    def round(self, amount: Decimal) -> Decimal:
        """An amount to the penny, rounded as this client's Khaos rounds."""
        return amount.quantize(PENNY, rounding=self._mode or ROUNDING[self.rounding])

    def khaos_gross(self, unit_net: Decimal, quantity: int, rate: Decimal) -> Decimal:
        """The gross Khaos posts for a line sent with a net unit price."""
        net = self.round(unit_net * quantity)
        return net + self.round(net * rate / 100)

    def price(self, total: Decimal, quantity: int, rate: Decimal | None) -> list[Priced]:
        """Khaos prices for a paid line; Σ credit equals `total` whenever pennies allow it.

        With net prices `rate` is the VAT rate Khaos will apply (its stock item's rate)."""
        # Equal totals and rates price alike whatever their digits (the parts are worked out in
        # pennies): the parts of one worked out once serve the next (a new list each time).
        key = (total, quantity, rate)
        known = self._priced.get(key)
        if known is None:
            if len(self._priced) >= PRICES_KEPT:
                self._priced.clear()
            known = self._priced[key] = tuple(self._parts(total, quantity, rate))
        return list(known)

    def _parts(self, total: Decimal, quantity: int, rate: Decimal | None) -> list[Priced]:
        if self.gross_prices:
            parts = []
            for units, unit in paid_units(total, quantity):  # a loop: no comprehension's function a line
                parts.append(Priced(units, {"Gross": unit}, unit * units))
            return parts
        if rate is None:
            msg = "a net price needs the VAT rate Khaos will apply"
            raise ValueError(msg)
        paid_units(total, quantity)  # the same checks of the quantity and the pennies
        return [Priced(count, {"Net": net}, credit) for count, net, credit in self._net_lines(quantity, total, rate)]

    def net_parts(self, quantity: int, gross: Decimal, rate: Decimal) -> list[tuple[int, Decimal]]:
        """Unit nets whose Khaos gross adds up to `gross`: one line if one price reaches it,
        else the first of all splits into two lines that does, else the nearest single line
        (the caller sees the gap).

        The search is small: a split's first price is tried within SPLIT_PENNIES of the
        line's mean unit net, for every size of the first line, and the second line's price
        is then solved exactly. A wider window finds nothing more (tests/test_money.py
        compares it with a brute force over a hundred pennies either side)."""
        return [(count, net) for count, net, _ in self._net_lines(quantity, gross, rate)]

    def _net_lines(self, quantity: int, gross: Decimal, rate: Decimal) -> list[tuple[int, Decimal, Decimal]]:
        """`net_parts`, each with the Khaos gross worked out on the way (not worked out again)."""
        whole = self._solve(quantity, gross, rate)
        if whole is not None:
            return [(quantity, *whole)]
        mean = self.round(gross * 100 / (100 + rate) / quantity)
        for step in sorted(range(-SPLIT_PENNIES, SPLIT_PENNIES + 1), key=lambda step: (abs(step), step)):
            net = mean + PENNY * step
            for first in range(quantity - 1, 0, -1):
                first_gross = self.khaos_gross(net, first, rate)
                rest = self._solve(quantity - first, gross - first_gross, rate)
                if rest is not None:
                    return [(first, net, first_gross), (quantity - first, *rest)]
        nearest = min(
            self._candidates(gross, quantity, rate), key=lambda net: abs(self.khaos_gross(net, quantity, rate) - gross)
        )
        return [(quantity, nearest, self.khaos_gross(nearest, quantity, rate))]

    def _solve(self, quantity: int, gross: Decimal, rate: Decimal) -> tuple[Decimal, Decimal] | None:
        """The unit net of one line whose Khaos gross is exactly `gross`, if there is one, and
        that gross: it rises by at least a penny a penny of net, so it lies within a penny of the guess."""
        for net in self._candidates(gross, quantity, rate):
            found = self.khaos_gross(net, quantity, rate)
            if found == gross:
                return net, found
        return None

    def _candidates(self, gross: Decimal, quantity: int, rate: Decimal) -> Iterator[Decimal]:
        """The guess, then a penny and two either side: made as tried (the guess mostly fits)."""
        guess = self.round(gross * 100 / (100 + rate) / quantity)
        for step in (0, -1, 1, -2, 2):  # the guess too plus 0.00: a -0.00 guess is tried as 0.00
            yield guess + PENNY * step


def paid_units(total: Decimal, quantity: int) -> list[tuple[int, Decimal]]:
    """(units, unit price) parts of a paid line total, adding up to it to the penny."""
    if quantity <= 0:
        msg = f"quantity {quantity} is not a number of units"
        raise ValueError(msg)
    pennies = total / PENNY
    if pennies != pennies.to_integral_value():
        msg = f"amount {total} is not a whole number of pennies"
        raise ValueError(msg)
    base, extra = divmod(int(pennies), quantity)
    if not extra:  # most lines: every unit at one price
        return [(quantity, base * PENNY)]
    parts = [(quantity - extra, base * PENNY), (extra, (base + 1) * PENNY)]
    return [(units, unit) for units, unit in parts if units > 0]


def credited(parts: list[Priced]) -> Decimal:
    """What Khaos will credit for all these priced parts of a line."""
    total = _NOTHING  # added in sum()'s order from Decimal(0), without its generator: one per line
    for part in parts:
        total += part.credit
    return total
