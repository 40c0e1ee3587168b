"""What Khaos holds of a return: every document it has pulled, what each credits, and how far
Khaos has taken it, as far as the channel and the credit-note export tell.

Once Khaos has pulled a document its credit is a fact: later versions of the return are
judged against what Khaos holds, never against the document we would send now
(`after_pull`). A credit note the reconciliation has read is what Khaos posted, so it
counts instead of the document's own figure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from target_khaos_control.documents import Line
from target_khaos_control.documents_of import DocumentsOf
from target_khaos_control.states import RE_REQUESTED, SENT
from target_khaos_control.store import (
    chunks,
    credit_notes,
    document_bodies,
    documents,
    documents_with_bodies,
    order_statuses,
)

# What Khaos's OrderStatusUpload says of a return it downloaded from us (spec: Order Status Upload).
COMPLETE, CANCELLED = "Complete", "Cancelled"


@dataclass(frozen=True)
class HeldLine:
    """One Reveni item (or a deductions line) in a document Khaos holds."""

    item_id: str
    credit: Decimal
    disposition: str  # restock, quarantine, write_off, return_to_supplier, deduction; "" if not on record
    khaos_reason: str


@dataclass
class HeldDocument:
    """One document Khaos has pulled."""

    associated_ref: str
    sequence: int
    state: str
    currency: str
    credit: Decimal | None  # what the document credits; None where no record of it was kept
    processed: bool  # sent with ProcessReturn: Khaos processed it on import
    lines: dict[str, HeldLine] = field(default_factory=dict)
    order_status: str = ""  # the last status Khaos pushed for it
    credit_noted: Decimal | None = None  # Σ credit notes read by the reconciliation, in its currency

    @property
    def held(self) -> Decimal | None:
        """What Khaos holds for it: its credit notes once read; nothing once Khaos says it
        cancelled it; else the document's credit."""
        if self.credit_noted is not None:
            return self.credit_noted
        return Decimal("0.00") if self.order_status == CANCELLED else self.credit

    @property
    def posted(self) -> bool:
        """Whether Khaos has processed it: on import, by a person (status Complete), or a
        credit note shows it."""
        return self.processed or self.order_status == COMPLETE or self.credit_noted is not None

    def describe(self) -> str:
        """`RV-x 30.00 (processed on import)`: the reference, its figure and how far Khaos took it."""
        if self.credit_noted is not None:
            how = "credit note read"
        elif self.order_status == CANCELLED:
            how = "cancelled in Khaos"
        elif self.state == RE_REQUESTED:
            how = "its import failed in Khaos"
        elif self.processed:
            how = "processed on import"
        elif self.posted:
            how = "processed in Khaos"
        else:
            how = "awaiting approval in Khaos"
        if self.order_status:
            how += f", Khaos status {self.order_status}"
        figure = "credit not on record" if self.held is None else str(self.held)
        return f"{self.associated_ref} {figure} ({how})"


@dataclass
class Position:
    """Every document of one return Khaos holds, oldest first."""

    documents: list[HeldDocument] = field(default_factory=list)

    @property
    def known(self) -> bool:
        """Whether every document's figure is on record (those from before it was kept may not be)."""
        return all(doc.held is not None for doc in self.documents)

    def held(self, currency: str) -> Decimal:
        """What Khaos holds in `currency` (a document from before currencies were kept counts)."""
        return sum(
            (doc.held or Decimal("0.00") for doc in self.documents if doc.currency in ("", currency)), Decimal("0.00")
        )

    def lines(self) -> dict[str, tuple[HeldDocument, HeldLine]]:
        """Each item Khaos holds, with the document holding it."""
        return {item: (doc, line) for doc in self.documents for item, line in doc.lines.items()}

    def describe(self) -> str:
        """Each document Khaos holds, its figure and how far Khaos took it, in one line."""
        return ", ".join(doc.describe() for doc in self.documents)


# Each document Khaos holds of the returns read (SENT is fixed: written into the statement).
_SENT = DocumentsOf(
    sa.select(
        documents.c.associated_ref,
        documents.c.return_id,
        documents.c.sequence,
        documents.c.state,
        documents.c.currency,
        document_bodies.c.body,
        document_bodies.c.lines,
    )
    .select_from(documents_with_bodies)
    .where(documents.c.state.in_(sa.bindparam("sent", sorted(SENT), expanding=True, literal_execute=True)))
)


def read_positions(conn: Connection, return_ids: list[str]) -> dict[str, Position]:
    """What Khaos holds of each of these returns; a return Khaos holds nothing of is absent."""
    rows = _SENT.rows(conn, return_ids)
    if not rows:
        return {}
    refs = [row.associated_ref for row in rows]
    statuses, noted = _order_statuses(conn, refs), _credit_notes(conn, refs)
    positions: dict[str, Position] = {}
    for row in sorted(rows, key=lambda r: (r.return_id, r.sequence)):
        lines = {
            item: HeldLine(item, Decimal(fact["credit"]), str(fact.get("disposition", "")), str(fact.get("reason", "")))
            for item, fact in json.loads(row.lines or "{}").items()
        }
        credit, processed = _credit_and_processed(row.body, lines)
        positions.setdefault(row.return_id, Position()).documents.append(
            HeldDocument(
                row.associated_ref,
                row.sequence,
                row.state,
                row.currency,
                credit,
                processed,
                lines,
                statuses.get(row.associated_ref, ""),
                noted.get((row.associated_ref, row.currency)),
            )
        )
    return positions


# What json.dumps(facts, sort_keys=True) writes, without making an encoder per document.
FACTS = json.JSONEncoder(sort_keys=True)
# How json.dumps writes a text (ensure_ascii, its default): the same C function it calls.
_TEXT = json.encoder.encode_basestring_ascii


def line_facts(lines: list[Line]) -> str:
    """The `lines` column of a document: what each of its lines credits, and how."""
    facts = {
        line.item_id: (
            str(line.credit),
            line.disposition,
            str(line.returned[0].ReturnReason.ID or "") if line.returned else "",
        )
        for line in lines
    }
    if all(type(item) is str and type(disposition) is str for item, (_, disposition, _) in facts.items()):
        # json.dumps(facts, sort_keys=True) byte for byte, written out: its encoder cost
        # more than the rest of the document's store side (tests/test_line_facts.py).
        return (
            "{"
            + ", ".join(
                f'{_TEXT(item)}: {{"credit": {_TEXT(credit)}, "disposition": {_TEXT(disposition)}, '
                f'"reason": {_TEXT(reason)}}}'
                for item, (credit, disposition, reason) in sorted(facts.items())
            )
            + "}"
        )
    return FACTS.encode({item: {"credit": c, "disposition": d, "reason": r} for item, (c, d, r) in facts.items()})


def item_ids_text(item_ids: list[str]) -> str:
    """The `item_ids` column of a document: json.dumps(item_ids), byte for byte."""
    if all(type(item) is str for item in item_ids):
        return "[" + ", ".join(map(_TEXT, item_ids)) + "]"  # without json.dumps's encoder, made per call
    return json.dumps(item_ids)


class _Processed(msgspec.Struct):
    """Of a document's body, only whether it was sent with ProcessReturn."""

    ProcessReturn: object = None


_PROCESSED = msgspec.json.Decoder(_Processed)


def _credit_and_processed(body: str, lines: dict[str, HeldLine]) -> tuple[Decimal | None, bool]:
    """What a held document credits, and whether Khaos processed it on import. With its
    line facts kept, only ProcessReturn is read of the body (a whole body, its prices as
    Decimal, cost more than the rest of the position); without them, the body's prices."""
    if lines:
        try:
            processed = _PROCESSED.decode(body).ProcessReturn
        except msgspec.DecodeError:
            processed = json.loads(body, parse_float=Decimal).get("ProcessReturn")
        return sum((line.credit for line in lines.values()), Decimal("0.00")), processed is True
    whole = json.loads(body, parse_float=Decimal)
    return _gross(whole), whole.get("ProcessReturn") is True


def _gross(body: Mapping[str, object]) -> Decimal | None:
    """A document kept before its line facts were: its credit from gross prices, or None
    (a net price's credit depends on the VAT Khaos applies)."""
    total = Decimal("0.00")
    for name, sign in (("ReturnedItems", 1), ("ExchangeItems", -1)):
        items = body.get(name)
        for item in items if isinstance(items, list) else []:
            price = item.get("UnitPrice") or {}
            if "Gross" not in price:
                return None
            total += sign * Decimal(str(price["Gross"])) * int(item.get("Quantity") or 0)
    return total


def _order_statuses(conn: Connection, refs: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for chunk in chunks(refs):
        query = sa.select(order_statuses.c.associated_ref, order_statuses.c.status).where(
            order_statuses.c.associated_ref.in_(chunk)
        )
        found.update({row.associated_ref: row.status for row in conn.execute(query)})
    return found


def _credit_notes(conn: Connection, refs: list[str]) -> dict[tuple[str, str], Decimal]:
    found: dict[tuple[str, str], Decimal] = {}
    for chunk in chunks(refs):
        query = sa.select(credit_notes.c.associated_ref, credit_notes.c.currency, credit_notes.c.gross).where(
            credit_notes.c.associated_ref.in_(chunk)
        )
        for row in conn.execute(query):
            key = (row.associated_ref, row.currency)
            found[key] = found.get(key, Decimal("0.00")) + Decimal(str(row.gross))
    return found
