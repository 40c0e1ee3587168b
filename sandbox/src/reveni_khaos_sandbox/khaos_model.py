"""The in-memory Khaos Control: customers, stock, sales orders, return reasons, and what
happens to a customer return pulled from a channel (`shared/spec/khaos-control-cloud.md`).

A pulled `CustomerReturn` either imports (becomes a Sales Return) or fails with reasons
in the plain words a Khaos user sees; all reasons of one return are collected, so one
retry can fix them all. Processing a Sales Return posts a credit note and moves stock by
each reason's processing type. Nothing here talks to the network.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

API_VERSION = 1000
PENNY = Decimal("0.01")
RETURN_TO_STOCK, QUARANTINE, WRITE_OFF = "Return to Stock", "Quarantine", "Write Off"
MAPPING_TYPES = ("StockCode", "OtherRef", "Barcode", "WebCode", "Automatic")
SOURCE_KEYS = ("AssociatedRef", "SOrderID", "SOrderCode", "SOrderItemID")
REQUIRED_FIELDS = ("AssociatedRef", "CreatedDate", "URN", "InvoiceAddress", "InvoiceContact")
MAX_LENGTHS = {"Line1": 35, "Line2": 35, "Line3": 35, "Town": 35, "Postcode": 10}
MISSING_REF = "(no AssociatedRef)"


def pennies(amount: Decimal) -> Decimal:
    return amount.quantize(PENNY, rounding=ROUND_HALF_UP)


class NotFound(Exception):
    """Something named by a user does not exist."""


class Invalid(ValueError):
    """A value a user gave cannot be used; the message names it."""


class Conflict(Exception):
    """The request clashes with the state Khaos is in."""


@dataclass(frozen=True)
class TaxRate:
    tax_id: str
    code: str
    name: str
    rate: Decimal  # percentage

    def data_item(self) -> dict[str, str]:
        return {"ID": self.tax_id, "Code": self.code, "Name": self.name}


@dataclass(frozen=True)
class Site:
    site_id: str
    name: str


@dataclass(frozen=True)
class ReturnReason:
    reason_id: str
    code: str
    name: str
    processing_type: str  # Return to Stock, Quarantine or Write Off
    site_id: str | None  # where processed stock goes; None when it is written off

    def named_by(self, data_item: dict[str, Any]) -> bool:
        """A DataItem names this reason when every part it gives (ID, Code, Name) agrees."""
        given = {key: str(value) for key, value in data_item.items() if key in ("ID", "Code", "Name") and value}
        mine = {"ID": self.reason_id, "Code": self.code, "Name": self.name}
        return bool(given) and all(mine[key] == value for key, value in given.items())


@dataclass(frozen=True)
class Customer:
    urn: str
    name: str
    currency: str


@dataclass
class StockItem:
    stock_id: str  # stable for ever
    stock_code: str  # can change: see `history`
    description: str
    other_ref: str
    barcodes: list[tuple[str, str]]  # (barcode, type such as EAN13)
    tax_rate_id: str
    sell_price: Decimal  # gross
    discontinued: bool = False
    history: list[str] = field(default_factory=list)  # earlier stock codes, oldest first
    available: dict[str, int] = field(default_factory=dict)  # per site ID
    on_order: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class OrderLine:
    item_id: str  # SOrderItemID
    stock_id: str
    quantity: int
    unit_gross: Decimal


@dataclass(frozen=True)
class SalesOrder:
    order_id: str  # SOrderID
    code: str  # SOrderCode
    associated_ref: str  # the web shop's order id
    urn: str
    currency: str
    lines: tuple[OrderLine, ...]


@dataclass(frozen=True)
class ReturnLine:
    stock_id: str
    stock_code: str
    quantity: int
    reason: ReturnReason
    unit_gross: Decimal | None  # as the channel sent it; None when it sent a net price or none
    unit_net: Decimal | None
    order: SalesOrder | None


@dataclass(frozen=True)
class ExchangeLine:
    stock_id: str
    stock_code: str
    quantity: int


@dataclass(frozen=True)
class CreditNoteLine:
    stock_code: str
    quantity: int
    unit_gross: Decimal
    net: Decimal
    tax: Decimal
    gross: Decimal
    reason: str
    processing_type: str


@dataclass(frozen=True)
class CreditNote:
    code: str
    associated_ref: str
    sales_order_code: str
    urn: str
    issued: date
    currency: str
    lines: tuple[CreditNoteLine, ...]
    status: str = "Posted"

    @property
    def net(self) -> Decimal:
        return sum((line.net for line in self.lines), Decimal(0))

    @property
    def tax(self) -> Decimal:
        return sum((line.tax for line in self.lines), Decimal(0))

    @property
    def gross(self) -> Decimal:
        return sum((line.gross for line in self.lines), Decimal(0))


@dataclass
class SalesReturn:
    associated_ref: str
    urn: str
    currency: str
    lines: tuple[ReturnLine, ...]
    exchanges: tuple[ExchangeLine, ...]
    imported_at: datetime
    credit_note: CreditNote | None = None


@dataclass(frozen=True)
class Attempt:
    at: datetime
    via: str  # pull or retry
    result: str  # imported, failed or duplicate
    reasons: tuple[str, ...]


@dataclass
class PulledReturn:
    """One AssociatedRef as Khaos has seen it across pulls."""

    associated_ref: str
    document: dict[str, Any]  # the CustomerReturn behind the current state
    pulled_at: datetime
    reasons: list[str]  # why the last import failed; empty once imported
    sales_return: SalesReturn | None = None
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.sales_return is None:
            return "failed"
        return "processed" if self.sales_return.credit_note else "imported"

    @property
    def state(self) -> str:
        """What a Khaos user reads on screen."""
        return {"failed": "Import failed", "imported": "Awaiting processing", "processed": "Processed"}[self.status]


@dataclass
class Outcome:
    associated_ref: str
    reasons: list[str]
    sales_return: SalesReturn | None = None
    credit_note: CreditNote | None = None  # when ProcessReturn processed it on import
    moved_stock_ids: set[str] = field(default_factory=set)

    @property
    def imported(self) -> bool:
        return self.sales_return is not None


class Khaos:
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
        self.pulled: dict[str, PulledReturn] = {}
        self.credit_notes: list[CreditNote] = []
        self._returned: Counter[tuple[str, str]] = Counter()  # (SOrderID, StockID) -> quantity imported
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

    # --- import ----------------------------------------------------------------------

    def import_return(self, document: Any, *, api_version: Any = API_VERSION, via: str = "pull") -> Outcome:
        """Check one pulled CustomerReturn and import it, or record every reason it fails."""
        now = self.clock()
        ref = _text(document.get("AssociatedRef")) if isinstance(document, dict) else ""
        key = ref or MISSING_REF
        record = self.pulled.get(key)
        if record is not None and record.sales_return is not None:
            # Already a Sales Return: what came again changes nothing.
            reasons = [f"Duplicate AssociatedRef {ref!r}"]
            record.attempts.append(Attempt(now, via, "duplicate", tuple(reasons)))
            return Outcome(key, reasons)
        if isinstance(document, dict):
            reasons, sales_return = self._check(document, api_version, ref, now)
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
                self._returned[line.order.order_id, line.stock_id] += line.quantity
        if _boolean(document.get("ProcessReturn")):
            outcome.credit_note, outcome.moved_stock_ids = self.process(key)
        return outcome

    def _check(
        self, document: dict[str, Any], api_version: Any, ref: str, now: datetime
    ) -> tuple[list[str], SalesReturn | None]:
        if _whole(api_version) != API_VERSION:
            return [f"ApiVersion {api_version!r} is not supported; Khaos needs {API_VERSION}"], None
        reasons = [f"Null value at {path}" for path in _null_paths(document)]
        reasons += [f"Missing required field {name}" for name in REQUIRED_FIELDS if _missing(document, name)]
        created = document.get("CreatedDate")
        if not _absent(created) and not _is_datetime(created):
            reasons.append(f"CreatedDate {created!r} is not a date and time like 2018-01-18T12:20:48")
        for name in ("InvoiceAddress", "DeliveryAddress"):
            reasons += _address_problems(name, document.get(name))
        for name in ("InvoiceContact", "DeliveryContact"):
            contact = document.get(name)
            if isinstance(contact, dict) and _absent(contact.get("Forename")) and _absent(contact.get("Surname")):
                reasons.append(f"{name} needs a Forename or a Surname")
        urn = _text(document.get("URN"))
        customer = self.customers.get(urn)
        if urn and customer is None:
            reasons.append(f"Customer URN {urn!r} not found")
        returned = _item_list(document, "ReturnedItems", reasons)
        exchanged = _item_list(document, "ExchangeItems", reasons)
        if not returned and not exchanged:
            reasons.append("The return has no ReturnedItems or ExchangeItems")
        claimed: Counter[tuple[str, str]] = Counter()
        lines = [
            self._returned_line(item, f"ReturnedItems[{n}]", urn, claimed, reasons) for n, item in enumerate(returned)
        ]
        swaps = [self._exchange_line(item, f"ExchangeItems[{n}]", reasons) for n, item in enumerate(exchanged)]
        if reasons:
            return list(dict.fromkeys(reasons)), None  # two lines of one unknown SKU: one reason
        kept_lines = tuple(line for line in lines if line is not None)
        kept_swaps = tuple(swap for swap in swaps if swap is not None)
        orders = [line.order for line in kept_lines if line.order is not None]
        currency = orders[0].currency if orders else customer.currency if customer else "GBP"
        return [], SalesReturn(ref, urn, currency, kept_lines, kept_swaps, now)

    def _returned_line(
        self, item: Any, where: str, urn: str, claimed: Counter[tuple[str, str]], reasons: list[str]
    ) -> ReturnLine | None:
        if not isinstance(item, dict):
            reasons.append(f"{where} must be an object")
            return None
        stock = self._stock_of(item, where, reasons)
        quantity = _quantity(item, where, reasons)
        reason = self._reason_of(item, where, reasons)
        unit_gross, unit_net = _price(item, where, reasons)
        order, order_line = self._source_order(item, reasons)
        if order is not None and urn in self.customers and order.urn != urn:
            reasons.append(f"Source order {order.code} belongs to customer {order.urn!r}, not {urn!r}")
        if stock is None or quantity is None or reason is None:
            return None
        if order is not None:
            self._check_sold(order, order_line, stock, quantity, claimed, reasons)
        return ReturnLine(stock.stock_id, stock.stock_code, quantity, reason, unit_gross, unit_net, order)

    def _exchange_line(self, item: Any, where: str, reasons: list[str]) -> ExchangeLine | None:
        if not isinstance(item, dict):
            reasons.append(f"{where} must be an object")
            return None
        stock = self._stock_of(item, where, reasons, what="Exchange stock item")
        quantity = _quantity(item, where, reasons)
        if stock is None or quantity is None:
            return None
        return ExchangeLine(stock.stock_id, stock.stock_code, quantity)

    def _stock_of(
        self, item: dict[str, Any], where: str, reasons: list[str], what: str = "Stock item"
    ) -> StockItem | None:
        sku = _text(item.get("SKU"))
        mappings = _mappings(item.get("Mapping"), where, reasons)
        if _missing(item, "SKU"):
            reasons.append(f"Missing required field {where}.SKU")
        if not sku or mappings is None:
            return None
        stock = self.find_stock(sku, mappings)
        if stock is None:
            kinds = ", ".join(kind for kind, _ in mappings)
            reasons.append(f"{what} {sku!r} not found by any mapping ({kinds})")
        elif stock.discontinued:
            reasons.append(f"{what} {stock.stock_code!r} is discontinued")
        return stock

    def _reason_of(self, item: dict[str, Any], where: str, reasons: list[str]) -> ReturnReason | None:
        given = item.get("ReturnReason")
        if _missing(item, "ReturnReason"):
            reasons.append(f"Missing required field {where}.ReturnReason")
            return None
        if not isinstance(given, dict):
            if given is not None:
                reasons.append(f"{where}.ReturnReason must be a DataItem naming an ID, Code or Name")
            return None
        found = next((reason for reason in self.reasons if reason.named_by(given)), None)
        if found is None:
            reasons.append(f"Return reason {given!r} not found")
        return found

    def _source_order(self, item: dict[str, Any], reasons: list[str]) -> tuple[SalesOrder | None, OrderLine | None]:
        reference = item.get("SourceReference", item.get("SourceReturnReference"))
        if _absent(reference):
            return None, None
        inner = reference.get("SourceOrder") if isinstance(reference, dict) else None
        keys = inner if isinstance(inner, dict) else reference
        given = {key: _text(keys.get(key)) for key in SOURCE_KEYS} if isinstance(keys, dict) else {}
        given = {key: value for key, value in given.items() if value}
        if len(given) != 1:
            reasons.append(f"Source reference must name exactly one of {', '.join(SOURCE_KEYS)}")
            return None, None
        [(key, value)] = given.items()
        order, line = self._order_by(key, value)
        if order is None:
            reasons.append(f"Source order {given!r} not found")
        return order, line

    def _order_by(self, key: str, value: str) -> tuple[SalesOrder | None, OrderLine | None]:
        order = self._orders_by[key].get(value)
        if key == "SOrderItemID" and order is not None:
            return order, next(line for line in order.lines if line.item_id == value)
        return order, None

    def _check_sold(
        self,
        order: SalesOrder,
        line: OrderLine | None,
        stock: StockItem,
        quantity: int,
        claimed: Counter[tuple[str, str]],
        reasons: list[str],
    ) -> None:
        lines = [one for one in order.lines if one.stock_id == stock.stock_id and (line is None or one is line)]
        if not lines:
            reasons.append(f"Stock item {stock.stock_code!r} is not on {order.code}")
            return
        key = (order.order_id, stock.stock_id)
        sold = sum(one.quantity for one in lines)
        before = self._returned[key] + claimed[key]
        if before + quantity > sold:
            reasons.append(
                f"More returned than sold: {quantity} of {stock.stock_code!r} on {order.code} "
                f"(sold {sold}, already returned {before})"
            )
        claimed[key] += quantity

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
            lines=tuple(self._credit_line(line) for line in sales_return.lines),
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

    def _sold_price(self, line: ReturnLine, stock: StockItem) -> Decimal:
        """No price came with the return: credit what the order charged, else the list price."""
        if line.order is not None:
            for order_line in line.order.lines:
                if order_line.stock_id == line.stock_id:
                    return order_line.unit_gross
        return stock.sell_price


# --- reading a CustomerReturn ---------------------------------------------------------


def _matches(item: StockItem, kind: str, sku: str, barcode_type: str) -> bool:
    if kind in ("StockCode", "WebCode"):
        return item.stock_code == sku
    if kind == "OtherRef":
        return bool(item.other_ref) and item.other_ref == sku
    return any(code == sku and barcode_type in ("", kind_of_code) for code, kind_of_code in item.barcodes)


def _mappings(raw: Any, where: str, reasons: list[str]) -> list[tuple[str, str]] | None:
    """The item's Mapping list as (type, barcode type); StockCode when none is given."""
    if _absent(raw):
        return [("StockCode", "")]
    entries = raw if isinstance(raw, list) else [raw]
    found: list[tuple[str, str]] = []
    for entry in entries:
        kind = _text(entry.get("Mapping")) if isinstance(entry, dict) else _text(entry)
        if kind not in MAPPING_TYPES:
            reasons.append(f"{where}.Mapping: unknown mapping type {kind!r} (use {', '.join(MAPPING_TYPES)})")
            return None
        found.append((kind, _text(entry.get("MappingItem")) if isinstance(entry, dict) else ""))
    return found


def _quantity(item: dict[str, Any], where: str, reasons: list[str]) -> int | None:
    if _missing(item, "Quantity"):
        reasons.append(f"Missing required field {where}.Quantity")
        return None
    raw = item.get("Quantity")
    quantity = _number(raw)
    if raw is None:
        return None
    if quantity is None or quantity <= 0 or quantity != quantity.to_integral_value():
        reasons.append(f"{where}.Quantity must be a whole number above 0, got {raw!r}")
        return None
    return int(quantity)


def _price(item: dict[str, Any], where: str, reasons: list[str]) -> tuple[Decimal | None, Decimal | None]:
    """(unit gross, unit net) from the item's UnitPrice; a Price holds Net or Gross."""
    price = item.get("UnitPrice")
    if _absent(price):
        return None, None
    parts = {name: price.get(name) for name in ("Gross", "Net")} if isinstance(price, dict) else {}
    given = {name: _number(value) for name, value in parts.items() if not _absent(value)}
    if given and all(value is not None and value >= 0 for value in given.values()):
        return given.get("Gross"), given.get("Net")
    reasons.append(f"{where}.UnitPrice must hold Net or Gross as a number of 0 or more, got {price!r}")
    return None, None


def _address_problems(name: str, address: Any) -> list[str]:
    if not isinstance(address, dict):
        return [] if _absent(address) else [f"{name} must be an object"]
    problems = [
        f"Missing required field {name}.{part}" for part in ("Line1", "Town", "Country") if _missing(address, part)
    ]
    country = address.get("Country")
    if isinstance(country, dict) and not any(country.get(key) for key in ("ID", "Code", "Name")):
        problems.append(f"{name}.Country must name an ID, Code or Name")
    for part, most in MAX_LENGTHS.items():
        text = _text(address.get(part))
        if len(text) > most:
            problems.append(f"{name}.{part} is {len(text)} characters long; Khaos allows {most}")
    return problems


def _item_list(document: dict[str, Any], name: str, reasons: list[str]) -> list[Any]:
    items = document.get(name)
    if _absent(items):
        return []
    if not isinstance(items, list):
        reasons.append(f"{name} must be a list")
        return []
    return items


def _null_paths(value: Any, path: str = "") -> list[str]:
    """Where a document holds null: Khaos treats each as an error."""
    if value is None:
        return [path]
    if isinstance(value, dict):
        return [p for key, child in value.items() for p in _null_paths(child, f"{path}.{key}" if path else str(key))]
    if isinstance(value, list):
        return [p for n, child in enumerate(value) for p in _null_paths(child, f"{path}[{n}]")]
    return []


def _absent(value: Any) -> bool:
    return value is None or value == "" or value == {} or value == []


def _missing(container: dict[str, Any], name: str) -> bool:
    """Absent or empty; a null is reported as a null instead, not twice."""
    return name not in container or (container[name] is not None and _absent(container[name]))


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value).strip()


def _number(value: Any) -> Decimal | None:
    """A JSON number or, as XML gives it, numeric text."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _whole(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number == number.to_integral_value() else None


def _boolean(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _is_datetime(value: Any) -> bool:
    try:
        datetime.fromisoformat(str(value))
    except ValueError:
        return False
    return True
