"""Reconciliation: Reveni's refunds against Khaos Control's credit notes, return by return.

The cash is the truth: a return matches only when the credit notes Khaos posted for it
add up, in the return's currency, to exactly what Reveni paid out (completed refunds,
less any exchange top-up the customer paid). Our own documents are never the yardstick;
they only say why a credit note is missing (held, not pulled, not processed, failed).

Credit notes are matched on `AssociatedRef` (`RV-<reveni id>` and its follow-ups). Every
gap becomes an exception too, so nobody finds at month-end that a refund never became a
credit note.
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from target_khaos_control.exception_kinds import KINDS
from target_khaos_control.states import HELD, PUBLISHED, RE_REQUESTED, SENT, ExceptionStatus
from target_khaos_control.store import documents, exceptions, reveni_returns

# The columns of Khaos Control's credit-note export; a client whose export differs maps
# its own headers with the `credit_note_columns` setting.
DEFAULT_COLUMNS = {
    "code": "CreditNoteCode",
    "associated_ref": "AssociatedRef",
    "gross": "Gross",
    "currency": "Currency",
    "date": "Date",
}
AGING = (("0-1 days", 1), ("2-7 days", 7), ("8-30 days", 30), ("over 30 days", None))
GAP_EXCEPTIONS = {  # gap -> (exception kind, message)
    "refunded_not_sent": (
        "held_too_long",
        "Reveni refunded {refunded} {currency} on {date}; the return is still "
        "held back from Khaos (see its other exceptions)",
    ),
    "not_pulled": (
        "not_collected_by_khaos",
        "Waiting in the channel since {published} but Khaos has not pulled it; Reveni refunded {refunded} {currency}",
    ),
    "not_confirmed": (
        "not_collected_by_khaos",
        "Served to Khaos on {served} but no credit note yet; Reveni refunded {refunded} {currency}",
    ),
    "import_failed": (
        "khaos_import_failed",
        "Khaos could not import this return (it asked for it again); Reveni refunded {refunded} {currency}",
    ),
    "refund_without_credit_note": (
        "refund_without_credit_note",
        "Reveni refunded {refunded} {currency} on {date} but nothing will credit it in Khaos: "
        "every item was rejected or left out, or the return was withdrawn",
    ),
    "credit_note_without_refund": (
        "credit_note_without_refund",
        "Khaos has credit note(s) {codes} for {credited} {currency} but Reveni shows no completed refund",
    ),
    "amount_difference": (
        "amount_difference",
        "Reveni refunded {refunded} {currency}; Khaos credited {credited} {currency} ({codes}): "
        "a difference of {difference} {currency}",
    ),
    "currency_mismatch": (
        "currency_mismatch",
        "The return is in {currency} but Khaos credited it in another currency: {other_codes}",
    ),
    "duplicate_credit_note": ("duplicate_credit_note", "Khaos has {count} credit notes for one reference: {codes}"),
}
UNKNOWN_REFERENCE = "credit_note_unknown_reference"


class CreditNoteFileError(ValueError):
    pass


@dataclass(frozen=True)
class CreditNote:
    code: str
    associated_ref: str
    gross: Decimal
    currency: str
    date: str


@dataclass
class ReturnLine:
    return_id: str
    order_number: str
    currency: str
    refunded: Decimal  # completed refunds less completed exchange top-ups, in `currency`
    refunded_at: str
    states: list[str]
    served_at: str
    credit_notes: list[str]
    credited: Decimal  # the credit notes in `currency`
    other_currency_notes: list[str] = field(default_factory=list)  # never added to `credited`
    published_at: str = ""
    gaps: list[str] = field(default_factory=list)
    age_days: int = 0
    hold_days: int = 14

    @property
    def matched(self) -> bool:
        """The credit notes add up, in the return's currency, to exactly what Reveni paid."""
        return not self.gaps and not self.other_currency_notes and self.credited == self.refunded


@dataclass
class Report:
    at: str
    returns: list[ReturnLine]
    unknown_notes: list[CreditNote]  # for references this integration never sent
    notes: list[CreditNote] = field(default_factory=list)  # the credit notes of known returns

    @property
    def unknown_credit_notes(self) -> list[str]:
        return sorted(note.code for note in self.unknown_notes)

    def summary(self) -> dict[str, Any]:
        with_refund = [line for line in self.returns if line.refunded != 0 or line.credit_notes]
        matched = [line for line in with_refund if line.matched]
        awaiting = [line for line in with_refund if not line.gaps and not line.matched]
        gaps: Counter[str] = Counter(gap for line in self.returns for gap in line.gaps)
        aging: Counter[str] = Counter(_bucket(line.age_days) for line in self.returns if line.gaps)
        totals: dict[str, dict[str, str]] = defaultdict(dict)
        # Refunds add up in the return's currency, credit notes in their own: never mixed.
        for currency in sorted({line.currency for line in self.returns} | {note.currency for note in self.notes}):
            refunded = sum((line.refunded for line in self.returns if line.currency == currency), Decimal(0))
            credited = sum((note.gross for note in self.notes if note.currency == currency), Decimal(0))
            totals[currency] = {"refunded": str(refunded), "credited": str(credited), "gap": str(refunded - credited)}
        return {
            "at": self.at,
            "returns_compared": len(with_refund),
            "matched": len(matched),
            "match_rate": f"{len(matched) / len(with_refund):.1%}" if with_refund else "n/a",
            "awaiting_khaos": len(awaiting),
            "gaps": dict(sorted(gaps.items())),
            "aging": {label: aging.get(label, 0) for label, _ in AGING},
            "totals_by_currency": dict(totals),
            "credit_notes_for_unknown_returns": self.unknown_credit_notes,
        }

    def as_json(self) -> str:
        lines = [vars(line) for line in self.returns if line.gaps]  # flat fields: no deep copy needed
        # Amounts as exact decimal strings, never floats.
        return json.dumps({"summary": self.summary(), "gaps": lines}, indent=2, ensure_ascii=False, default=str)

    def as_csv(self) -> str:
        rows = ["return_id,order_number,currency,refunded,credited,gaps,age_days,credit_notes,states"]
        for line in self.returns:
            if line.gaps:
                rows.append(
                    ",".join(
                        _csv_cell(value)
                        for value in (
                            line.return_id,
                            line.order_number,
                            line.currency,
                            line.refunded,
                            line.credited,
                            " ".join(line.gaps),
                            line.age_days,
                            " ".join(line.credit_notes),
                            " ".join(line.states),
                        )
                    )
                )
        return "\n".join(rows) + "\n"

    def as_table(self) -> str:
        summary = self.summary()
        out = [
            f"Reconciliation at {summary['at']}: {summary['matched']} of {summary['returns_compared']} returns "
            f"match ({summary['match_rate']}); {summary['awaiting_khaos']} more are within Khaos's time "
            "(no credit note yet, no gap yet)",
            "",
            "Gaps:",
        ]
        out += [f"  {count:>5}  {gap}" for gap, count in summary["gaps"].items()] or ["      none"]
        out += ["", "Age of the gaps:"] + [f"  {count:>5}  {label}" for label, count in summary["aging"].items()]
        out += ["", f"  {'currency':<9}{'refunded':>12}{'credited':>12}{'gap':>12}"]
        out += [
            f"  {currency:<9}{t['refunded']:>12}{t['credited']:>12}{t['gap']:>12}"
            for currency, t in summary["totals_by_currency"].items()
        ]
        if self.unknown_credit_notes:
            out += ["", f"Credit notes for references Reveni never sent: {', '.join(self.unknown_credit_notes)}"]
        return "\n".join(out) + "\n"


def read_credit_notes(path: Path, columns: dict[str, str] | None = None) -> list[CreditNote]:
    names = {**DEFAULT_COLUMNS, **(columns or {})}
    try:
        with path.open(newline="", encoding="utf-8-sig") as source:
            reader = csv.DictReader(source)
            missing = [header for header in names.values() if header not in (reader.fieldnames or [])]
            if missing:
                raise CreditNoteFileError(
                    f"{path}: no column {', '.join(missing)}; map the export's headers with "
                    "the `credit_note_columns` setting"
                )
            notes = []
            for number, row in enumerate(reader, 2):
                try:
                    gross = Decimal(row[names["gross"]])
                except InvalidOperation:
                    raise CreditNoteFileError(
                        f"{path}:{number}: {names['gross']} {row[names['gross']]!r} is not an amount"
                    ) from None
                notes.append(
                    CreditNote(
                        row[names["code"]],
                        row[names["associated_ref"]],
                        gross,
                        row[names["currency"]],
                        row[names["date"]],
                    )
                )
    except OSError as error:
        raise CreditNoteFileError(f"{path}: cannot read ({error.strerror})") from None
    return notes


def reconcile(
    conn: Connection,
    notes: list[CreditNote],
    *,
    now: datetime,
    unconfirmed_after: timedelta,
    hold_days: int = 14,
    progress: Any = None,
) -> Report:
    by_ref: dict[str, list[CreditNote]] = defaultdict(list)
    for note in notes:
        by_ref[note.associated_ref].append(note)
    docs: dict[str, list[Any]] = defaultdict(list)
    for doc in conn.execute(
        sa.select(
            documents.c.associated_ref,
            documents.c.return_id,
            documents.c.state,
            documents.c.first_served_at,
            documents.c.published_at,
            documents.c.item_ids,
        )
    ):
        docs[doc.return_id].append(doc)
    known_refs = {doc.associated_ref for rows in docs.values() for doc in rows}
    holding = [name for name, kind in KINDS.items() if kind.holds]
    waiting = set(  # returns with items held back from Khaos: their own exceptions say why
        conn.execute(
            sa.select(exceptions.c.return_id).where(
                exceptions.c.status == ExceptionStatus.OPEN, exceptions.c.kind.in_(holding)
            )
        ).scalars()
    )
    lines = []
    rows = conn.execute(sa.select(reveni_returns.c.return_id, reveni_returns.c.record)).all()
    for row in progress(rows) if progress else rows:
        line = _compare(
            _record(row.record),
            docs.get(row.return_id, []),
            by_ref,
            now=now,
            unconfirmed_after=unconfirmed_after,
            waiting=row.return_id in waiting,
        )
        if line is not None:
            line.hold_days = hold_days
            lines.append(line)
    unknown = [note for ref, group in by_ref.items() if ref not in known_refs for note in group]
    matched = [note for ref, group in by_ref.items() if ref in known_refs for note in group]
    return Report(now.isoformat(timespec="seconds"), lines, unknown, matched)


def _compare(
    record: dict[str, Any],
    docs: list[Any],
    by_ref: dict[str, list[CreditNote]],
    *,
    now: datetime,
    unconfirmed_after: timedelta,
    waiting: bool,
) -> ReturnLine | None:
    currency = str(record.get("currency", ""))
    refunds = _completed(record, "refunds", currency)
    top_ups = _completed(record, "exchange_payments", currency)
    notes = [note for doc in docs for note in by_ref.get(doc.associated_ref, [])]
    if not refunds and not top_ups and not notes:
        return None  # nothing paid and nothing credited: nothing to reconcile yet
    same = [note for note in notes if note.currency == currency]
    other = [note for note in notes if note.currency != currency]
    sent_docs = [doc for doc in docs if doc.state in SENT]
    served = [_as_aware(doc.first_served_at) for doc in sent_docs if doc.first_served_at is not None]
    refunded_at = max((str(r.get("refunded_at") or "") for r in refunds), default="")
    line = ReturnLine(
        str(record.get("id")),
        str(record.get("order", {}).get("number", "")),
        currency,
        _sum(refunds) - _sum(top_ups),
        refunded_at,
        sorted(doc.state for doc in docs),
        min(served).isoformat() if served else "",
        sorted(note.code for note in notes),
        _sum_notes(same),
        sorted(f"{note.code} ({note.gross} {note.currency})" for note in other),
    )
    since = _parse(refunded_at) or (min(served) if served else None)
    line.age_days = max((now - since).days, 0) if since else 0
    if any(len(by_ref.get(doc.associated_ref, [])) > 1 for doc in docs):
        line.gaps.append("duplicate_credit_note")
    if other:
        line.gaps.append("currency_mismatch")
    if notes:
        if not refunds and not top_ups and line.credited != 0:
            line.gaps.append("credit_note_without_refund")
        elif same and line.credited != line.refunded:
            line.gaps.append("amount_difference")
    elif line.refunded != 0:
        line.gaps += _why_no_credit_note(line, docs, served, now=now, after=unconfirmed_after, waiting=waiting)
    return line


def _why_no_credit_note(
    line: ReturnLine, docs: list[Any], served: list[datetime], *, now: datetime, after: timedelta, waiting: bool
) -> list[str]:
    """Reveni paid and Khaos has no credit note: where the return is stuck, once Khaos had its time."""
    if any(doc.state == RE_REQUESTED for doc in docs):
        return ["import_failed"]
    if served:
        return ["not_confirmed"] if now - min(served) >= after else []
    published = [_as_aware(doc.published_at) for doc in docs if doc.state == PUBLISHED and doc.published_at]
    if published:
        line.published_at = min(published).isoformat()
        return ["not_pulled"] if now - min(published) >= after else []
    if waiting or any(doc.state == HELD for doc in docs):
        return ["refunded_not_sent"]
    refunded_at = _parse(line.refunded_at)
    return ["refund_without_credit_note"] if refunded_at is None or now - refunded_at >= after else []


def _record(stored: str) -> dict[str, Any]:
    """A stored Reveni record (money in it is text, never a float); msgspec reads it fast,
    Python's json whatever msgspec refuses (a NaN kept from an unreadable record)."""
    try:
        found = msgspec.json.decode(stored)
    except msgspec.DecodeError:
        found = json.loads(stored)
    return found if isinstance(found, dict) else {}


def _completed(record: dict[str, Any], key: str, currency: str) -> list[dict[str, Any]]:
    """Completed money movements in the return's currency (one in another currency is the
    rules' `refund_credit_difference`, raised before the return ever reaches Khaos)."""
    return [
        m for m in record.get(key) or [] if m.get("status") == "completed" and m.get("currency", currency) == currency
    ]


def _sum(movements: list[dict[str, Any]]) -> Decimal:
    return sum((Decimal(str(m["amount"])) for m in movements), Decimal(0))


def _sum_notes(notes: list[CreditNote]) -> Decimal:
    return sum((note.gross for note in notes), Decimal(0))


def gap_problems(line: ReturnLine) -> list[tuple[str, str]]:
    """Each gap of a line as (exception kind, message)."""
    found = []
    for gap in line.gaps:
        if gap == "refunded_not_sent" and line.age_days <= line.hold_days:
            continue  # held for now: the return's own exceptions say why
        kind, template = GAP_EXCEPTIONS[gap]
        message = template.format(
            refunded=line.refunded,
            credited=line.credited,
            difference=line.refunded - line.credited,
            currency=line.currency,
            date=line.refunded_at[:10] or "?",
            codes=", ".join(line.credit_notes),
            count=len(line.credit_notes),
            other_codes=", ".join(line.other_currency_notes),
            served=line.served_at[:16] or "?",
            published=line.published_at[:16] or "?",
        )
        found.append((kind, message))
    return found


def _bucket(days: int) -> str:
    for label, limit in AGING:
        if limit is None or days <= limit:
            return label
    return AGING[-1][0]


def _parse(value: str) -> datetime | None:
    try:
        return _as_aware(datetime.fromisoformat(value)) if value else None
    except ValueError:
        return None


def _as_aware(moment: datetime) -> datetime:
    """SQLite hands back the store's UTC times without their zone."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _csv_cell(value: Any) -> str:
    text = str(value)
    return f'"{text}"' if "," in text or '"' in text else text
