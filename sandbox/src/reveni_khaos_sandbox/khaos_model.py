"""The in-memory Khaos Control a channel talks to, and what a Khaos user does with it:
`Khaos` holds the master data, every CustomerReturn pulled and every credit note posted,
and is the one object the sandbox's server, CLI and tests hold. It renames stock codes
as a user would, imports a pulled return (checked by `khaos_import`, recorded here), and
processes a Sales Return as the warehouse would: post a credit note and move stock by
each reason's processing type. Its records are in `khaos_records`; nothing here talks
to the network.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from reveni_khaos_sandbox.khaos_import import API_VERSION, MISSING_REF, asks_to_process, associated_ref, check_return
from reveni_khaos_sandbox.khaos_records import (
    Attempt,
    Conflict,
    CreditNote,
    CreditNoteLine,
    Customer,
    ExchangeLine,
    Invalid,
    NotFound,
    OrderLine,
    Outcome,
    PulledReturn,
    ReturnLine,
    ReturnReason,
    SalesOrder,
    Site,
    StockItem,
    TaxRate,
)

PENNY = Decimal("0.01")


def pennies(amount: Decimal) -> Decimal:
    return amount.quantize(PENNY, rounding=ROUND_HALF_UP)


class Khaos:
    """One Khaos Control: master data that can be swapped, and what has been pulled and posted."""

    def __init__(
        self,
        *,
        customers: Iterable[Customer],
        stock: Iterable[StockItem],
        orders: Iterable[SalesOrder],
        reasons: Iterable[ReturnReason],
        tax_rates: Iterable[TaxRate],
        sites: Iterable[Site],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.tax_rates = {rate.tax_id: rate for rate in tax_rates}
        self.sites = {site.site_id: site for site in sites}
        self.clock = clock
        # Set up in Khaos by a user; the docs say a return's must exist (README L449).
        self.sales_sources: dict[str, str] = {"1": "REVENI", "2": "WEB"}  # ID -> Name
        self.brands: dict[str, str] = {"1": "MAIN"}
        self.source_reference_form = "SourceReference/SourceOrder"  # the one form this Khaos reads
        self.pulled: dict[str, PulledReturn] = {}
        self.credit_notes: list[CreditNote] = []
        # (SOrderID, StockID) -> quantity imported, so no later return claims more than was sold
        self.returned: Counter[tuple[str, str]] = Counter()
        self.replace(customers=customers, stock=stock, orders=orders, reasons=reasons)

    def replace(
        self,
        *,
        customers: Iterable[Customer] | None = None,
        stock: Iterable[StockItem] | None = None,
        orders: Iterable[SalesOrder] | None = None,
        reasons: Iterable[ReturnReason] | None = None,
    ) -> None:
        """Swap in new master data; what was imported stays."""
        if customers is not None:
            self.customers = {customer.urn: customer for customer in customers}
        if stock is not None:
            self.stock = {item.stock_id: item for item in stock}
        if orders is not None:
            self.orders = {order.order_id: order for order in orders}
            self._orders_by = {
                "SOrderID": self.orders,
                "SOrderCode": {order.code: order for order in self.orders.values()},
                "AssociatedRef": {order.associated_ref: order for order in self.orders.values()},
                "SOrderItemID": {line.item_id: order for order in self.orders.values() for line in order.lines},
            }
        if reasons is not None:
            self.reasons = list(reasons)

    # --- stock -----------------------------------------------------------------------

    def stock_item(self, stock_id: str) -> StockItem:
        item = self.stock.get(stock_id)
        if item is None:
            raise NotFound(f"Stock item {stock_id!r} not found")
        return item

    def rename(self, stock_id: str, new_code: str) -> StockItem:
        """Change a stock code as a Khaos user would: the old code goes into history."""
        item = self.stock_item(stock_id)
        if new_code == item.stock_code:
            raise Invalid(f"stock_code: {new_code!r} is already the stock code of stock item {stock_id}")
        clash = next((other for other in self.stock.values() if other.stock_code == new_code), None)
        if clash is not None:
            raise Conflict(f"Stock code {new_code!r} is already used by stock item {clash.stock_id}")
        item.history.append(item.stock_code)
        item.stock_code = new_code
        return item

    def find_stock(self, sku: str, mappings: list[tuple[str, str]]) -> StockItem | None:
        """Try each (mapping type, barcode type) in order; an old code of a renamed item
        is no stock code any more, so it never resolves by StockCode."""
        for kind, barcode_type in mappings:
            kinds = ("StockCode", "OtherRef", "Barcode") if kind == "Automatic" else (kind,)
            for one in kinds:
                for item in self.stock.values():
                    if _matches(item, one, sku, barcode_type):
                        return item
        return None

    def order_by(self, key: str, value: str) -> tuple[SalesOrder | None, OrderLine | None]:
        """The sales order a source reference names by `key`; also its line when that is SOrderItemID."""
        order = self._orders_by[key].get(value)
        if key == "SOrderItemID" and order is not None:
            return order, next(line for line in order.lines if line.item_id == value)
        return order, None

    # --- import ----------------------------------------------------------------------

    def import_return(
        self, document: Any, *, api_version: Any = API_VERSION, via: str = "pull", fmt: str = "JSON"
    ) -> Outcome:
        """Check one pulled CustomerReturn (as JSON or XML) and import it, or record every reason it fails."""
        now = self.clock()
        ref = associated_ref(document)
        key = ref or MISSING_REF
        record = self.pulled.get(key)
        if record is not None and record.sales_return is not None:
            # Already a Sales Return: what came again changes nothing.
            reasons = [f"Duplicate AssociatedRef {ref!r}"]
            record.attempts.append(Attempt(now, via, "duplicate", tuple(reasons)))
            return Outcome(key, reasons)
        if isinstance(document, dict):
            reasons, sales_return = check_return(self, document, api_version, ref, now, typed=fmt == "JSON")
        else:
            reasons, sales_return, document = ["A CustomerReturn must be an object"], None, {"received": document}
        if record is None:
            record = self.pulled[key] = PulledReturn(key, document, now, [])
        record.document = document
        record.pulled_at, record.reasons, record.sales_return = now, reasons, sales_return
        record.attempts.append(Attempt(now, via, "failed" if reasons else "imported", tuple(reasons)))
        outcome = Outcome(key, reasons, sales_return)
        if sales_return is None:
            return outcome
        for line in sales_return.lines:
            if line.order is not None:
                self.returned[line.order.order_id, line.stock_id] += line.quantity
        if asks_to_process(document):
            outcome.credit_note, outcome.moved_stock_ids = self.process(key)
        return outcome

    # --- processing ------------------------------------------------------------------

    def process(self, ref: str) -> tuple[CreditNote, set[str]]:
        """Process a Sales Return as the warehouse would: post its credit note and move
        stock by each line's reason. Answers the note and the stock IDs whose levels moved."""
        record = self.pulled.get(ref)
        if record is None:
            raise NotFound(f"No return {ref!r} has been pulled")
        sales_return = record.sales_return
        if sales_return is None:
            raise Conflict(f"Return {ref!r} failed to import; fix it and retry the import first")
        if sales_return.credit_note is not None:
            raise Conflict("Return has already been processed")
        moved: set[str] = set()
        for line in sales_return.lines:
            if line.reason.site_id is not None:
                levels = self.stock[line.stock_id].available
                levels[line.reason.site_id] = levels.get(line.reason.site_id, 0) + line.quantity
                moved.add(line.stock_id)
        codes = dict.fromkeys(line.order.code for line in sales_return.lines if line.order)
        note = CreditNote(
            code=f"CN{len(self.credit_notes) + 1:05d}",
            associated_ref=sales_return.associated_ref,
            sales_order_code=", ".join(codes),
            urn=sales_return.urn,
            issued=self.clock().date(),
            currency=sales_return.currency,
            lines=tuple(self._credit_line(line) for line in sales_return.lines)
            + tuple(self._exchange_charge(swap) for swap in sales_return.exchanges),
        )
        sales_return.credit_note = note
        self.credit_notes.append(note)
        return note, moved

    def _credit_line(self, line: ReturnLine) -> CreditNoteLine:
        """Net and tax per line from the stock item's tax rate, rounded half-up to pennies."""
        stock = self.stock[line.stock_id]
        rate = self.tax_rates[stock.tax_rate_id].rate
        if line.unit_net is not None and line.unit_gross is None:
            net = pennies(line.unit_net * line.quantity)
            tax = pennies(net * rate / 100)
            unit_gross = pennies(line.unit_net * (100 + rate) / 100)
            gross = net + tax
        else:
            unit_gross = line.unit_gross if line.unit_gross is not None else self._sold_price(line, stock)
            gross = pennies(unit_gross * line.quantity)
            net = pennies(gross * 100 / (100 + rate))
            tax = gross - net
        return CreditNoteLine(
            line.stock_code, line.quantity, unit_gross, net, tax, gross, line.reason.name, line.reason.processing_type
        )

    def _exchange_charge(self, swap: ExchangeLine) -> CreditNoteLine:
        """The exchange item goes out to the customer: charged against the credit, at the
        price sent (its sell price when none came), VAT from its stock item."""
        stock = self.stock[swap.stock_id]
        rate = self.tax_rates[stock.tax_rate_id].rate
        if swap.unit_net is not None and swap.unit_gross is None:
            net = pennies(swap.unit_net * swap.quantity)
            gross = net + pennies(net * rate / 100)
            unit_gross = pennies(swap.unit_net * (100 + rate) / 100)
        else:
            unit_gross = swap.unit_gross if swap.unit_gross is not None else stock.sell_price
            gross = pennies(unit_gross * swap.quantity)
            net = pennies(gross * 100 / (100 + rate))
        return CreditNoteLine(
            swap.stock_code, -swap.quantity, unit_gross, -net, -(gross - net), -gross, "Exchange", "exchange"
        )

    def _sold_price(self, line: ReturnLine, stock: StockItem) -> Decimal:
        """No price came with the return: credit what the order charged, else the list price."""
        if line.order is not None:
            for order_line in line.order.lines:
                if order_line.stock_id == line.stock_id:
                    return order_line.unit_gross
        return stock.sell_price


def _matches(item: StockItem, kind: str, sku: str, barcode_type: str) -> bool:
    """Whether a SKU names this item by one mapping type; an empty barcode type takes any."""
    if kind in ("StockCode", "WebCode"):
        return item.stock_code == sku
    if kind == "OtherRef":
        return bool(item.other_ref) and item.other_ref == sku
    return any(code == sku and barcode_type in ("", kind_of_code) for code, kind_of_code in item.barcodes)
