"""Every kind of exception the integration raises, in one place: the `Kind` enum.

A kind is one member of `Kind`: its name as stored and shown, its default owner and
severity, the heading a person sees, the suggested fix, and the role page in `docs/` whose
table explains it. A client's `rules.yml` may override the owner or severity of the kinds
it names, nothing else (`exception_routing.Routing`); every exception is raised through
`ExceptionLog.raise_exception`, which takes a `Kind`, so mypy checks each place that
raises one. Adding a kind means adding one member below and a row for it in its page's
table (tests/test_exception_kinds.py fails otherwise).
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class Owner(StrEnum):
    """Who fixes an exception: finance, the warehouse, customer experience (CX) or the integration."""

    FINANCE = "finance"
    WAREHOUSE = "warehouse"
    CX = "cx"
    INTEGRATION = "integration"


class Severity(StrEnum):
    """How urgent an exception is, before the money at stake grades it."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


FINANCE, WAREHOUSE, CX, INTEGRATION = Owner
LOW, MEDIUM, HIGH = Severity


class _Entry(NamedTuple):
    """One kind's data, as written below."""

    name: str
    owner: Owner
    severity: Severity
    heading: str  # what a person sees: the kind in the owner's words
    suggested_fix: str
    doc: str  # the page (under docs/) whose exceptions table has a row for this kind
    holds: bool = True  # keeps its item (or return) from Khaos; False: a flag, the item goes but waits for approval


class Kind(StrEnum):
    """A kind of exception; the member is its stored name (`Kind.SKU_NOT_FOUND == "sku_not_found"`)
    and carries its default owner and severity, heading, suggested fix and doc page."""

    _value_: str
    owner: Owner
    severity: Severity
    heading: str
    suggested_fix: str
    doc: str
    holds: bool

    def __new__(
        cls, name: str, owner: Owner, severity: Severity, heading: str, suggested_fix: str, doc: str, holds: bool = True
    ) -> Kind:
        """A member from its entry below: the stored name is its value, the rest its attributes."""
        member = str.__new__(cls, name)
        member._value_ = name
        member.owner, member.severity, member.heading = owner, severity, heading
        member.suggested_fix, member.doc, member.holds = suggested_fix, doc, holds
        return member

    # From the rules, one return at a time.
    INVALID_RECORD = _Entry(
        "invalid_record",
        INTEGRATION,
        HIGH,
        "A Reveni return cannot be read",
        "Check the record in Reveni; if it is complete, raise it with the integration team.",
        "integration.md",
    )
    UNKNOWN_REASON = _Entry(
        "unknown_reason",
        CX,
        HIGH,
        "A return reason no rule maps",
        "Decide the Khaos return reason and disposition for this Reveni reason, add a rule, then replay.",
        "cx.md",
    )
    UNMAPPED_DISPOSITION = _Entry(
        "unmapped_disposition",
        WAREHOUSE,
        HIGH,
        "A known reason with a verdict no rule covers",
        "Add a reason rule for this verdict (or drop the narrowing), then replay.",
        "warehouse.md",
    )
    MISSING_TAX_CODE = _Entry(
        "missing_tax_code",
        FINANCE,
        HIGH,
        "A line without a Khaos tax code",
        "Fix the product's tax rate in Reveni, or map the rate to a Khaos tax code in the rules.",
        "finance.md",
    )
    VALUE_MISMATCH = _Entry(
        "value_mismatch",
        FINANCE,
        MEDIUM,
        "Reveni's tax on a line is not its rate's share",
        "Check the line's tax in Reveni; approve the credit in Khaos only once the figures agree.",
        "finance.md",
        holds=False,
    )
    REFUND_CREDIT_DIFFERENCE = _Entry(
        "refund_credit_difference",
        FINANCE,
        HIGH,
        "Reveni's refund and the credit Khaos is asked for differ",
        "Compare the refund in Reveni with the credit in Khaos; make the credit equal the refund before "
        "approving it (the message says by how much and why).",
        "finance.md",
        holds=False,
    )
    VAT_RATE_MISMATCH = _Entry(
        "vat_rate_mismatch",
        FINANCE,
        HIGH,
        "Reveni's VAT rate is not Khaos's rate for the stock item",
        "Correct the tax rate of the product in Reveni or of the stock item in Khaos, then replay.",
        "finance.md",
    )
    NET_PRICE_PENNY = _Entry(
        "net_price_penny",
        FINANCE,
        MEDIUM,
        "No net price gives the paid gross to the penny",
        "Adjust the line by the penny in Khaos before approving the credit, or send gross prices.",
        "finance.md",
        holds=False,
    )
    SKU_NOT_FOUND = _Entry(
        "sku_not_found",
        WAREHOUSE,
        HIGH,
        "A SKU with no Khaos stock item",
        "Find the current stock code and add an alias to the rules, then replay.",
        "warehouse.md",
    )
    SKU_DISCONTINUED = _Entry(
        "sku_discontinued",
        WAREHOUSE,
        MEDIUM,
        "A discontinued Khaos stock item",
        "Name a replacement stock code in the rules, or credit the line by hand in Khaos.",
        "warehouse.md",
    )
    SKU_RENAMED_NEEDS_REVIEW = _Entry(
        "sku_renamed_needs_review",
        WAREHOUSE,
        MEDIUM,
        "A stock code Khaos renamed",
        "Confirm the new stock code and add it as an alias in the rules, then replay.",
        "warehouse.md",
    )
    CUSTOMER_NOT_FOUND = _Entry(
        "customer_not_found",
        CX,
        HIGH,
        "A customer with no Khaos account (URN)",
        "Create or find the customer's account in Khaos and add the URN to the rules' table.",
        "cx.md",
    )
    SOURCE_ORDER_NOT_FOUND = _Entry(
        "source_order_not_found",
        CX,
        HIGH,
        "An order with no Khaos sales order reference",
        "Find the original sales order in Khaos and check the order reference template.",
        "cx.md",
    )
    RULE_TEMPLATE_FAILED = _Entry(
        "rule_template_failed",
        INTEGRATION,
        HIGH,
        "A rules template that failed or was stopped by its limits",
        "Fix the template the message names, at the file and line it gives, validate, then replay.",
        "integration.md",
    )
    CUSTOMER_NAME_MISSING = _Entry(
        "customer_name_missing",
        CX,
        HIGH,
        "A customer with neither forename nor surname",
        "Add the customer's name to the return in Reveni; it follows on the next sync.",
        "cx.md",
    )
    FIELD_TOO_LONG = _Entry(
        "field_too_long",
        CX,
        MEDIUM,
        "A name or address longer than Khaos allows",
        "Shorten the customer's details in Reveni (or in Khaos after import); "
        "with `field_lengths: hold` the return waits until they fit.",
        "cx.md",
        holds=False,  # cut to fit by default; `field_lengths: hold` makes it hold the return
    )
    # From the store, judging a later version against what Khaos already holds (after_pull).
    KHAOS_CREDIT_DIFFERENCE = _Entry(
        "khaos_credit_difference",
        FINANCE,
        HIGH,
        "Cash and what Khaos holds differ after Khaos pulled the return",
        "Move Khaos by exactly the difference on the reference the message names (raise a credit for it, or "
        "reverse it); never credit again what Khaos already holds.",
        "finance.md",
        holds=False,
    )
    REFUND_REVERSED_AFTER_POSTING = _Entry(
        "refund_reversed_after_posting",
        FINANCE,
        HIGH,
        "A refund Reveni reversed after Khaos took the credit",
        "Reverse the amount the message names on the named reference (or reduce it before approving it); "
        "credit nothing again.",
        "finance.md",
        holds=False,
    )
    CHARGEBACK_AFTER_POSTING = _Entry(
        "chargeback_after_posting",
        FINANCE,
        HIGH,
        "A refund charged back after Khaos took the credit",
        "Confirm the chargeback with the payment provider, then reverse the amount the message names on the "
        "named reference; credit nothing again.",
        "finance.md",
        holds=False,
    )
    CANCELLED_AFTER_POSTING = _Entry(
        "cancelled_after_posting",
        CX,
        HIGH,
        "A return cancelled in Reveni after Khaos pulled it",
        "Ask the customer whether the goods are coming back and tell the warehouse; any money difference is "
        "finance's own exception. Never credit the return again.",
        "cx.md",
        holds=False,
    )
    GRADED_AFTER_PULL = _Entry(
        "graded_after_pull",
        WAREHOUSE,
        HIGH,
        "A grade after Khaos pulled the item as return to stock",
        "Before anyone processes the Khaos return the message names, change the item's line to the "
        "disposition it names (or move the stock out if Khaos already processed it).",
        "warehouse.md",
        holds=False,
    )
    # From the channel, on what Khaos pushes.
    KHAOS_PUSH_REJECTED = _Entry(
        "khaos_push_rejected",
        INTEGRATION,
        MEDIUM,
        "An entry Khaos pushed that the channel cannot keep",
        "Look at the entry in Khaos (the message names it and the field); once Khaos pushes it readable, "
        "this resolves itself.",
        "integration.md",
        holds=False,  # about what Khaos pushed, not a return
    )
    UNKNOWN_CONTINUATION = _Entry(
        "unknown_continuation",
        INTEGRATION,
        HIGH,
        "Khaos pulled with a continuation the channel never gave out",
        "Nothing was skipped: the channel served again from the last place Khaos is known to have reached. "
        "Khaos refuses a return it already has by its AssociatedRef: leave such failed downloads as they are. "
        "Find out why: a store restored from a backup, or another channel's address set in Khaos.",
        "integration.md",
        holds=False,  # about the feed, not a return
    )
    # From the store, comparing a version with the one it holds.
    STATUS_MOVED_BACKWARDS = _Entry(
        "status_moved_backwards",
        CX,
        MEDIUM,
        "A return whose Reveni status went backwards",
        "Check the return in Reveni: correct its status there, or credit or hold it by hand in Khaos.",
        "cx.md",
    )
    # From the reconciliation, against Khaos's credit notes.
    KHAOS_IMPORT_FAILED = _Entry(
        "khaos_import_failed",
        INTEGRATION,
        HIGH,
        "Khaos could not import a return",
        "Open the failed download in Khaos: fix what it names, then retry the import there.",
        "integration.md",
        holds=False,
    )
    NOT_COLLECTED_BY_KHAOS = _Entry(
        "not_collected_by_khaos",
        INTEGRATION,
        HIGH,
        "A refunded return Khaos has not collected or credited",
        "Check the channel in Khaos is enabled and its config URL and password are right.",
        "integration.md",
        holds=False,
    )
    HELD_TOO_LONG = _Entry(
        "held_too_long",
        INTEGRATION,
        HIGH,
        "A refunded return held back too long",
        "Look at why the return is held (its rules or its status) and release or resolve it.",
        "integration.md",
        holds=False,
    )
    REFUND_WITHOUT_CREDIT_NOTE = _Entry(
        "refund_without_credit_note",
        FINANCE,
        HIGH,
        "A refund nothing will credit in Khaos",
        "Check why every item was rejected or left out; credit by hand in Khaos or recover the refund.",
        "finance.md",
        holds=False,
    )
    CREDIT_NOTE_WITHOUT_REFUND = _Entry(
        "credit_note_without_refund",
        FINANCE,
        HIGH,
        "A credit note with no refund in Reveni",
        "Check the refund in Reveni; if the customer will not be refunded, reverse the credit note in Khaos.",
        "finance.md",
        holds=False,
    )
    AMOUNT_DIFFERENCE = _Entry(
        "amount_difference",
        FINANCE,
        HIGH,
        "A credit note that does not equal the refund",
        "Correct the credit note in Khaos to what Reveni refunded, or record why they differ.",
        "finance.md",
        holds=False,
    )
    CURRENCY_MISMATCH = _Entry(
        "currency_mismatch",
        FINANCE,
        HIGH,
        "A credit note in another currency than the refund",
        "Reverse the credit note and credit the return in its own currency.",
        "finance.md",
        holds=False,
    )
    DUPLICATE_CREDIT_NOTE = _Entry(
        "duplicate_credit_note",
        FINANCE,
        HIGH,
        "Credit notes that add up to more than the refund",
        "Find the credit note that repeats another (same items, same amount) and cancel only that one; "
        "credit notes that together make up the refund are right.",
        "finance.md",
        holds=False,
    )
    CREDIT_NOTE_VAT_SPLIT = _Entry(
        "credit_note_vat_split",
        FINANCE,
        HIGH,
        "A credit note whose VAT is not the stock items' rate",
        "Correct the VAT of the credit note in Khaos (its gross stays as it is), or the stock item's tax rate.",
        "finance.md",
        holds=False,
    )
    CREDIT_NOTE_UNKNOWN_REFERENCE = _Entry(
        "credit_note_unknown_reference",
        FINANCE,
        MEDIUM,
        "A credit note for a reference this integration never sent",
        "Check who raised it (by hand, another channel) and that it is not also credited through Reveni.",
        "finance.md",
        holds=False,
    )


KINDS: dict[str, Kind] = {kind.value: kind for kind in Kind}  # by the name stored and shown


def kind(name: str) -> Kind:
    """The registered kind; an unregistered name is a programming error, raised loudly."""
    try:
        return KINDS[name]
    except KeyError:
        msg = f"exception kind {name!r} is not registered in target_khaos_control.exception_kinds.Kind"
        raise KeyError(msg) from None


def suggested_fix(name: str) -> str:
    """The registry's fix for a kind, in its owner's words; empty for an unknown kind."""
    found = KINDS.get(name)
    return found.suggested_fix if found else ""
