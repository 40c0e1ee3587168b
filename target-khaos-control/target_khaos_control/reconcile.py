"""Reconciliation: Reveni's refunds against Khaos Control's credit notes, return by return.

Matched on `AssociatedRef` (`RV-<reveni id>` and its follow-ups). For each return it
brings together the completed refunds, what was published to and served from the
channel, Khaos's import signals (a `SpecificIDs` re-request means an import failed), and
the credit notes from a Khaos export. Every gap it finds becomes an exception too, so
nobody discovers at month-end that a refund never became a credit note.
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from target_khaos_control.store import documents, reveni_returns

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
    "credit_note_without_refund": (
        "value_mismatch",
        "Khaos has credit note(s) {codes} for {credited} {currency} but Reveni shows no completed refund",
    ),
    "value_difference": ("value_mismatch", "Khaos credited {credited} {currency} for goods sent at {sent}"),
    "duplicate_credit_note": ("value_mismatch", "Khaos has {count} credit notes for one return: {codes}"),
}
SENT = ("served", "re_requested")


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
    refunded: Decimal
    refunded_at: str
    states: list[str]
    served_at: str
    credit_notes: list[str]
    credited: Decimal
    sent_value: Decimal = Decimal(0)  # what the documents Khaos pulled are worth
    published_at: str = ""
    gaps: list[str] = field(default_factory=list)
    age_days: int = 0
    hold_days: int = 14


@dataclass
class Report:
    at: str
    returns: list[ReturnLine]
    unknown_credit_notes: list[str]

    def summary(self) -> dict[str, Any]:
        with_refund = [line for line in self.returns if line.refunded > 0 or line.credit_notes]
        matched = [line for line in with_refund if not line.gaps]
        gaps: Counter[str] = Counter(gap for line in self.returns for gap in line.gaps)
        aging: Counter[str] = Counter(_bucket(line.age_days) for line in self.returns if line.gaps)
        totals: dict[str, dict[str, str]] = defaultdict(dict)
        for currency in sorted({line.currency for line in self.returns}):
            lines = [line for line in self.returns if line.currency == currency]
            refunded = sum((line.refunded for line in lines), Decimal(0))
            credited = sum((line.credited for line in lines), Decimal(0))
            totals[currency] = {"refunded": str(refunded), "credited": str(credited), "gap": str(refunded - credited)}
        return {
            "at": self.at,
            "returns_compared": len(with_refund),
            "matched": len(matched),
            "match_rate": f"{len(matched) / len(with_refund):.1%}" if with_refund else "n/a",
            "gaps": dict(sorted(gaps.items())),
            "aging": {label: aging.get(label, 0) for label, _ in AGING},
            "totals_by_currency": dict(totals),
            "credit_notes_for_unknown_returns": self.unknown_credit_notes,
        }

    def as_json(self) -> str:
        lines = [asdict(line) for line in self.returns if line.gaps]
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
            f"match ({summary['match_rate']})",
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
    tolerance: Decimal,
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
    lines = []
    rows = conn.execute(sa.select(reveni_returns.c.return_id, reveni_returns.c.record)).all()
    for row in progress(rows) if progress else rows:
        line = _compare(
            json.loads(row.record), docs.get(row.return_id, []), by_ref, now, tolerance, unconfirmed_after, hold_days
        )
        if line is not None:
            lines.append(line)
    unknown = sorted(note.code for ref, group in by_ref.items() if ref not in known_refs for note in group)
    return Report(now.isoformat(timespec="seconds"), lines, unknown)


def _compare(
    record: dict[str, Any],
    docs: list[Any],
    by_ref: dict[str, list[CreditNote]],
    now: datetime,
    tolerance: Decimal,
    unconfirmed_after: timedelta,
    hold_days: int,
) -> ReturnLine | None:
    refunds = [r for r in record.get("refunds") or [] if r.get("status") == "completed"]
    notes = [note for doc in docs for note in by_ref.get(doc.associated_ref, [])]
    if not refunds and not notes:
        return None  # nothing paid and nothing credited: nothing to reconcile yet
    items = {str(item.get("id")): item for item in record.get("return_items") or []}
    sent_docs = [doc for doc in docs if doc.state in SENT]
    sent = [items[i] for doc in sent_docs for i in json.loads(doc.item_ids) if i in items]
    served = [_as_aware(doc.first_served_at) for doc in sent_docs if doc.first_served_at is not None]
    refunded = sum((Decimal(r["amount"]) for r in refunds), Decimal(0))
    refunded_at = max((str(r.get("refunded_at") or "") for r in refunds), default="")
    line = ReturnLine(
        str(record.get("id")),
        str(record.get("order", {}).get("number", "")),
        str(record.get("currency", "")),
        refunded,
        refunded_at,
        sorted(doc.state for doc in docs),
        min(served).isoformat() if served else "",
        sorted(note.code for note in notes),
        sum((note.gross for note in notes), Decimal(0)),
        sent_value=sum((Decimal(item["total"]) for item in sent), Decimal(0)),
    )
    since = _parse(refunded_at) or (min(served) if served else None)
    line.age_days = max((now - since).days, 0) if since else 0
    if any(len(by_ref.get(doc.associated_ref, [])) > 1 for doc in docs):
        line.gaps.append("duplicate_credit_note")
    if notes:
        if "duplicate_credit_note" not in line.gaps and abs(line.credited - line.sent_value) > tolerance:
            line.gaps.append("value_difference")
        if not refunds and any(not item.get("exchange") for item in sent):
            line.gaps.append("credit_note_without_refund")  # an exchange is credited without a refund
    elif any(doc.state == "re_requested" for doc in docs):
        line.gaps.append("import_failed")
    elif not sent_docs:
        waiting = [_as_aware(doc.published_at) for doc in docs if doc.state == "published" and doc.published_at]
        if not waiting:
            line.gaps.append("refunded_not_sent")
        elif now - min(waiting) >= unconfirmed_after:
            line.gaps.append("not_pulled")
            line.published_at = min(waiting).isoformat()
    elif now - min(served) >= unconfirmed_after:
        line.gaps.append("not_confirmed")
    line.hold_days = hold_days
    return line


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
            currency=line.currency,
            date=line.refunded_at[:10] or "?",
            codes=", ".join(line.credit_notes),
            count=len(line.credit_notes),
            sent=line.sent_value,
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
