"""The demo client's products, customers and return reasons.

Both sandboxes draw on this one catalogue, so the Reveni returns they serve refer to
stock codes, customers and orders that the Khaos Control sandbox also knows. A few
entries are deliberately awkward: a stock code Khaos has since renamed, an item Khaos
has discontinued, a product with no tax rate in Reveni, and a reason code that no rule
set maps yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Product:
    sku: str  # the code Reveni knows the product by (copied from the web shop)
    ean: str
    name: str
    price: Decimal  # unit price including tax, in GBP
    tax_rate: str | None  # percentage string as Reveni sends it; None when Reveni has none
    renamed_to: str | None = None  # Khaos has since changed the stock code to this
    discontinued: bool = False  # Khaos has discontinued the stock item
    exchange_for: str | None = None  # the SKU a customer would swap this for


PRODUCTS: tuple[Product, ...] = (
    Product("TEE-BLK-S", "5056000000010", "Logo tee black S", Decimal("24.00"), "20.00", exchange_for="TEE-BLK-M"),
    Product("TEE-BLK-M", "5056000000017", "Logo tee black M", Decimal("24.00"), "20.00", exchange_for="TEE-BLK-L"),
    Product("TEE-BLK-L", "5056000000024", "Logo tee black L", Decimal("24.00"), "20.00", exchange_for="TEE-BLK-M"),
    Product(
        "HOOD-GRY-M",
        "5056000000031",
        "Hoodie grey M",
        Decimal("59.99"),
        "20.00",
        renamed_to="HOODIE-GREY-M",
        exchange_for="HOOD-GRY-L",
    ),
    Product("HOOD-GRY-L", "5056000000048", "Hoodie grey L", Decimal("59.99"), "20.00", exchange_for="HOOD-GRY-M"),
    Product(
        "JEAN-IND-32", "5056000000055", "Slim jeans indigo 32", Decimal("79.50"), "20.00", exchange_for="JEAN-IND-34"
    ),
    Product(
        "JEAN-IND-34", "5056000000062", "Slim jeans indigo 34", Decimal("79.50"), "20.00", exchange_for="JEAN-IND-32"
    ),
    Product("KIDS-TEE-7", "5056000000079", "Kids tee age 7-8", Decimal("12.00"), "0.00", exchange_for="KIDS-TEE-9"),
    Product("KIDS-TEE-9", "5056000000086", "Kids tee age 9-10", Decimal("12.00"), "0.00", exchange_for="KIDS-TEE-7"),
    Product("SCARF-WOOL-RED", "5056000000093", "Wool scarf red", Decimal("35.00"), "20.00", discontinued=True),
    Product("CANDLE-FIG", "5056000000109", "Fig candle", Decimal("18.25"), None),
    Product("BOOK-GUIDE", "5056000000116", "Care guide (book)", Decimal("9.99"), "0.00"),
)

PRODUCTS_BY_SKU: dict[str, Product] = {p.sku: p for p in PRODUCTS}


@dataclass(frozen=True)
class Customer:
    urn: str  # Khaos Control customer account code
    first_name: str
    last_name: str
    line1: str
    city: str
    postcode: str
    country_code: str


CUSTOMERS: tuple[Customer, ...] = (
    Customer("CUST0001", "Ana", "Ruiz", "12 High Street", "Leeds", "LS1 4AP", "GB"),
    Customer("CUST0002", "José", "Núñez", "4 Calle Mayor", "Madrid", "28013", "ES"),
    Customer("CUST0003", "Zoë", "Brontë", "9 Haworth Lane", "Keighley", "BD22 8DR", "GB"),
    Customer("CUST0004", "Łukasz", "Wójcik", "ul. Długa 5", "Gdańsk", "80-827", "PL"),
    Customer("CUST0005", "Siobhán", "Ó Briain", "22 Quay Street", "Galway", "H91 E2X8", "IE"),
    Customer("CUST0006", "花子", "山田", "1-2-3 Shibuya", "Tokyo", "150-0002", "JP"),
    Customer("CUST0007", "Chloé", "Dubois", "8 Rue de Rivoli", "Paris", "75004", "FR"),
    Customer("CUST0008", "Oliver", "Bennett-Smythe", "Flat 3, 101 Longbridge Road", "Birmingham", "B31 2TW", "GB"),
    Customer(
        "CUST0009", "Amelia", "Clarke", "The Old Rectory, Church Lane, Much Wenlock", "Much Wenlock", "TF13 6AA", "GB"
    ),
    Customer("CUST0010", "Mia", "Schäfer", "Königstraße 14", "Stuttgart", "70173", "DE"),
    Customer("CUST0011", "Dylan", "O'Connor", "17 Pearse Street", "Dublin", "D02 YX88", "IE"),
    Customer("CUST0012", "Priya", "Patel", "55 Belgrave Road", "Leicester", "LE4 6AR", "GB"),
)

CURRENCY_BY_COUNTRY: dict[str, str] = {
    "GB": "GBP",
    "ES": "EUR",
    "IE": "EUR",
    "FR": "EUR",
    "DE": "EUR",
    "PL": "EUR",
    "JP": "USD",
}

# Codes the demo merchant configured in Reveni. "colour_not_as_pictured" was added in
# Reveni later and no rule set maps it yet: it exercises the unknown-reason exception.
RETURN_REASONS: tuple[tuple[str, str], ...] = (
    ("size_too_small", "Too small"),
    ("size_too_large", "Too large"),
    ("faulty", "Faulty or damaged"),
    ("not_as_described", "Not as described"),
    ("changed_mind", "Changed my mind"),
    ("arrived_late", "Arrived too late"),
    ("wrong_item", "Wrong item sent"),
)
UNMAPPED_REASON: tuple[str, str] = ("colour_not_as_pictured", "Colour not as pictured")

REJECT_REASONS: tuple[tuple[str, str], ...] = (
    ("defect", "Customer damage: torn seam"),
    ("used", "Worn and washed"),
    ("missing", "Item not in parcel"),
)

CARRIERS: tuple[str, ...] = ("Evri", "Royal Mail", "DPD", "InPost")
