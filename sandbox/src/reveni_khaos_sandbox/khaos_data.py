"""The Khaos Control sandbox's demo data, and the JSON shapes its admin API shows and loads.

Built from the shared catalogue and `reveni_data.sales_order`, so with the same `--seed`
and `--returns` as the Reveni sandbox every order a Reveni return refers to is a Khaos
sales order (AssociatedRef = the order's `external_id`) holding the returned SKUs.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from reveni_khaos_sandbox.catalogue import CURRENCY_BY_COUNTRY, CUSTOMERS, PRODUCTS
from reveni_khaos_sandbox.khaos_model import Khaos
from reveni_khaos_sandbox.khaos_records import (
    QUARANTINE,
    RETURN_TO_STOCK,
    WRITE_OFF,
    CreditNote,
    Customer,
    Invalid,
    OrderLine,
    PulledReturn,
    ReturnReason,
    SalesOrder,
    Site,
    StockItem,
    TaxRate,
)
from reveni_khaos_sandbox.reveni_data import LINE_QUANTITY, sales_order

MAIN_SITE, QUARANTINE_SITE = "1", "2"
SITES = (Site(MAIN_SITE, "Main warehouse"), Site(QUARANTINE_SITE, "Quarantine"))
STARTING_LEVELS = {MAIN_SITE: 10, QUARANTINE_SITE: 0}
TAX_RATES = (
    TaxRate("1", "1", "Standard", Decimal("20.00")),
    TaxRate("2", "2", "Zero", Decimal("0.00")),
    TaxRate("3", "3", "Reduced", Decimal("5.00")),
)
# Reveni's percentage -> Khaos tax rate ID; a product Reveni has no rate for is Standard here.
TAX_RATE_BY_PERCENT = {"20.00": "1", "0.00": "2", "5.00": "3", None: "1"}
RETURN_REASONS = (
    ReturnReason("1", "SIZE", "Wrong size", RETURN_TO_STOCK, MAIN_SITE),
    ReturnReason("2", "FAULTY", "Faulty", QUARANTINE, QUARANTINE_SITE),
    ReturnReason("3", "NAD", "Not as described", RETURN_TO_STOCK, MAIN_SITE),
    ReturnReason("4", "CHANGED", "Changed mind", RETURN_TO_STOCK, MAIN_SITE),
    ReturnReason("5", "DAMAGED", "Damaged by customer", WRITE_OFF, None),
    ReturnReason("6", "WRONGITEM", "Wrong item sent", RETURN_TO_STOCK, MAIN_SITE),
    ReturnReason("7", "LATE", "Arrived late", RETURN_TO_STOCK, MAIN_SITE),
)
FIRST_STOCK_ID, FIRST_ORDER_ID = 1001, 50000


def demo_khaos(seed: int, returns: int) -> Khaos:
    return Khaos(
        customers=demo_customers(),
        stock=demo_stock(),
        orders=demo_orders(seed, returns),
        reasons=RETURN_REASONS,
        tax_rates=TAX_RATES,
        sites=SITES,
    )


def demo_customers() -> list[Customer]:
    return [Customer(c.urn, f"{c.first_name} {c.last_name}", CURRENCY_BY_COUNTRY[c.country_code]) for c in CUSTOMERS]


def demo_stock() -> list[StockItem]:
    items = []
    for n, product in enumerate(PRODUCTS):
        stock_id = str(FIRST_STOCK_ID + n)
        items.append(
            StockItem(
                stock_id=stock_id,
                stock_code=product.renamed_to or product.sku,
                description=product.name,
                other_ref=f"SUP-{stock_id}",  # the supplier's reference: unknown to Reveni
                barcodes=[(product.ean, "EAN13")],
                tax_rate_id=TAX_RATE_BY_PERCENT[product.tax_rate],
                sell_price=product.price,
                discontinued=product.discontinued,
                history=[product.sku] if product.renamed_to else [],
                available=dict(STARTING_LEVELS),
                on_order={site: 0 for site in STARTING_LEVELS},
            )
        )
    return items


def demo_orders(seed: int, returns: int) -> list[SalesOrder]:
    """One sales order per Reveni order: the orders behind returns 0..returns-1."""
    stock_id_by_sku = {product.sku: str(FIRST_STOCK_ID + n) for n, product in enumerate(PRODUCTS)}
    orders = []
    for k in range(returns):
        if k % 10 == 1:
            continue  # return 10j+1 is the second parcel of order 10j
        order = sales_order(seed, k)
        order_id = str(FIRST_ORDER_ID + k)
        lines = tuple(
            OrderLine(f"{order_id}{n + 1:02d}", stock_id_by_sku[product.sku], LINE_QUANTITY, product.price)
            for n, product in enumerate(order.products)
        )
        customer = order.customer
        currency = CURRENCY_BY_COUNTRY[customer.country_code]
        orders.append(SalesOrder(order_id, f"SO{order_id}", order.external_id, customer.urn, currency, lines))
    return orders


# --- what the admin API shows ---------------------------------------------------------


def money(amount: Decimal) -> str:
    return f"{amount:.2f}"


def customer_json(customer: Customer) -> dict[str, Any]:
    return {"URN": customer.urn, "Name": customer.name, "Currency": customer.currency}


def stock_json(item: StockItem, khaos: Khaos) -> dict[str, Any]:
    return {
        "StockID": item.stock_id,
        "StockCode": item.stock_code,
        "History": list(item.history),
        "StockDescription": item.description,
        "OtherRef": item.other_ref,
        "Barcodes": [{"Barcode": code, "Type": kind} for code, kind in item.barcodes],
        "TaxRate": khaos.tax_rates[item.tax_rate_id].data_item(),
        "SellPrice": money(item.sell_price),
        "Discontinued": item.discontinued,
        "Levels": {
            site.site_id: {
                "Site": site.name,
                "Available": item.available.get(site.site_id, 0),
                "OnOrder": item.on_order.get(site.site_id, 0),
            }
            for site in khaos.sites.values()
        },
    }


def order_json(order: SalesOrder, khaos: Khaos) -> dict[str, Any]:
    return {
        "SOrderID": order.order_id,
        "SOrderCode": order.code,
        "AssociatedRef": order.associated_ref,
        "URN": order.urn,
        "Currency": order.currency,
        "Lines": [
            {
                "SOrderItemID": line.item_id,
                "StockID": line.stock_id,
                "StockCode": khaos.stock[line.stock_id].stock_code if line.stock_id in khaos.stock else "",
                "Quantity": line.quantity,
                "UnitPrice": money(line.unit_gross),
            }
            for line in order.lines
        ],
    }


def reason_json(reason: ReturnReason) -> dict[str, Any]:
    return {
        "ID": reason.reason_id,
        "Code": reason.code,
        "Name": reason.name,
        "ProcessingType": reason.processing_type,
        "SiteID": reason.site_id or "",
    }


def credit_note_json(note: CreditNote) -> dict[str, Any]:
    return {
        "CreditNoteCode": note.code,
        "Date": note.issued.isoformat(),
        "AssociatedRef": note.associated_ref,
        "SalesOrderCode": note.sales_order_code,
        "URN": note.urn,
        "Currency": note.currency,
        "Net": money(note.net),
        "Tax": money(note.tax),
        "Gross": money(note.gross),
        "Status": note.status,
        "Lines": [
            {
                "StockCode": line.stock_code,
                "Quantity": line.quantity,
                "UnitGross": money(line.unit_gross),
                "Net": money(line.net),
                "Tax": money(line.tax),
                "Gross": money(line.gross),
                "ReturnReason": line.reason,
                "ProcessingType": line.processing_type,
            }
            for line in note.lines
        ],
    }


def pulled_json(record: PulledReturn) -> dict[str, Any]:
    note = record.sales_return.credit_note if record.sales_return else None
    return {
        "AssociatedRef": record.associated_ref,
        "status": record.status,
        "state": record.state,
        "reasons": list(record.reasons),
        "credit_note": note.code if note else None,
        "pulled_at": record.pulled_at.isoformat(),
        "document": record.document,
        "attempts": [
            {"at": a.at.isoformat(), "via": a.via, "result": a.result, "reasons": list(a.reasons)}
            for a in record.attempts
        ],
    }


# --- what POST /_sandbox/load accepts (the same shapes the GET routes show) -------------


def load_master_data(body: dict[str, Any], khaos: Khaos) -> None:
    """Replace the lists `body` names; all or nothing. A bad entry raises Invalid naming
    it, e.g. `stock[2].StockCode: required`."""
    unknown = set(body) - {"customers", "stock", "orders", "reasons"}
    if unknown:
        raise Invalid(f"{sorted(unknown)[0]}: unknown list; give customers, stock, orders or reasons")
    parsed: dict[str, list[Any]] = {}
    for name, parse in (("customers", _customer), ("stock", _stock), ("orders", _order), ("reasons", _reason)):
        if name in body:
            entries = body[name]
            if not isinstance(entries, list):
                raise Invalid(f"{name}: must be a list")
            parsed[name] = [parse(_Entry(entry, f"{name}[{n}]"), khaos) for n, entry in enumerate(entries)]
    khaos.replace(**parsed)


class _Entry:
    """One entry of a loaded list, so every error names where it is."""

    def __init__(self, raw: Any, where: str) -> None:
        if not isinstance(raw, dict):
            raise Invalid(f"{where}: must be an object")
        self.raw, self.where = raw, where

    def text(self, name: str, default: str | None = None) -> str:
        value = self.raw.get(name, default)
        if not isinstance(value, str | int) or isinstance(value, bool) or (value == "" and default is None):
            raise Invalid(f"{self.where}.{name}: required, as text")
        return str(value)

    def number(self, name: str, default: str | None = None) -> Decimal:
        try:
            return Decimal(str(self.raw.get(name, default)))
        except InvalidOperation:
            raise Invalid(f"{self.where}.{name}: must be a number") from None

    def whole(self, name: str) -> int:
        value = self.raw.get(name, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise Invalid(f"{self.where}.{name}: must be a whole number of 0 or more")
        return value

    def entries(self, name: str) -> list[_Entry]:
        value = self.raw.get(name, [])
        if not isinstance(value, list):
            raise Invalid(f"{self.where}.{name}: must be a list")
        return [_Entry(entry, f"{self.where}.{name}[{n}]") for n, entry in enumerate(value)]


def _customer(entry: _Entry, khaos: Khaos) -> Customer:
    return Customer(entry.text("URN"), entry.text("Name", ""), entry.text("Currency", "GBP"))


def _stock(entry: _Entry, khaos: Khaos) -> StockItem:
    tax = entry.raw.get("TaxRate", "1")
    tax_id = str(tax.get("ID", "")) if isinstance(tax, dict) else str(tax)
    if tax_id not in khaos.tax_rates:
        raise Invalid(f"{entry.where}.TaxRate: {tax!r} is not one of IDs {sorted(khaos.tax_rates)}")
    levels = entry.raw.get("Levels", {})
    if not isinstance(levels, dict) or not all(isinstance(v, dict) for v in levels.values()):
        raise Invalid(f"{entry.where}.Levels: must map a site ID to {{'Available': n, 'OnOrder': n}}")
    history = entry.raw.get("History", [])
    if not isinstance(history, list):
        raise Invalid(f"{entry.where}.History: must be a list of earlier stock codes")
    return StockItem(
        stock_id=entry.text("StockID"),
        stock_code=entry.text("StockCode"),
        description=entry.text("StockDescription", ""),
        other_ref=entry.text("OtherRef", ""),
        barcodes=[(b.text("Barcode"), b.text("Type", "EAN13")) for b in entry.entries("Barcodes")],
        tax_rate_id=tax_id,
        sell_price=entry.number("SellPrice", "0"),
        discontinued=entry.raw.get("Discontinued") is True,
        history=[str(code) for code in history],
        available={
            site: _Entry(level, f"{entry.where}.Levels.{site}").whole("Available") for site, level in levels.items()
        },
        on_order={
            site: _Entry(level, f"{entry.where}.Levels.{site}").whole("OnOrder") for site, level in levels.items()
        },
    )


def _order(entry: _Entry, khaos: Khaos) -> SalesOrder:
    order_id = entry.text("SOrderID")
    lines = tuple(
        OrderLine(
            line.text("SOrderItemID", f"{order_id}{n + 1:02d}"),
            line.text("StockID"),
            line.whole("Quantity"),
            line.number("UnitPrice"),
        )
        for n, line in enumerate(entry.entries("Lines"))
    )
    return SalesOrder(
        order_id,
        entry.text("SOrderCode", f"SO{order_id}"),
        entry.text("AssociatedRef"),
        entry.text("URN"),
        entry.text("Currency", "GBP"),
        lines,
    )


def _reason(entry: _Entry, khaos: Khaos) -> ReturnReason:
    kind = entry.text("ProcessingType")
    if kind not in (RETURN_TO_STOCK, QUARANTINE, WRITE_OFF):
        raise Invalid(f"{entry.where}.ProcessingType: must be {RETURN_TO_STOCK}, {QUARANTINE} or {WRITE_OFF}")
    site = entry.text("SiteID", "") or None
    if kind != WRITE_OFF and site not in khaos.sites:
        raise Invalid(f"{entry.where}.SiteID: must be one of {sorted(khaos.sites)} for {kind}")
    return ReturnReason(
        entry.text("ID"), entry.text("Code", ""), entry.text("Name", ""), kind, None if kind == WRITE_OFF else site
    )
