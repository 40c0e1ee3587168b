"""The JSON Schema of a Reveni return, as `shared/spec/reveni-api.md` describes it.

Money stays a decimal string exactly as Reveni sends it ("24.00"): a float would lose
pennies before finance ever sees the figure.
"""

from __future__ import annotations

from singer_sdk import typing as th

Money = th.StringType(pattern=r"^-?[0-9]+(\.[0-9]+)?$")

# The values Reveni's API lists ([public], shared/spec/reveni-api.md); null: not said.
TYPES = ["refund", "exchange", "mixed", None]
STATUSES = [
    "in_progress",
    "shipped",
    "received",
    "for_review",
    "accepted",
    "partly_accepted",
    "rejected",
    "cancelled",
    None,
]
VERDICTS = ["pending", "accepted", "rejected", None]

ADDRESS = th.ObjectType(
    th.Property("line1", th.StringType),
    th.Property("line2", th.StringType),
    th.Property("city", th.StringType),
    th.Property("postcode", th.StringType),
    th.Property("country_code", th.StringType),
)

CUSTOMER = th.ObjectType(
    th.Property("id", th.StringType),
    th.Property("email", th.StringType),
    th.Property("first_name", th.StringType),
    th.Property("last_name", th.StringType),
    th.Property("address", ADDRESS),
)

RETURN_ITEM = th.ObjectType(
    th.Property("id", th.StringType, required=True),
    th.Property("sku", th.StringType),
    th.Property("ean", th.StringType),
    th.Property("name", th.StringType),
    th.Property("quantity", th.IntegerType),
    th.Property("price", Money, description="Unit price including tax"),
    th.Property("tax_rate", Money, description="Percentage; missing when Reveni has none"),
    th.Property("tax", Money, description="Tax included in the line total"),
    th.Property("total", Money),
    th.Property(
        "return_reason",
        th.ObjectType(
            th.Property("code", th.StringType),
            th.Property("label", th.StringType),
        ),
    ),
    th.Property(
        "exchange",
        th.ObjectType(
            th.Property("sku", th.StringType),
            th.Property("ean", th.StringType),
            th.Property("quantity", th.IntegerType),
            th.Property("price", Money, description="[model] unit price of the new item, including tax"),
        ),
        description="The item the customer takes instead; null for a refund",
    ),
    th.Property("status", th.StringType(allowed_values=VERDICTS), description="Warehouse verdict"),
    th.Property("reject_reason", th.StringType),
    th.Property("reject_reason_text", th.StringType),
)

REFUND = th.ObjectType(
    th.Property("id", th.StringType),
    th.Property("method", th.StringType),
    th.Property("amount", Money),
    th.Property("currency", th.StringType),
    th.Property("status", th.StringType),
    th.Property("refunded_at", th.DateTimeType),
)

# [model] What the customer paid on top for a dearer exchange item.
EXCHANGE_PAYMENT = th.ObjectType(
    th.Property("id", th.StringType),
    th.Property("amount", Money),
    th.Property("currency", th.StringType),
    th.Property("status", th.StringType),
    th.Property("paid_at", th.DateTimeType),
)

RETURN = th.PropertiesList(
    th.Property("id", th.StringType, required=True),
    th.Property(
        "order",
        th.ObjectType(
            th.Property("external_id", th.StringType),
            th.Property("number", th.StringType),
        ),
    ),
    th.Property("customer", CUSTOMER),
    th.Property("type", th.StringType(allowed_values=TYPES), description="refund, exchange or mixed"),
    th.Property("instant", th.BooleanType, description="Refunded before the goods are back"),
    th.Property("status", th.StringType(allowed_values=STATUSES)),
    th.Property("refund_method", th.StringType),
    th.Property("currency", th.StringType),
    th.Property("total", Money),
    th.Property("return_items", th.ArrayType(RETURN_ITEM)),
    th.Property("refunds", th.ArrayType(REFUND)),
    th.Property("exchange_payments", th.ArrayType(EXCHANGE_PAYMENT)),
    th.Property(
        "shipping",
        th.ObjectType(
            th.Property("carrier", th.StringType),
            th.Property("tracking_number", th.StringType),
        ),
    ),
    th.Property("created_at", th.DateTimeType),
    th.Property("updated_at", th.DateTimeType, required=True),
)
