"""Deterministic Reveni returns, built on demand from (seed, index).

Nothing but each return's sort key is kept in memory, so the sandbox can serve 100,000
returns as cheaply as 200: a page materialises only the returns it shows.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from reveni_khaos_sandbox.catalogue import (
    CARRIERS,
    CURRENCY_BY_COUNTRY,
    CUSTOMERS,
    PRODUCTS,
    PRODUCTS_BY_SKU,
    REJECT_REASONS,
    RETURN_REASONS,
    UNMAPPED_REASON,
    Customer,
    Product,
)

STATUSES = (
    "in_progress",
    "shipped",
    "received",
    "for_review",
    "accepted",
    "partly_accepted",
    "rejected",
    "cancelled",
)
DATA_END = datetime(2026, 11, 20, tzinfo=UTC)
DATA_SPAN = timedelta(days=60)
# How long after creation a return typically reaches each status.
STATUS_AGE = {
    "in_progress": timedelta(minutes=5),
    "shipped": timedelta(days=1),
    "received": timedelta(days=3),
    "for_review": timedelta(days=4),
    "accepted": timedelta(days=6),
    "partly_accepted": timedelta(days=6),
    "rejected": timedelta(days=6),
    "cancelled": timedelta(days=1),
}
CENT = Decimal("0.01")


def iso(moment: datetime) -> str:
    """Reveni's timestamp format: ISO 8601, UTC, whole seconds, `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def money(amount: Decimal) -> str:
    return str(amount.quantize(CENT, rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class SalesOrder:
    """The web-shop order a return comes from; Khaos Control holds it as a sales order
    whose AssociatedRef is `external_id`."""

    external_id: str
    number: str
    customer: Customer
    customer_id: str  # Reveni's id for the customer
    products: tuple[Product, ...]  # one line each, quantity LINE_QUANTITY


LINE_QUANTITY = 2  # every demo order line sold two, so a return of one or two fits


def order_index_of(i: int) -> int:
    """Every tenth order comes back in two parcels: returns 10k and 10k+1 share one."""
    return i - 1 if i % 10 == 1 else i


def sales_order(seed: int, order_index: int) -> SalesOrder:
    rng = random.Random(f"{seed}:order:{order_index}")
    customer = rng.choice(CUSTOMERS)
    products = tuple(rng.sample(PRODUCTS, 4))
    customer_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    return SalesOrder(str(5_123_400_000 + order_index * 7), f"#{10000 + order_index}", customer, customer_id, products)


@dataclass(frozen=True)
class Identity:
    id: str
    created_at: datetime
    updated_at: datetime


class ReturnGenerator:
    """Return number `i` of a data set is a pure function of `(seed, i)`."""

    def __init__(self, seed: int, count: int) -> None:
        self.seed = seed
        self.count = count
        self._spacing = DATA_SPAN / max(count, 1)

    def status(self, i: int) -> str:
        return STATUSES[i % len(STATUSES)]

    def identity(self, i: int) -> Identity:
        rng = random.Random(f"{self.seed}:{i}:identity")
        return_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        jitter = timedelta(seconds=rng.randint(0, max(int(self._spacing.total_seconds()) // 2, 1)))
        created = (DATA_END - DATA_SPAN + i * self._spacing + jitter).replace(microsecond=0)
        status = self.status(i)
        updated = created + STATUS_AGE[status] + timedelta(minutes=rng.randint(0, 90))
        if status in {"accepted", "partly_accepted", "rejected"}:
            # The warehouse validates in hourly batches, so decided returns share
            # timestamps: real data has ties in `updated_at`, and so does ours.
            updated = updated.replace(minute=0, second=0) + timedelta(hours=1)
        return Identity(return_id, created, updated)

    def build(self, i: int) -> dict[str, Any]:
        ident = self.identity(i)
        rng = random.Random(f"{self.seed}:{i}")
        order_index = order_index_of(i)
        order = sales_order(self.seed, order_index)
        customer = order.customer
        own_half = order.products[2:] if order_index != i else order.products[:2]
        status = self.status(i)
        kind = rng.choices(("refund", "exchange", "mixed"), weights=(70, 15, 15))[0]
        needs_two = kind == "mixed" or status == "partly_accepted"
        products = own_half if needs_two else own_half[: rng.randint(1, 2)]
        instant = kind != "exchange" and status != "cancelled" and rng.random() < 0.6

        items = [
            self._item(rng, product, status, position, exchanged=_exchanged(kind, position))
            for position, product in enumerate(products)
        ]
        currency = CURRENCY_BY_COUNTRY[customer.country_code]
        # Prices as customers really pay them: discounts, exchanges for dearer or cheaper
        # items. A stream of its own, so the rest of each return stays as it always was.
        money_rng = random.Random(f"{self.seed}:{i}:money")
        for item in items:
            _discount(money_rng, item)
            if item["exchange"] is not None:
                _price_exchange(money_rng, item)
        refunds = self._refunds(rng, money_rng, ident, status, instant, items, currency)
        top_ups = _top_ups(ident, items, currency)
        total = sum((Decimal(item["total"]) for item in items), Decimal(0))
        return {
            "id": ident.id,
            "order": {"external_id": order.external_id, "number": order.number},
            "customer": {
                "id": order.customer_id,
                "email": f"{customer.urn.lower()}@example.com",
                "first_name": customer.first_name,
                "last_name": customer.last_name,
                "address": {
                    "line1": customer.line1,
                    "line2": "",
                    "city": customer.city,
                    "postcode": customer.postcode,
                    "country_code": customer.country_code,
                },
            },
            "type": kind,
            "instant": instant,
            "status": status,
            "refund_method": "bank_transfer" if instant else rng.choice(("store_credit", "original_payment_method")),
            "currency": currency,
            "total": money(total),
            "return_items": items,
            "refunds": refunds,
            "exchange_payments": top_ups,
            "shipping": {"carrier": rng.choice(CARRIERS), "tracking_number": f"H00AAA{i:010d}"},
            "created_at": iso(ident.created_at),
            "updated_at": iso(ident.updated_at),
        }

    def _item(
        self, rng: random.Random, product: Product, status: str, position: int, *, exchanged: bool
    ) -> dict[str, Any]:
        quantity = 2 if rng.random() < 0.1 else 1
        total = product.price * quantity
        reason = UNMAPPED_REASON if rng.random() < 0.03 else rng.choice(RETURN_REASONS)
        item: dict[str, Any] = {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "sku": product.sku,
            "ean": product.ean,
            "name": product.name,
            "quantity": quantity,
            "price": money(product.price),
            "total": money(total),
            "return_reason": {"code": reason[0], "label": reason[1]},
            "exchange": None,
        }
        # Reveni sometimes has no tax rate for a line; then it sends neither rate nor tax.
        if product.tax_rate is not None and rng.random() >= 0.03:
            rate = Decimal(product.tax_rate)
            item["tax_rate"] = product.tax_rate
            item["tax"] = money(total * rate / (100 + rate))
        if exchanged:
            swap = PRODUCTS_BY_SKU.get(product.exchange_for or "", product)
            item["exchange"] = {"sku": swap.sku, "ean": swap.ean, "quantity": quantity}
        verdict = _verdict(status, position)
        reject = rng.choice(REJECT_REASONS) if verdict == "rejected" else (None, None)
        item.update(status=verdict, reject_reason=reject[0], reject_reason_text=reject[1])
        return item

    def _refunds(
        self,
        rng: random.Random,
        money_rng: random.Random,
        ident: Identity,
        status: str,
        instant: bool,
        items: list[dict[str, Any]],
        currency: str,
    ) -> list[dict[str, Any]]:
        if instant:
            # Reveni pays before the goods are back, whatever the warehouse later finds.
            amount = sum((_due(item) for item in items), Decimal(0))
            if amount > 10 and money_rng.random() < 0.1:
                amount -= Decimal("1.95")  # a return fee kept back
            paid_at = ident.created_at + timedelta(minutes=2)
        elif status in {"accepted", "partly_accepted"}:
            amount = sum((_due(item) for item in items if item["status"] == "accepted"), Decimal(0))
            if amount > 10 and rng.random() < 0.15:
                amount -= Decimal("5.00")  # a deduction for damaged packaging: a partial refund
            paid_at = ident.updated_at
        else:
            return []
        if amount <= 0:
            return []
        method = "bank_transfer" if instant else rng.choice(("store_credit", "original_payment_method"))
        return [
            {
                "id": f"r-{uuid.UUID(int=rng.getrandbits(128), version=4)}",
                "method": method,
                "amount": money(amount),
                "currency": currency,
                "status": "completed",
                "refunded_at": iso(paid_at),
            }
        ]


def _discount(rng: random.Random, item: dict[str, Any]) -> None:
    """One line in six was bought on offer: the customer paid less than the list price."""
    if rng.random() >= 1 / 6:
        return
    off = rng.choice((Decimal("0.10"), Decimal("0.15"), Decimal("0.25")))
    total = (Decimal(item["price"]) * item["quantity"] * (1 - off)).quantize(CENT, rounding=ROUND_HALF_UP)
    item["total"] = money(total)
    if "tax_rate" in item:
        rate = Decimal(item["tax_rate"])
        item["tax"] = money(total * rate / (100 + rate))


def _price_exchange(rng: random.Random, item: dict[str, Any]) -> None:
    """The new item's price; one exchange in three is for a different product, dearer or cheaper."""
    swap = PRODUCTS_BY_SKU[item["exchange"]["sku"]]
    if rng.random() < 1 / 3:
        swap = rng.choice([p for p in PRODUCTS if p.price != swap.price and not p.discontinued and p.tax_rate])
        item["exchange"] |= {"sku": swap.sku, "ean": swap.ean}
    item["exchange"]["price"] = money(swap.price)


def _due(item: dict[str, Any]) -> Decimal:
    """What Reveni owes the customer for an item: what was paid, less an exchange item's price."""
    paid = Decimal(item["total"])
    if item["exchange"] is None:
        return paid
    swapped = Decimal(item["exchange"]["price"]) * int(item["exchange"]["quantity"])
    return max(paid - swapped, Decimal(0))


def _top_ups(ident: Identity, items: list[dict[str, Any]], currency: str) -> list[dict[str, Any]]:
    """What the customer paid on top for dearer exchange items, when they chose them."""
    extra = sum(
        (
            max(Decimal(i["exchange"]["price"]) * i["exchange"]["quantity"] - Decimal(i["total"]), Decimal(0))
            for i in items
            if i["exchange"] is not None
        ),
        Decimal(0),
    )
    if extra <= 0:
        return []
    return [
        {
            "id": f"p-{ident.id[:8]}",
            "amount": money(extra),
            "currency": currency,
            "status": "completed",
            "paid_at": iso(ident.created_at + timedelta(minutes=1)),
        }
    ]


def _exchanged(kind: str, position: int) -> bool:
    return kind == "exchange" or (kind == "mixed" and position == 0)


def _verdict(status: str, position: int) -> str:
    """The warehouse's verdict on an item, consistent with the return's status."""
    if status == "accepted" or (status in {"for_review", "partly_accepted"} and position == 0):
        return "accepted"
    if status in {"rejected", "partly_accepted"}:
        return "rejected"
    return "pending"
