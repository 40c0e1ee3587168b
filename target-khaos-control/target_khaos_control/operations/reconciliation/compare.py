"""Comparing, return by return: Reveni's cash against the credit notes Khaos posted.

The cash is the truth: a return matches only when its credit notes add up, per currency,
to exactly what Reveni paid out (completed refunds, less any exchange top-up the customer
paid). Our own documents are never the yardstick; they only say why a credit note is
missing (held, not pulled, not processed, failed) and which VAT Khaos should have taken.

- Credit notes are summed per return and currency. Two notes that add up to the cash are
  a match; a sum beyond the cash over two or more notes is a `duplicate_credit_note`.
- A refund paid in another currency than the return's is a `currency_mismatch`, counted
  in its own currency's totals, never "no refund".
- A credit note's Net and Tax are checked against the VAT of the stock items (the rates
  Khaos takes): a wrong split is a `credit_note_vat_split`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from target_khaos_control.exception_kinds import KINDS
from target_khaos_control.operations.reconciliation.gaps import Gap
from target_khaos_control.operations.reconciliation.read import CreditNote
from target_khaos_control.operations.reconciliation.report import Report, ReturnLine, Tally
from target_khaos_control.operations.reconciliation.returns import StoredReturns, known_references
from target_khaos_control.refunded import completed, currency_of, is_amount, paid_out, total
from target_khaos_control.rules.catalogue import Catalogue
from target_khaos_control.states import HELD, PUBLISHED, RE_REQUESTED, SENT, SUPERSEDED, ExceptionStatus
from target_khaos_control.store import exceptions
from target_khaos_control.times import utc

PENNY = Decimal("0.01")
ZERO = Decimal("0.00")  # one object for every return: a Decimal never changes
NO_NOTES: tuple[CreditNote, ...] = ()
STORE_CREDIT = ("store_credit", "gift_card")  # liabilities, not cash: kept apart at month-end


def reconcile(
    conn: Connection,
    notes: list[CreditNote],
    *,
    now: datetime,
    unconfirmed_after: timedelta,
    hold_days: int = 14,
    progress: Any = None,
    tax_rates: dict[str, Decimal] | None = None,
    rejected: list[str] | None = None,
    repeated: list[str] | None = None,
) -> Report:
    """Every return the store knows against `notes`; `tax_rates` (Khaos tax code -> rate)
    lets the VAT split be checked against the stock items' rates."""
    by_ref: dict[str, list[CreditNote]] = defaultdict(list)
    for note in notes:
        by_ref[note.associated_ref].append(note)
    known_refs = known_references(conn, by_ref)
    holding = [name for name, kind in KINDS.items() if kind.holds]
    waiting = set(  # returns with items held back from Khaos: their own exceptions say why
        conn.execute(
            sa.select(exceptions.c.return_id).where(
                exceptions.c.status == ExceptionStatus.OPEN, exceptions.c.kind.in_(holding)
            )
        ).scalars()
    )
    vat = StockVat(Catalogue.read(conn), tax_rates or {})
    # Only a credit note with its Tax has its VAT checked: without one, no items or bodies are read.
    stored = StoredReturns(conn, with_vat=any(note.tax is not None for note in notes))
    lines, tally = [], Tally()
    for record, return_id, docs in progress(stored) if progress else stored:
        line = compare(
            record,
            docs,
            by_ref,
            now=now,
            unconfirmed_after=unconfirmed_after,
            waiting=return_id in waiting,
            vat=vat,
        )
        if line is None:
            continue
        if line.gaps:
            line.hold_days = hold_days
            lines.append(line)
        else:
            tally.add(line)  # a return without a gap is counted, not kept: memory stays flat
    unknown = [note for ref, group in by_ref.items() if ref not in known_refs for note in group]
    matched = [note for ref, group in by_ref.items() if ref in known_refs for note in group]
    return Report(now.isoformat(timespec="seconds"), lines, unknown, matched, rejected or [], repeated or [], tally)


@dataclass
class StockVat:
    """The VAT Khaos takes on a document's lines: its stock item's rate, else Reveni's."""

    catalogue: Catalogue
    tax_rates: dict[str, Decimal]
    reveni_rates: dict[str, Decimal] = field(default_factory=dict)
    of_cash: bool = False  # also the VAT in the cash (the close's export); else only to check credit notes

    def rate(self, sku: str) -> Decimal | None:
        """The VAT rate of a SKU: its Khaos stock item's tax code, else Reveni's rate; None when unknown."""
        item = self.catalogue.current(sku)
        if item is not None and item.tax_code in self.tax_rates:
            return self.tax_rates[item.tax_code]
        if sku in self.reveni_rates:
            return self.reveni_rates[sku]
        # A stock code the rules renamed (an alias): the return's rate, if it has only one.
        rates = set(self.reveni_rates.values())
        return rates.pop() if len(rates) == 1 else None

    def expected(self, body: str) -> tuple[Decimal, Decimal, int] | None:
        """(gross, VAT, lines) Khaos should post for a document; None if a rate is unknown."""
        try:
            document = json.loads(body)
        except ValueError:
            return None
        gross = tax = Decimal(0)
        parts = 0
        for key, sign in (("ReturnedItems", 1), ("ExchangeItems", -1)):
            for part in document.get(key) or []:
                rate = self.rate(str(part.get("SKU", "")))
                price, quantity = part.get("UnitPrice") or {}, int(part.get("Quantity") or 0)
                if rate is None or not price:
                    return None
                if "Gross" in price:
                    line_gross = Decimal(str(price["Gross"])) * quantity
                    line_tax = line_gross - _round(line_gross * 100 / (100 + rate))
                else:
                    net = _round(Decimal(str(price["Net"])) * quantity)
                    line_tax = _round(net * rate / 100)
                    line_gross = net + line_tax
                gross += sign * line_gross
                tax += sign * line_tax
                parts += 1
        return gross, tax, parts


def compare(
    record: Mapping[str, object],
    docs: list[Any],
    by_ref: dict[str, list[CreditNote]],
    *,
    now: datetime,
    unconfirmed_after: timedelta,
    waiting: bool,
    vat: StockVat | None = None,
) -> ReturnLine | None:
    """One return: its cash, its credit notes and its gaps; None if neither exists."""
    currency = str(record.get("currency", ""))
    refunds = completed(record, "refunds")
    top_ups = completed(record, "exchange_payments")
    notes = [note for doc in docs for note in by_ref.get(doc.associated_ref, NO_NOTES)]
    if not refunds and not top_ups and not notes:
        return None  # nothing paid and nothing credited: nothing to reconcile yet
    paid = paid_out(refunds, top_ups, currency)  # the movements read once, not again by `refunded`
    same = [note for note in notes if note.currency == currency]
    other = [note for note in notes if note.currency != currency]
    sent_docs = [doc for doc in docs if doc.state in SENT]
    served = [utc(doc.first_served_at) for doc in sent_docs if doc.first_served_at is not None]
    first_served = min(served) if served else None
    paid_at = max(
        [str(r.get("refunded_at") or "") for r in refunds] + [str(t.get("paid_at") or "") for t in top_ups],
        default="",
    )
    line = ReturnLine(
        str(record.get("id")),
        _order_number(record),
        currency,
        paid.pop(currency, ZERO),
        paid_at,
        sorted([doc.state for doc in docs]),
        first_served.isoformat() if first_served else "",
        sorted([note.code for note in notes]),
        sum([note.gross for note in same], ZERO),
        sorted([f"{note.code} ({note.gross} {note.currency})" for note in other]),
        # Most returns have no top-up and no other currency: those skip the adding and sorting.
        top_up=total(t for t in top_ups if currency_of(t, currency) == currency) if top_ups else ZERO,
        refunded_elsewhere={key: value for key, value in sorted(paid.items()) if value != 0} if paid else {},
        method="store credit" if str(record.get("refund_method")) in STORE_CREDIT else "cash",
        created_at=str(record.get("created_at") or ""),
    )
    since = _parse(paid_at) or first_served
    line.age_days = max((now - since).days, 0) if since else 0
    _vat_of(line, record, docs, by_ref, same, vat)
    if other or line.refunded_elsewhere:
        line.gaps.append(Gap.CURRENCY_MISMATCH)
    if notes:
        if not refunds and not top_ups and line.credited != 0:
            line.gaps.append(Gap.CREDIT_NOTE_WITHOUT_REFUND)
        elif same and line.credited > line.refunded and len(same) > 1:
            line.gaps.append(Gap.DUPLICATE_CREDIT_NOTE)  # beyond the cash: something credited twice
        elif same and line.credited != line.refunded:
            line.gaps.append(Gap.AMOUNT_DIFFERENCE)
        if same and _wrong_vat_split(line, same):  # without a note in the currency, no split to check
            line.gaps.append(Gap.CREDIT_NOTE_VAT_SPLIT)
    elif line.refunded != 0:
        line.gaps += _why_no_credit_note(line, docs, served, now=now, after=unconfirmed_after, waiting=waiting)
    return line


def _wrong_vat_split(line: ReturnLine, same: list[CreditNote]) -> bool:
    """Net and Tax that do not make the Gross, or VAT off the stock items' rates by more
    than a penny a line (Khaos rounds each line)."""
    if any(note.net is not None and note.tax is not None and note.net + note.tax != note.gross for note in same):
        return True
    if line.vat_expected is None or line.vat_credited is None:
        return False
    return abs(line.vat_credited - line.vat_expected) > PENNY * line.vat_lines


def _vat_of(
    line: ReturnLine,
    record: Mapping[str, object],
    docs: list[Any],
    by_ref: dict[str, list[CreditNote]],
    same: list[CreditNote],
    vat: StockVat | None,
) -> None:
    """The VAT in the cash and in the credit notes, at the stock items' rates."""
    if vat is None or not (vat.of_cash or (same and all(note.tax is not None for note in same))):
        return  # nothing to check, and nothing asked for: no document is read
    vat.reveni_rates = {}
    items = record.get("return_items")
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and is_amount(item.get("tax_rate")):
            rate = Decimal(str(item["tax_rate"]))
            vat.reveni_rates[str(item.get("sku"))] = rate
            exchange = item.get("exchange")
            if isinstance(exchange, dict):  # like for like, as the rules price it
                vat.reveni_rates.setdefault(str(exchange.get("sku")), rate)
    # The documents Khaos credited, else those it holds, else those on their way.
    credited_docs = (
        [doc for doc in docs if by_ref.get(doc.associated_ref)]
        or [doc for doc in docs if doc.state in SENT]
        or [doc for doc in docs if doc.state != SUPERSEDED]
    )
    expected = [vat.expected(doc.body) for doc in credited_docs]
    if not expected or None in expected:
        return
    gross = sum((found[0] for found in expected if found), Decimal(0))
    tax = sum((found[1] for found in expected if found), Decimal(0))
    line.vat_lines = max(sum(found[2] for found in expected if found), 1)
    if gross == 0:
        return
    share = tax / gross  # the documents' VAT as a share of their gross: one rate or a mix
    line.vat_refunded = _round(line.refunded * share)
    if same and all(note.tax is not None for note in same):
        line.vat_expected = _round(line.credited * share)
        line.vat_credited = sum((note.tax for note in same if note.tax is not None), Decimal("0.00"))


def _why_no_credit_note(
    line: ReturnLine, docs: list[Any], served: list[datetime], *, now: datetime, after: timedelta, waiting: bool
) -> list[Gap]:
    """Reveni paid and Khaos has no credit note: where the return is stuck, once Khaos had its time."""
    if any(doc.state == RE_REQUESTED for doc in docs):
        return [Gap.IMPORT_FAILED]
    if served:
        return [Gap.NOT_CONFIRMED] if now - min(served) >= after else []
    published = [utc(doc.published_at) for doc in docs if doc.state == PUBLISHED and doc.published_at]
    if published:
        line.published_at = min(published).isoformat()
        return [Gap.NOT_PULLED] if now - min(published) >= after else []
    if waiting or any(doc.state == HELD for doc in docs):
        return [Gap.REFUNDED_NOT_SENT]
    refunded_at = _parse(line.refunded_at)
    return [Gap.REFUND_WITHOUT_CREDIT_NOTE] if refunded_at is None or now - refunded_at >= after else []


def _order_number(record: Mapping[str, object]) -> str:
    order = record.get("order")
    return str(order.get("number", "")) if isinstance(order, dict) else ""


def _round(amount: Decimal) -> Decimal:
    return amount.quantize(PENNY, rounding=ROUND_HALF_UP)


def _parse(value: str) -> datetime | None:
    try:
        return utc(datetime.fromisoformat(value)) if value else None
    except ValueError:
        return None
