"""`reveni-khaos close`: the month-end close as a table to read, and the accountant's export
(every return of the period, matched or not, with net, VAT and gross, and the totals) as
CSV and as an .xlsx workbook with one sheet per currency.

Amounts stay Decimal to the last cell; text cells that a spreadsheet would run as a
formula are neutralised (`safe_cell`), in the CSV and in the workbook alike.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import TextIO, TypedDict

from sqlalchemy.engine import Engine

from target_khaos_control.operations import reconciliation
from target_khaos_control.operations.commands import keep_credit_notes
from target_khaos_control.operations.month_end import CASH, Close, CloseLine, Period, close_period
from target_khaos_control.run_log import record_run
from target_khaos_control.served_marks import settled_first
from target_khaos_control.store import now

COLUMNS = [
    "period",
    "return_id",
    "order_number",
    "currency",
    "refund_method",
    "paid_in_period",
    "paid_to_date_gross",
    "paid_to_date_vat",
    "paid_to_date_net",
    "credited_gross",
    "credited_vat",
    "credited_net",
    "difference",
    "status",
    "age_days",
    "credit_notes",
]
TOTAL_COLUMNS = ["currency", "refund_method", "figure", "count", "amount", "oldest_age_days"]


def run_close(
    engine: Engine,
    period: Period,
    export: Path,
    *,
    columns: dict[str, str] | None,
    tax_rates: dict[str, Decimal],
    unconfirmed_hours: float,
    payouts: list[tuple[Decimal, str]],
    output: Path,
    out: TextIO = sys.stdout,
) -> int:
    """Keep the export's credit notes, close the period, print it and write its two files."""
    read = reconciliation.read_export(export, columns)
    moment = now()
    settled_first(engine)  # what Khaos was served by the period's end
    keep_credit_notes(engine, read.notes, moment)
    with engine.begin() as conn:
        close = close_period(
            conn, period, notes=read.notes, tax_rates=tax_rates, unconfirmed_after=timedelta(hours=unconfirmed_hours)
        )
        close.tie_out(payouts)
        record_run(conn, "close", moment, {"period": period.name, **summary(close)})
    csv_path, xlsx_path = output.with_suffix(".csv"), output.with_suffix(".xlsx")
    output.parent.mkdir(parents=True, exist_ok=True)
    csv_path.write_text(as_csv(close), encoding="utf-8")
    write_workbook(close, xlsx_path)
    print(as_table(close, read.rejected + read.repeated), file=out, end="")
    print(f"The accountant's export: {csv_path} and {xlsx_path}", file=out)
    return 0


class GapFigure(TypedDict):
    """One kind of gap in a close: how many, how much, how old the oldest."""

    count: int
    amount: str
    oldest_age_days: int


class CloseFigures(TypedDict):
    """A close's figures for one currency and refund method (amounts as text)."""

    paid_out: str
    credited: str
    matched: str
    gaps: dict[str, GapFigure]


def summary(close: Close) -> dict[str, CloseFigures]:
    """The close's figures as plain values (amounts as text): the run's record, the dashboard's."""
    return {
        f"{currency} {method}": {
            "paid_out": str(f.paid_out),
            "credited": str(f.credited),
            "matched": str(f.matched),
            "gaps": {
                gap: {"count": c, "amount": str(a), "oldest_age_days": age} for gap, (c, a, age) in f.gaps.items()
            },
        }
        for (currency, method), f in close.figures.items()
    }


def as_table(close: Close, unread: list[str] | None = None) -> str:
    """The close for a person: per currency and refund method, then the tie-out lines."""
    out = [
        f"Month-end close {close.period.name} (as of {close.period.end.isoformat()}): "
        f"{len(close.lines)} returns, {sum(entry.of_period for entry in close.lines)} of the period, "
        f"{sum(entry.late for entry in close.lines)} first heard of after its end (late)",
        "",
        f"  {'currency':<9}{'method':<14}{'figure':<34}{'count':>6}{'amount':>13}{'oldest':>8}",
    ]
    for row in total_rows(close):
        currency, method, figure, count, amount, oldest = row
        out.append(f"  {currency:<9}{method:<14}{figure:<34}{count:>6}{amount!s:>13}{oldest:>8}")
    for currency, amount in close.unknown_credited.items():
        out.append(f"  {currency:<9}{'':<14}{'credited, no Reveni return':<34}{'':>6}{amount!s:>13}")
    out += [""] + (close.tie_outs or ["No payout total given: no tie-out (--payout-total AMOUNT CURRENCY)"])
    problems = close.not_counted + (unread or [])
    if problems:
        out += ["", "Credit notes not counted (fix the export and run again):"] + [f"  {p}" for p in problems]
    return "\n".join(out) + "\n"


def total_rows(close: Close) -> Iterator[tuple[str, str, str, int | str, Decimal, int | str]]:
    """(currency, method, figure, count, amount, oldest age) for every figure of the close."""
    for (currency, method), figures in close.figures.items():
        yield currency, method, "paid out by Reveni", "", figures.paid_out, ""
        yield currency, method, "credited by Khaos", "", figures.credited, ""
        yield currency, method, "matched", "", figures.matched, ""
        for gap, (count, amount, oldest) in sorted(figures.gaps.items()):
            yield currency, method, f"gap: {gap}", count, amount, oldest


def return_row(close: Close, entry: CloseLine) -> list[object]:
    """One return of the export: cash and credit, each as net, VAT and gross."""
    line = entry.line
    vat = line.vat_refunded
    return [
        (close.period.name if entry.of_period else "earlier") + (" (late)" if entry.late else ""),
        line.return_id,
        line.order_number,
        line.currency,
        line.method,
        entry.paid_in_period.get(line.currency, Decimal("0.00")),
        line.refunded,
        vat if vat is not None else "",
        line.refunded - vat if vat is not None else "",
        line.credited,
        entry.credited_tax if entry.credited_tax is not None else "",
        entry.credited_net if entry.credited_net is not None else "",
        line.refunded - line.credited,
        entry.status,
        line.age_days,
        " ".join(line.credit_notes),
    ]


def as_csv(close: Close) -> str:
    """Every return of the close, then a blank row and the totals."""
    rows: list[list[object]] = [return_row(close, entry) for entry in close.lines]
    rows += [[], list[object](TOTAL_COLUMNS)]
    rows += [list(row) for row in total_rows(close)]
    rows += [[*line.split(": ", 1), "", "", "", ""] for line in close.tie_outs]
    return reconciliation.write_csv(COLUMNS, rows)


def write_workbook(close: Close, path: Path) -> None:
    """One sheet per currency: its returns, then its totals; amounts as numbers."""
    try:
        from openpyxl import Workbook
    except ImportError:
        raise ValueError(
            "the .xlsx export needs openpyxl, in the `channel` extra: pip install 'target-khaos-control[channel]'"
        ) from None

    book = Workbook()
    for blank in book.worksheets:  # a new workbook's empty first sheet
        book.remove(blank)
    currencies = sorted({entry.line.currency for entry in close.lines} | {c for c, _ in close.figures})
    for currency in currencies or [CASH]:
        sheet = book.create_sheet(title=currency)
        sheet.append(COLUMNS)
        for entry in close.lines:
            if entry.line.currency == currency:
                sheet.append([_cell(value) for value in return_row(close, entry)])
        sheet.append([])
        sheet.append(TOTAL_COLUMNS)
        for row in total_rows(close):
            if row[0] == currency:
                sheet.append([_cell(value) for value in row])
        for line in close.tie_outs:
            if f" {currency} " in f"{line} ":
                sheet.append([_cell(line)])
    book.save(path)


def _cell(value: object) -> object:
    """Numbers stay numbers; text never becomes a formula."""
    if isinstance(value, Decimal | int):
        return value
    return reconciliation.safe_cell(value)
