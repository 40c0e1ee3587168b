"""The header of the Khaos document a return becomes: customer, addresses, order, notes.

Khaos requires a customer (URN), a source sales order, an invoice address with a first
line, town and country, and a forename or surname; each missing one is an exception that
holds the return. Text is cut to Khaos's lengths with an exception, or held, as the rules say.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from msgspec import UNSET

from target_khaos_control import reveni
from target_khaos_control.documents import Draft, address, khaos_datetime, text, xml_safe
from target_khaos_control.exception_kinds import Kind
from target_khaos_control.khaos_documents import (
    Address,
    Contact,
    CustomerReturn,
    DataItem,
    KhaosDocument,
    max_lengths,
    too_long,
)
from target_khaos_control.reveni import Return, required, sent
from target_khaos_control.rules.template_context import Variables

if TYPE_CHECKING:
    from target_khaos_control.rules.engine import RuleSet


class DocumentHeader:
    """The header side of one return's evaluation: who returns, from which order, to which address."""

    rules: RuleSet
    record: Return
    draft: Draft

    def _header(self, variables: Variables) -> None:
        record, rules, draft = self.record, self.rules, self.draft
        customer = required(record.customer, "customer")
        urn = rules.urn(variables)
        if not urn or urn == "None":
            draft.problems.append(
                rules.problem(
                    Kind.CUSTOMER_NOT_FOUND,
                    f"No Khaos customer (URN) for the customer of "
                    f"order {self._order_number()}: add them to the rules' tables",
                )
            )
        order_ref = rules.source_order(variables)
        if not order_ref or order_ref == "None":
            draft.problems.append(
                rules.problem(
                    Kind.SOURCE_ORDER_NOT_FOUND, f"Order {self._order_number()} has no Khaos sales order reference"
                )
            )
        draft.source_order = {rules.source_order_key: order_ref}
        first, last, email = customer.first_name, customer.last_name, customer.email  # typed: text, None or unset
        invoice, contact, fit = parties(customer.address or None, first, last, email)
        if not (invoice.Line1 and invoice.Town and invoice.Country.Code):
            draft.problems.append(
                rules.problem(
                    Kind.INVALID_RECORD,
                    f"The address on order {self._order_number()} "
                    "lacks a first line, a town or a country, which Khaos requires",
                )
            )
        if not ((first or "").strip() or (last or "").strip()):
            # "Either forename or surname must be filled in" (Khaos's README): held, never imported half-made.
            draft.problems.append(
                rules.problem(
                    Kind.CUSTOMER_NAME_MISSING,
                    f"The customer of order {self._order_number()} has neither a first name nor a surname",
                )
            )
        if not fit:  # most returns: every field fits, and `too_long` is not asked
            found = too_long(invoice)
            if found:
                self._fit("InvoiceAddress", invoice, found)
            found = too_long(contact)
            if found:
                self._fit("InvoiceContact", contact, found)
        # SalesSource and Brand "do not support matching by Code" (README L449, L452).
        by = rules.names_by
        draft.header = CustomerReturn(
            AssociatedRef="",  # each document's own, with its items (Draft.document)
            CreatedDate=khaos_datetime(required(record.created_at, "created_at")),
            URN=xml_safe(urn),
            InvoiceAddress=invoice,
            InvoiceContact=contact,
            SalesSource=named(by, xml_safe(rules.sales_source(variables))) if rules.sales_source else None,
            Brand=named(by, xml_safe(rules.brand(variables))) if rules.brand else None,
            Notes=text(rules.notes(variables)) if rules.notes else None,
            ReturnedItems=[],
            ProcessReturn=False,
        )

    def _order_number(self) -> str | None:
        """The order number a message names: as the rules always read it, the return's order must be there."""
        number = required(self.record.order, "order").number
        if number is UNSET:
            raise KeyError("number")
        return sent(number)

    def _fit(self, name: str, fields: KhaosDocument, found: list[tuple[str, int]]) -> None:
        """Khaos's maximum lengths (the fields `too_long` found): cut to fit with an exception, or hold the return."""
        hold = self.rules.field_lengths == "hold"
        for part, most in found:
            value = getattr(fields, part)
            if not hold:
                setattr(fields, part, value[:most].rstrip())
            self.draft.problems.append(
                self.rules.problem(
                    Kind.FIELD_TOO_LONG,
                    f"{name}.{part} is {len(value)} characters; Khaos allows {most}: "
                    + ("the return waits until it is shortened" if hold else f"sent as {getattr(fields, part)!r}"),
                    hold=hold,
                    details={"field": f"{name}.{part}", "length": len(value), "limit": most},
                    part=f"{name}.{part}",
                )
            )


def named(by: str, name: str) -> DataItem:
    """`DataItem(**{by: name})`: by Name, as most rule sets name them, without the dict (several times quicker)."""
    return DataItem(Name=name) if by == "Name" else DataItem(**{by: name})


# Khaos's limits of the text fields `parties` fills (the rest of an Address or Contact stays None).
_ADDRESS, _CONTACT = max_lengths(Address), max_lengths(Contact)
_LINE1, _LINE2, _TOWN, _POSTCODE, _EMAIL = (_ADDRESS[f] for f in ("Line1", "Line2", "Town", "Postcode", "Email"))
_FORENAME, _SURNAME, _CONTACT_EMAIL = (_CONTACT[f] for f in ("Forename", "Surname", "Email"))
_NO_ADDRESS = reveni.Address()  # a return without an address: every line empty, as `address` reads it (never changed)


def parties(
    given: reveni.Address | None, first: reveni.Maybe[str], last: reveni.Maybe[str], email: reveni.Maybe[str]
) -> tuple[Address, Contact, bool]:
    """The invoice address and contact (`address`, and a Contact of the customer's names and
    email, each through `text`), and whether every field fits Khaos's lengths (`too_long`
    finds none in either). Text with nothing XML forbids, as most is, takes a shortcut."""
    fields = given or _NO_ADDRESS
    line1, line2, town = fields.line1 or "", fields.line2 or "", fields.city or ""
    postcode, country = fields.postcode or "", fields.country_code or ""
    forename = first if type(first) is str else None  # `sent`: left out or null reads None
    surname = last if type(last) is str else None
    mail = email if type(email) is str else None
    # Every forbidden character is unprintable, so printable text is what `text` and `xml_safe` return.
    if (line1 + line2 + town + postcode + country + (forename or "") + (surname or "") + (mail or "")).isprintable():
        invoice = Address(
            Line1=line1,
            Line2=line2 or None,
            Town=town,
            Postcode=postcode or None,
            Country=DataItem(Code=country),
            Email=mail or None,
        )
        contact = Contact(Forename=forename, Surname=surname, Email=mail)
    else:
        invoice = address(given, email or "")
        contact = Contact(Forename=text(sent(first)), Surname=text(sent(last)), Email=text(sent(email)))
    # The only text fields set above: the rest stay None, so `too_long` would find none of them.
    fit = (
        len(invoice.Line1) <= _LINE1
        and len(invoice.Line2 or "") <= _LINE2
        and len(invoice.Town) <= _TOWN
        and len(invoice.Postcode or "") <= _POSTCODE
        and len(invoice.Email or "") <= _EMAIL
        and len(contact.Forename or "") <= _FORENAME
        and len(contact.Surname or "") <= _SURNAME
        and len(contact.Email or "") <= _CONTACT_EMAIL
    )
    return invoice, contact, fit
