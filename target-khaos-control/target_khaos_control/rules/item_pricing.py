"""What one return line is credited at: Khaos's VAT rate, Reveni's tax, exchange prices."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from target_khaos_control.documents import Draft, Problem
from target_khaos_control.exception_kinds import Kind
from target_khaos_control.money import Priced
from target_khaos_control.reveni import Exchange, Return, ReturnItem, required, sent
from target_khaos_control.rules.catalogue import Catalogue, StockItem

# Amounts a rule set keeps made (`RuleSet.amount`), and lines' expected taxes kept worked out: a
# shop's prices and rates are few; past this many, those kept are let go and made again.
AMOUNTS_KEPT = 4_096

if TYPE_CHECKING:
    from target_khaos_control.rules.engine import RuleSet


class ItemPricing:
    """The pricing side of one return's evaluation: rates, line tax and exchange prices."""

    rules: RuleSet
    record: Return
    catalogue: Catalogue
    draft: Draft
    tax_place: tuple[str | None, str | None] | None  # the return's country and currency, once read

    def _exchange_prices(
        self, item: ReturnItem, exchange: Exchange, swap_sku: str, rate: Decimal | None
    ) -> list[Priced]:
        """What the exchange item costs: Reveni's price for it, else like for like (the
        refund-against-credit check then catches a difference Reveni paid or charged)."""
        quantity = exchange.quantity or required(item.quantity, "quantity")
        total = Decimal(exchange.price) * quantity if exchange.price else Decimal(required(item.total, "total"))
        known = self.catalogue.current(swap_sku)
        swap_rate = self.rules.tax_code_rates.get(known.tax_code) if known and known.tax_code else None
        return self.rules.pricing.price(total, quantity, swap_rate if swap_rate is not None else rate)

    def _khaos_rate(
        self, sku: str, stock: StockItem | None, reveni: Decimal | None, problems: list[Problem]
    ) -> Decimal | None:
        """The VAT rate Khaos will put on the credit: its stock item's (`stock`, the
        catalogue's for `sku`), when Khaos has told us; else `reveni`, Reveni's rate."""
        if stock is None or not stock.tax_code:
            return reveni
        khaos = self.rules.tax_code_rates.get(stock.tax_code)
        if khaos is None:
            problems.append(
                Problem(
                    Kind.MISSING_TAX_CODE,
                    "",
                    f"{sku}: Khaos's stock item carries tax code {stock.tax_code!r}, which is not under "
                    "the rules' khaos.tax_codes",
                    part="khaos",
                )
            )
        elif reveni is not None and khaos != reveni:
            problems.append(
                Problem(
                    Kind.VAT_RATE_MISMATCH,
                    "",
                    f"{sku}: Reveni charged VAT at {reveni}% but Khaos's stock item is at {khaos}% "
                    f"(tax code {stock.tax_code}): the credit note's VAT would be wrong",
                )
            )
        return khaos

    def _note_lost_penny(self, item: ReturnItem, total: Decimal, credit: Decimal) -> None:
        """Khaos will credit `credit`, not the line's paid `total`: with net prices no unit
        price may give the exact gross (the caller compares the two)."""
        self.draft.problems.append(
            self.rules.problem(
                Kind.NET_PRICE_PENNY,
                f"{item.sku}: with net prices Khaos will credit {credit} for a line "
                f"the customer paid {total} for: no net unit price gives the exact gross",
                item.id,
            )
        )

    def _tax(
        self, item: ReturnItem, rate: Decimal | None, stock: StockItem | None, paid: Decimal | None
    ) -> Problem | None:
        """Reveni's rate (`rate`, None when it sent none) and line tax (of `paid`, the line's
        total, None when it sent none). Khaos takes VAT from
        its stock item (`stock`), never from the document: where Khaos has told us the item's
        rate, `_khaos_rate` compares the two; otherwise the rules' rate map stands in for it."""
        if rate is None:
            return Problem(Kind.MISSING_TAX_CODE, "", f"{item.sku}: Reveni sent no tax rate")
        if stock is not None and stock.tax_code:
            return self._line_tax(item, rate, paid)
        place = self.tax_place
        if place is None:  # the same for every item: read at the first that needs it (and fails there)
            address = required(self.record.customer, "customer").address
            place = self.tax_place = (sent(address.country_code) if address else None, sent(self.record.currency))
        country, currency = place
        for r in self.rules.tax_rules_by_rate.get(rate, ()):  # a loop, not any() of a generator: ~0.7 us less an item
            if (r.countries is None or country in r.countries) and (r.currencies is None or currency in r.currencies):
                return self._line_tax(item, rate, paid)
        return Problem(
            Kind.MISSING_TAX_CODE,
            "",
            f"{item.sku}: tax rate {rate}% ({country}, {currency}) has no Khaos tax code in the rules",
        )

    def _line_tax(self, item: ReturnItem, rate: Decimal, paid: Decimal | None) -> Problem | None:
        tax = sent(item.tax)
        if tax is not None:
            rules, total = self.rules, required(paid, "total")
            # Worked out once for each total and rate (made by `RuleSet.amount`: their hashes kept).
            known = rules.expected_taxes
            expected = known.get((total, rate))
            if expected is None:
                if len(known) >= AMOUNTS_KEPT:
                    known.clear()
                expected = known[total, rate] = rules.pricing.round(total * rate / (100 + rate))
            if abs(expected - rules.amount(tax)) > rules.tax_tolerance:
                return Problem(
                    Kind.VALUE_MISMATCH,
                    "",
                    f"{item.sku}: Reveni's tax {tax} is not {rate}% of {item.total} ({expected})",
                )
        return None
