"""What the in-memory Khaos Control keeps and the errors a Khaos user meets
(`shared/spec/khaos-control-cloud.md`): master data (customers, stock, sales orders,
return reasons, tax rates, sites), the Sales Returns and credit notes a pulled return
turns into, and the record of every pull. They are plain records that only read
themselves, kept apart from the `Khaos` that changes them so the import checks
(`khaos_import`), the `Khaos` itself (`khaos_model`) and the admin API's JSON shapes
(`khaos_data`) share one set of types without importing one another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

RETURN_TO_STOCK, QUARANTINE, WRITE_OFF = "Return to Stock", "Quarantine", "Write Off"


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
    unit_gross: Decimal | None = None  # as the channel sent it; None when it sent a net price or none
    unit_net: Decimal | None = None


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
