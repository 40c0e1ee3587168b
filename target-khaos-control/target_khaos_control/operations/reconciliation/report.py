"""The reconciliation's report: what each return's gaps mean, the totals per currency, and
the report as a table, JSON or CSV.

CSV is written with the csv module (quotes, commas and newlines in a cell stay in their
cell), and a cell that a spreadsheet would run as a formula (starting with `=`, `+`, `-`,
`@`, a tab or a carriage return) is written with a leading apostrophe, except a plain
negative amount, which stays a number.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypedDict

import msgspec

from target_khaos_control.exception_kinds import Kind
from target_khaos_control.operations.reconciliation.gaps import Gap
from target_khaos_control.operations.reconciliation.read import CreditNote

AGING = (("0-1 days", 1), ("2-7 days", 7), ("8-30 days", 30), ("over 30 days", None))
GAP_EXCEPTIONS: dict[Gap, tuple[Kind, str]] = {  # gap -> (exception kind, message)
    Gap.REFUNDED_NOT_SENT: (
        Kind.HELD_TOO_LONG,
        "Reveni refunded {refunded} {currency} on {date}; the return is still "
        "held back from Khaos (see its other exceptions)",
    ),
    Gap.NOT_PULLED: (
        Kind.NOT_COLLECTED_BY_KHAOS,
        "Waiting in the channel since {published} but Khaos has not pulled it; Reveni refunded {refunded} {currency}",
    ),
    Gap.NOT_CONFIRMED: (
        Kind.NOT_COLLECTED_BY_KHAOS,
        "Served to Khaos on {served} but no credit note yet; Reveni refunded {refunded} {currency}",
    ),
    Gap.IMPORT_FAILED: (
        Kind.KHAOS_IMPORT_FAILED,
        "Khaos could not import this return (it asked for it again); Reveni refunded {refunded} {currency}",
    ),
    Gap.REFUND_WITHOUT_CREDIT_NOTE: (
        Kind.REFUND_WITHOUT_CREDIT_NOTE,
        "Reveni refunded {refunded} {currency} on {date} but nothing will credit it in Khaos: "
        "every item was rejected or left out, or the return was withdrawn",
    ),
    Gap.CREDIT_NOTE_WITHOUT_REFUND: (
        Kind.CREDIT_NOTE_WITHOUT_REFUND,
        "Khaos has credit note(s) {codes} for {credited} {currency} but Reveni shows no completed refund",
    ),
    Gap.AMOUNT_DIFFERENCE: (
        Kind.AMOUNT_DIFFERENCE,
        "Reveni refunded {refunded} {currency}; Khaos credited {credited} {currency} ({codes}): "
        "a difference of {difference} {currency}",
    ),
    Gap.CURRENCY_MISMATCH: (
        Kind.CURRENCY_MISMATCH,
        "The return is in {currency} but money moved in another currency: {other_codes}",
    ),
    Gap.DUPLICATE_CREDIT_NOTE: (
        Kind.DUPLICATE_CREDIT_NOTE,
        "Khaos credited {credited} {currency} in {count} credit notes ({codes}) for a refund of "
        "{refunded} {currency}: {excess} {currency} beyond the cash",
    ),
    Gap.CREDIT_NOTE_VAT_SPLIT: (
        Kind.CREDIT_NOTE_VAT_SPLIT,
        "Khaos credited {credited} {currency} ({codes}) with VAT {vat_credited}; at the stock items' "
        "rates the VAT is {vat_expected} {currency}",
    ),
}
# A return with no refund whose customer paid a top-up for a dearer exchange item.
TOP_UP_WITHOUT_CHARGE = (
    "The customer paid a {top_up} {currency} exchange top-up on {date} but nothing in Khaos "
    "charges it: every item was rejected or left out, or the return was withdrawn"
)
UNKNOWN_REFERENCE = Kind.CREDIT_NOTE_UNKNOWN_REFERENCE
FORMULA = re.compile(r"^[=+\-@\t\r]")
NUMBER = re.compile(r"^-\d+(\.\d+)?$")
CSV_COLUMNS = [
    "return_id",
    "order_number",
    "currency",
    "refunded",
    "credited",
    "gaps",
    "age_days",
    "credit_notes",
    "states",
]


@dataclass
class ReturnLine:
    """One return's cash, its credit notes and its gaps."""

    return_id: str
    order_number: str
    currency: str
    refunded: Decimal  # completed refunds less completed exchange top-ups, in `currency`
    refunded_at: str  # the last money movement: a refund, or a top-up the customer paid
    states: list[str]
    served_at: str
    credit_notes: list[str]
    credited: Decimal  # the credit notes in `currency`
    other_currency_notes: list[str] = field(default_factory=list)  # never added to `credited`
    published_at: str = ""
    gaps: list[Gap] = field(default_factory=list)
    age_days: int = 0
    hold_days: int = 14
    top_up: Decimal = Decimal(0)  # what the customer paid on top, in `currency`
    refunded_elsewhere: dict[str, Decimal] = field(default_factory=dict)  # refunds in other currencies
    method: str = "cash"  # cash, or store credit (store credit and gift cards: liabilities)
    created_at: str = ""
    vat_refunded: Decimal | None = None  # the VAT in the cash, at the stock items' rates
    vat_credited: Decimal | None = None  # the credit notes' Tax
    vat_expected: Decimal | None = None  # the VAT of what was credited, at the stock items' rates
    vat_lines: int = 1

    @property
    def matched(self) -> bool:
        """The credit notes add up, in the return's currency, to exactly what Reveni paid."""
        return not self.gaps and not self.other_currency_notes and self.credited == self.refunded


@dataclass
class Tally:
    """The returns without a gap, counted rather than kept as lines (a million matched
    returns need no line each): what the summary and the totals take from them."""

    compared: int = 0  # with a refund or a credit note
    matched: int = 0
    awaiting: int = 0  # no credit note yet, and no gap yet
    refunded: dict[str, Decimal] = field(default_factory=dict)  # currency -> what Reveni paid

    def add(self, line: ReturnLine) -> None:
        """Count a line without a gap."""
        self.refunded[line.currency] = self.refunded.get(line.currency, Decimal("0.00")) + line.refunded
        for currency, amount in line.refunded_elsewhere.items():
            self.refunded[currency] = self.refunded.get(currency, Decimal("0.00")) + amount
        if line.refunded != 0 or line.credit_notes:
            self.compared += 1
            if line.matched:
                self.matched += 1
            else:
                self.awaiting += 1


class Summary(TypedDict):
    """A reconciliation's figures (amounts as text)."""

    at: str
    returns_compared: int
    matched: int
    match_rate: str
    awaiting_khaos: int
    gaps: dict[str, int]  # gap -> how many returns have it
    aging: dict[str, int]  # age bucket -> gaps that old
    totals_by_currency: dict[str, dict[str, str]]  # currency -> refunded, credited, gap
    credit_notes_for_unknown_returns: list[str]
    rows_not_counted: list[str]
    repeated_rows: list[str]


@dataclass
class Report:
    """A reconciliation: the compared returns (those with a gap at least; the rest may be
    tallied), and the export's notes and unread rows."""

    at: str
    returns: list[ReturnLine]
    unknown_notes: list[CreditNote]  # for references this integration never sent
    notes: list[CreditNote] = field(default_factory=list)  # the credit notes of known returns
    rejected_rows: list[str] = field(default_factory=list)  # rows of the export not counted
    repeated_rows: list[str] = field(default_factory=list)  # the same credit note again
    tally: Tally = field(default_factory=Tally)  # the returns without a gap not in `returns`

    @property
    def unknown_credit_notes(self) -> list[str]:
        """The codes of credit notes for references this integration never sent."""
        return sorted(note.code for note in self.unknown_notes)

    def totals(self) -> dict[str, dict[str, str]]:
        """Per currency: what Reveni paid out, what Khaos credited, and the gap. Every
        currency money moved in has its row; currencies are never added together."""
        refunded: dict[str, Decimal] = defaultdict(lambda: Decimal("0.00"))
        credited: dict[str, Decimal] = defaultdict(lambda: Decimal("0.00"))
        for currency, amount in self.tally.refunded.items():
            refunded[currency] += amount
        for line in self.returns:
            refunded[line.currency] += line.refunded
            for currency, amount in line.refunded_elsewhere.items():
                refunded[currency] += amount
        for note in self.notes:
            credited[note.currency] += note.gross
        return {
            currency: {
                "refunded": str(refunded[currency]),
                "credited": str(credited[currency]),
                "gap": str(refunded[currency] - credited[currency]),
            }
            for currency in sorted(set(refunded) | set(credited))
        }

    def summary(self) -> Summary:
        """The figures of the reconciliation: returns compared and matched, gaps, aging and totals."""
        with_refund = [line for line in self.returns if line.refunded != 0 or line.credit_notes]
        matched = [line for line in with_refund if line.matched]
        awaiting = [line for line in with_refund if not line.gaps and not line.matched]
        gaps: Counter[Gap] = Counter(gap for line in self.returns for gap in line.gaps)
        aging: Counter[str] = Counter(bucket(line.age_days) for line in self.returns if line.gaps)
        compared = len(with_refund) + self.tally.compared
        return {
            "at": self.at,
            "returns_compared": compared,
            "matched": len(matched) + self.tally.matched,
            "match_rate": f"{(len(matched) + self.tally.matched) / compared:.1%}" if compared else "n/a",
            "awaiting_khaos": len(awaiting) + self.tally.awaiting,
            "gaps": dict(sorted(gaps.items())),
            "aging": {label: aging.get(label, 0) for label, _ in AGING},
            "totals_by_currency": self.totals(),
            "credit_notes_for_unknown_returns": self.unknown_credit_notes,
            "rows_not_counted": self.rejected_rows,
            "repeated_rows": self.repeated_rows,
        }

    def as_json(self) -> str:
        """The summary and each return with a gap, as JSON (amounts as exact text)."""
        lines = [vars(line) for line in self.returns if line.gaps]  # flat fields: no deep copy needed
        # Amounts as exact decimal strings, never floats. msgspec writes what json.dumps(indent=2,
        # ensure_ascii=False) would, byte for byte, ten times faster (a million returns' gaps).
        found = msgspec.json.encode({"summary": self.summary(), "gaps": lines}, enc_hook=str)
        return msgspec.json.format(found, indent=2).decode()

    def as_csv(self) -> str:
        """Each return with a gap, as CSV."""
        rows = [
            (
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
            for line in self.returns
            if line.gaps
        ]
        return write_csv(CSV_COLUMNS, rows)

    def as_table(self) -> str:
        """The summary and the gaps as a table for a person to read."""
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
        if self.repeated_rows:
            out += ["", "Rows repeated in the export (each credit note counted once):"]
            out += [f"  {row}" for row in self.repeated_rows]
        if self.rejected_rows:
            out += ["", "Rows of the export not counted (fix the export and run again):"]
            out += [f"  {row}" for row in self.rejected_rows]
        return "\n".join(out) + "\n"


def gap_problems(line: ReturnLine) -> list[tuple[Kind, str]]:
    """Each gap of a line as (exception kind, message)."""
    found = []
    for gap in line.gaps:
        if gap == Gap.REFUNDED_NOT_SENT and line.age_days <= line.hold_days:
            continue  # held for now: the return's own exceptions say why
        kind, template = GAP_EXCEPTIONS[gap]
        if gap == Gap.REFUND_WITHOUT_CREDIT_NOTE and line.refunded < 0:
            template = TOP_UP_WITHOUT_CHARGE
        elsewhere = [f"refund {amount} {currency}" for currency, amount in line.refunded_elsewhere.items()]
        message = template.format(
            refunded=line.refunded,
            credited=line.credited,
            difference=line.refunded - line.credited,
            excess=line.credited - line.refunded,
            currency=line.currency,
            date=line.refunded_at[:10] or "an unknown date",
            codes=", ".join(line.credit_notes),
            count=len(line.credit_notes),
            other_codes=", ".join(elsewhere + line.other_currency_notes),
            served=line.served_at[:16] or "?",
            published=line.published_at[:16] or "?",
            top_up=-line.refunded,
            vat_credited=line.vat_credited,
            vat_expected=line.vat_expected,
        )
        found.append((kind, message))
    return found


def bucket(days: int) -> str:
    """The age bucket of a gap `days` old."""
    for label, limit in AGING:
        if limit is None or days <= limit:
            return label
    return AGING[-1][0]


def safe_cell(value: object) -> str:
    """A cell a spreadsheet shows as text: never a live formula."""
    text = "" if value is None else str(value)
    if FORMULA.match(text) and not NUMBER.match(text):
        return "'" + text
    return text


def write_csv(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    """Rows as CSV text, every cell neutralised."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(list(header))
    writer.writerows([safe_cell(value) for value in row] for row in rows)
    return out.getvalue()
