"""The month-end close: a period's figures, reproducible from what the store knew at its end.

As of the period's end (the first moment of the next month, UTC) the close reads:
- each return's version the store held then (`return_versions`), and of its refunds and
  top-ups only those dated before the end (an undated one counts from when it was seen);
- each document as it stood then (served, published or held, from the times the store
  keeps: `first_served_at`, `published_at`, `created_at`);
- the credit notes Khaos dated before the end.
Data that arrives later never moves a closed period's figures.

A return belongs to the period when money moved for it in the period (a refund, a
top-up, a credit note); a return of an earlier period whose gap is still open at the end is
carried into the close, since its gap is still to accrue.

A return the store first heard of after the period's end (the first sync ran late, or
the integration went live after it) joins by its Reveni dates, from the first version the
store saw, and is marked late in the export: the one way a closed period can move is
money Reveni dated in it that the store had not yet been told about.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from target_khaos_control.exception_kinds import KINDS
from target_khaos_control.operations.reconciliation import CreditNote, ReturnLine, StockVat, compare
from target_khaos_control.refunded import MOVEMENTS, refunded
from target_khaos_control.rules.catalogue import Catalogue
from target_khaos_control.states import HELD, PUBLISHED, RE_REQUESTED, SERVED, SUPERSEDED, ExceptionStatus
from target_khaos_control.store import (
    credit_notes,
    document_bodies,
    documents,
    documents_with_bodies,
    exceptions,
    return_versions,
)
from target_khaos_control.times import utc

PERIOD = re.compile(r"^(\d{4})-(\d{2})$")
AWAITING = "awaiting_khaos"  # paid, no credit note yet, within Khaos's time: accrued too
CASH = "cash"  # a refund method's group; the other is "store credit" (compare.STORE_CREDIT)


@dataclass(frozen=True)
class Period:
    """A calendar month, UTC: from `start` up to, not including, `end`."""

    name: str
    start: datetime
    end: datetime

    @classmethod
    def parse(cls, text: str) -> Period:
        """`2026-11`; anything else is refused with what was expected."""
        found = PERIOD.match(text.strip())
        if not found or not 1 <= int(found[2]) <= 12:
            raise ValueError(f"--period {text!r} is not a month: write it as YYYY-MM, e.g. 2026-11")
        year, month = int(found[1]), int(found[2])
        start = datetime(year, month, 1, tzinfo=UTC)
        end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        return cls(f"{year:04d}-{month:02d}", start, end)

    def holds(self, day: date | None) -> bool:
        """Whether the day falls in this month."""
        return day is not None and self.start.date() <= day < self.end.date()


@dataclass
class CloseLine:
    """One return in the close: its figures as of the period's end."""

    line: ReturnLine
    of_period: bool  # money moved for it in the period (else carried, for its open gap)
    paid_in_period: dict[str, Decimal]  # currency -> refunds less top-ups dated in the period
    credited_in_period: dict[str, Decimal]  # currency -> its credit notes dated in the period
    credited_net: Decimal | None = None  # the credit notes' Net, when the export has it
    credited_tax: Decimal | None = None
    late: bool = False  # the store first heard of it after the period's end (a late sync)

    @property
    def status(self) -> str:
        """The return's gaps, else `matched` or `awaiting_khaos`."""
        if self.line.gaps:
            return " ".join(self.line.gaps)
        return "matched" if self.line.matched else AWAITING

    @property
    def gap_types(self) -> list[str]:
        """The gaps the return is listed under in the close; awaiting Khaos counts as one."""
        return list(self.line.gaps) or ([] if self.line.matched else [AWAITING])


@dataclass
class Figures:
    """The totals of one currency and refund method."""

    paid_out: Decimal = Decimal("0.00")  # by Reveni in the period: refunds less top-ups
    credited: Decimal = Decimal("0.00")  # by Khaos in the period
    matched: Decimal = Decimal("0.00")  # the cash of the period's matched returns
    # gap -> (count, amount, oldest age in days)
    gaps: dict[str, tuple[int, Decimal, int]] = field(default_factory=dict)


@dataclass
class Close:
    """A period's close: each return, the totals per currency and method, the tie-out."""

    period: Period
    lines: list[CloseLine]
    figures: dict[tuple[str, str], Figures]
    not_counted: list[str]  # credit notes whose date cannot be read
    unknown_credited: dict[str, Decimal]  # currency -> notes for references Reveni never sent
    tie_outs: list[str] = field(default_factory=list)

    def returns_with(self, gap: str) -> list[CloseLine]:
        """The returns of the close with this gap."""
        return [entry for entry in self.lines if gap in entry.gap_types]

    def tie_out(self, payouts: list[tuple[Decimal, str]]) -> None:
        """A line per payout total given: against the period's cash paid out in its currency."""
        for amount, currency in payouts:
            cash = self.figures.get((currency, CASH), Figures()).paid_out
            difference = amount - cash
            verdict = "ties out" if difference == 0 else f"difference {difference} {currency}"
            self.tie_outs.append(
                f"Reveni payout {amount} {currency} against cash refunds less top-ups {cash} {currency}: {verdict}"
            )


def close_period(
    conn: Connection,
    period: Period,
    *,
    notes: list[CreditNote] | None = None,
    tax_rates: dict[str, Decimal] | None = None,
    unconfirmed_after: timedelta = timedelta(hours=24),
) -> Close:
    """The period's close from the store as of its end; `notes` default to the credit notes
    the store keeps from the last reconciliations."""
    end = period.end
    notes = stored_credit_notes(conn) if notes is None else notes
    not_counted = [f"{note.code}: Date {note.date!r} is not a date" for note in notes if note_day(note) is None]
    dated = [note for note in notes if (day := note_day(note)) is not None and day < end.date()]
    by_ref: dict[str, list[CreditNote]] = defaultdict(list)
    for note in dated:
        by_ref[note.associated_ref].append(note)
    records, late = _records_as_of(conn, end)
    docs = _documents_as_of(conn, end, late)
    vat = StockVat(Catalogue.read(conn), tax_rates or {}, of_cash=True)
    waiting = _held_back_at(conn, end, late)
    lines = []
    for record in records:
        found = compare(
            record,
            docs.get(str(record.get("id")), []),
            by_ref,
            now=end,
            unconfirmed_after=unconfirmed_after,
            waiting=str(record.get("id")) in waiting,
            vat=vat,
        )
        if found is None:
            continue
        entry = _close_line(found, record, by_ref, docs.get(found.return_id, []), period)
        entry.late = found.return_id in late
        if entry.of_period or not found.matched:
            lines.append(entry)
    known = {doc.associated_ref for rows in docs.values() for doc in rows}
    unknown: dict[str, Decimal] = defaultdict(lambda: Decimal("0.00"))
    for note in dated:
        if note.associated_ref not in known and period.holds(note_day(note)):
            unknown[note.currency] += note.gross
    lines.sort(key=lambda entry: (entry.line.currency, entry.line.return_id))
    return Close(period, lines, _figures(lines), not_counted, dict(unknown))


def _close_line(
    line: ReturnLine, record: Mapping[str, object], by_ref: dict[str, list[CreditNote]], docs: list[Any], period: Period
) -> CloseLine:
    paid = refunded(record, line.currency, dated=lambda when: period.holds(_day(when)))
    every = [note for doc in docs for note in by_ref.get(doc.associated_ref, [])]
    notes = [note for note in every if note.currency == line.currency]
    credited: dict[str, Decimal] = defaultdict(lambda: Decimal("0.00"))
    for note in every:
        if period.holds(note_day(note)):
            credited[note.currency] += note.gross
    entry = CloseLine(
        line,
        bool(paid) or bool(credited),
        {currency: amount for currency, amount in paid.items() if amount != 0},
        dict(credited),
    )
    if notes and all(note.net is not None and note.tax is not None for note in notes):
        entry.credited_net = sum((note.net for note in notes if note.net is not None), Decimal("0.00"))
        entry.credited_tax = sum((note.tax for note in notes if note.tax is not None), Decimal("0.00"))
    return entry


def _figures(lines: list[CloseLine]) -> dict[tuple[str, str], Figures]:
    figures: dict[tuple[str, str], Figures] = defaultdict(Figures)
    for entry in lines:
        line = entry.line
        for currency, amount in entry.paid_in_period.items():
            figures[currency, line.method].paid_out += amount
        for currency, amount in entry.credited_in_period.items():
            figures[currency, line.method].credited += amount
        own = figures[line.currency, line.method]
        if line.matched and entry.of_period:
            own.matched += line.refunded
        for gap in entry.gap_types:
            count, amount, oldest = own.gaps.get(gap, (0, Decimal("0.00"), 0))
            own.gaps[gap] = (count + 1, amount + line.refunded - line.credited, max(oldest, line.age_days))
    return dict(sorted(figures.items()))


def _records_as_of(conn: Connection, end: datetime) -> tuple[list[dict[str, object]], dict[str, datetime]]:
    """Each return's version the store held at `end`, its money dated before `end`; and the
    returns the store first heard of after `end` (a late sync), with when: their first
    version stands in, by its Reveni dates."""
    # In the table's own order, no ORDER BY: the table has no index on `return_id` (migration
    # 0018), and sorting every version's record would cost more than picking here. Each
    # return's first version and the last before `end`, by (seen_at, id), as ordered before.
    held: dict[str, tuple[datetime, int, str]] = {}
    first: dict[str, tuple[datetime, int, str]] = {}
    for row in conn.execute(
        sa.select(
            return_versions.c.id, return_versions.c.return_id, return_versions.c.seen_at, return_versions.c.record
        )
    ):
        version = (utc(row.seen_at), row.id, row.record)
        if row.return_id not in first or version[:2] < first[row.return_id][:2]:
            first[row.return_id] = version
        if version[0] < end and (row.return_id not in held or version[:2] > held[row.return_id][:2]):
            held[row.return_id] = version
    late = {return_id: seen for return_id, (seen, _, _) in first.items() if return_id not in held}
    stored = {return_id: (held.get(return_id) or first[return_id])[2] for return_id in sorted(first)}
    records = []
    for text in stored.values():
        record = _decoded(text)
        for key, when in MOVEMENTS:
            movements = record.get(key)
            record[key] = [
                m
                for m in (movements if isinstance(movements, list) else [])
                if isinstance(m, dict) and ((day := _moment(str(m.get(when) or ""))) is None or day < end)
            ]
        records.append(record)
    return records, late


def _documents_as_of(conn: Connection, end: datetime, late: dict[str, datetime]) -> dict[str, list[Any]]:
    """Each document as it stood at `end` (a late return's: when the store first saw it),
    from the times the store keeps."""
    found: dict[str, list[Any]] = defaultdict(list)
    for doc in conn.execute(sa.select(documents, document_bodies.c.body).select_from(documents_with_bodies)):
        cut = late[doc.return_id] + timedelta(microseconds=1) if doc.return_id in late else end
        if utc(doc.created_at) >= cut:
            continue
        if doc.state == RE_REQUESTED and utc(doc.state_changed_at) < cut:
            state = RE_REQUESTED
        elif doc.first_served_at is not None and utc(doc.first_served_at) < cut:
            state = SERVED
        elif doc.state == SUPERSEDED and utc(doc.state_changed_at) < cut:
            state = SUPERSEDED
        elif doc.published_at is not None and utc(doc.published_at) < cut:
            state = PUBLISHED
        else:
            state = HELD
        found[doc.return_id].append(
            SimpleNamespace(
                associated_ref=doc.associated_ref,
                return_id=doc.return_id,
                state=state,
                first_served_at=doc.first_served_at if state in (SERVED, RE_REQUESTED) else None,
                published_at=doc.published_at if state == PUBLISHED else None,
                item_ids=doc.item_ids,
                body=doc.body,
            )
        )
    return found


def _held_back_at(conn: Connection, end: datetime, late: dict[str, datetime]) -> set[str]:
    """Returns with an exception that held items back, open at `end`: opened before it, and
    still open or resolved after it (a resolved exception's `last_seen` is when it went)."""
    holding = [name for name, kind in KINDS.items() if kind.holds]
    table = exceptions.c
    rows = conn.execute(
        sa.select(table.return_id, table.first_seen, table.last_seen, table.status).where(table.kind.in_(holding))
    )
    held = set()
    for row in rows:
        cut = late[row.return_id] + timedelta(microseconds=1) if row.return_id in late else end
        if utc(row.first_seen) < cut and (row.status == ExceptionStatus.OPEN or utc(row.last_seen) >= cut):
            held.add(row.return_id)
    return held


def stored_credit_notes(conn: Connection) -> list[CreditNote]:
    """The credit notes the store keeps from Khaos's exports (each reconciliation and close)."""
    table = credit_notes.c
    return [
        CreditNote(row.code, row.associated_ref, Decimal(row.gross), row.currency, row.date, row.net, row.tax)
        for row in conn.execute(
            sa.select(table.code, table.associated_ref, table.gross, table.currency, table.date, table.net, table.tax)
        )
    ]


def note_day(note: CreditNote) -> date | None:
    """The day Khaos dated a credit note: ISO (2026-11-21) or as a UK export writes it (21/11/2026)."""
    return _day(note.date)


def _day(text: str) -> date | None:
    text = text.strip()
    for form in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(text[:10], form).date()
        except ValueError:
            continue
    return None


def _moment(text: str) -> datetime | None:
    try:
        return utc(datetime.fromisoformat(text)) if text else None
    except ValueError:
        day = _day(text)
        return datetime(day.year, day.month, day.day, tzinfo=UTC) if day else None


def _decoded(stored: str) -> dict[str, object]:
    try:
        found = json.loads(stored)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}
