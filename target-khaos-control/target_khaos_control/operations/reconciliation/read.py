"""Reading Khaos Control's credit-note export: every row either becomes a credit note or
one reported line naming the file, the line and what is wrong; the rest is reconciled.

Sign convention: a credit note is money owed to the customer, whatever sign the export
prints it with. Khaos's export shows it positive (Gross 24.00); an export that shows
credits negative (Gross -24.00) is read the same, as long as Net, Tax and Gross agree in
sign. A row whose figures disagree in sign is reported, never guessed.

A credit note code is Khaos's own key: the same code twice is one credit note (counted
once, the repeat reported). Amounts must be finite, whole pennies and fit the store
(18 digits); codes and dates their columns; a NUL or a short row is reported.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import NamedTuple

# The columns of Khaos Control's credit-note export; a client whose export differs maps
# its own headers with the `credit_note_columns` setting. Net and Tax are optional: without
# them the VAT split is not checked.
DEFAULT_COLUMNS = {
    "code": "CreditNoteCode",
    "associated_ref": "AssociatedRef",
    "gross": "Gross",
    "currency": "Currency",
    "date": "Date",
    "net": "Net",
    "tax": "Tax",
}
OPTIONAL = ("net", "tax")
CODE_LENGTH, DATE_LENGTH = 40, 40  # the store's `credit_notes` columns
LARGEST = Decimal(10) ** 16  # Numeric(18, 2): 16 digits before the point
PENNY = Decimal("0.01")


class CreditNoteFileError(ValueError):
    """The export as a whole cannot be read (no file, a missing column)."""


class BadRow(ValueError):
    """One row of the export that cannot be read."""


@dataclass(frozen=True, slots=True)  # slots: a million credit notes held at once, no dict each
class CreditNote:
    """One credit note of Khaos's export, its amounts as a credit (positive)."""

    code: str
    associated_ref: str
    gross: Decimal
    currency: str
    date: str
    net: Decimal | None = None
    tax: Decimal | None = None
    line: int = 0  # its line in the export


@dataclass
class CreditNoteExport:
    """What an export holds: its credit notes, and each row that was not counted, and why."""

    notes: list[CreditNote] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # `file:line: what is wrong`
    repeated: list[str] = field(default_factory=list)  # the same credit note code again


def read_export(path: Path, columns: dict[str, str] | None = None) -> CreditNoteExport:
    """Every row of the export: a credit note, or a reported line."""
    names = {**DEFAULT_COLUMNS, **(columns or {})}
    export = CreditNoteExport()
    seen: dict[str, CreditNote] = {}
    try:
        with path.open(newline="", encoding="utf-8-sig", errors="replace") as source:
            reader = csv.reader(source)  # rows as lists, each cell found by its column's index: no dict a row
            headers = next(reader, None) or []
            missing = [header for key, header in names.items() if key not in OPTIONAL and header not in headers]
            if missing:
                raise CreditNoteFileError(
                    f"{path}: no column {', '.join(missing)}; map the export's headers with "
                    "the `credit_note_columns` setting"
                )
            wanted = {key: header for key, header in names.items() if header in headers}
            # A header named twice is read from its last column, as a csv.DictReader would.
            indices = [(key, header, len(headers) - 1 - headers[::-1].index(header)) for key, header in wanted.items()]
            shape = _Shape(len(headers), len(set(headers)))
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as error:
                    export.rejected.append(f"{path}:{reader.line_num}: not a CSV row ({error})")
                    continue
                if not row:
                    continue  # a blank line is no row
                try:
                    note = _note(row, indices, shape, wanted, reader.line_num)
                except BadRow as error:
                    export.rejected.append(f"{path}:{reader.line_num}: {error}")
                    continue
                first = seen.get(note.code)
                if first is None:
                    seen[note.code] = note
                    export.notes.append(note)
                    continue
                where = f"{path}:{reader.line_num}"  # only for a repeated row: a million good rows need none
                if _same(first, note):
                    export.repeated.append(f"{where}: {note.code} again (line {first.line}), counted once")
                else:
                    export.rejected.append(
                        f"{where}: {note.code} again with other figures than line {first.line} "
                        f"({note.gross} {note.currency} for {note.associated_ref}): line {first.line} counted"
                    )
    except OSError as error:
        raise CreditNoteFileError(f"{path}: cannot read ({error.strerror})") from None
    return export


def read_credit_notes(path: Path, columns: dict[str, str] | None = None) -> list[CreditNote]:
    """The export's readable credit notes, each code once."""
    return read_export(path, columns).notes


class _Shape(NamedTuple):
    """How many cells a row has under the export's headers, and how many columns they name."""

    cells: int
    columns: int  # a header named twice is one column


def _note(
    row: list[str], indices: list[tuple[str, str, int]], shape: _Shape, names: dict[str, str], line: int
) -> CreditNote:
    if len(row) > shape.cells:
        raise BadRow(f"{shape.columns + len(row) - shape.cells} cells for {shape.columns} columns")
    cells: dict[str, str] = {}
    for key, header, index in indices:
        if index >= len(row):
            raise BadRow(f"a short row: no {header}")
        value = row[index]
        if "\x00" in value:
            raise BadRow(f"{header} holds a NUL character")
        cells[key] = value.strip()
    code, currency, date = cells["code"], cells["currency"], cells["date"]
    if not code or len(code) > CODE_LENGTH:
        raise BadRow(f"{names['code']} {code[:60]!r} is not a credit note code (1 to {CODE_LENGTH} characters)")
    if len(currency) != 3 or not currency.isascii() or not currency.isalpha():
        raise BadRow(f"{names['currency']} {currency[:60]!r} is not a currency code (three letters)")
    if len(date) > DATE_LENGTH:
        raise BadRow(f"{names['date']} {date[:60]!r}... is longer than {DATE_LENGTH} characters")
    gross = _amount(cells["gross"], names["gross"])
    net = _amount(cells["net"], names["net"]) if cells.get("net") else None
    tax = _amount(cells["tax"], names["tax"]) if cells.get("tax") else None
    signs = {amount > 0 for amount in (gross, net, tax) if amount is not None and amount != 0}
    if len(signs) > 1:
        raise BadRow(f"{names['gross']} {gross}, {names.get('net')} {net} and {names.get('tax')} {tax} differ in sign")
    return CreditNote(
        code,
        cells["associated_ref"],
        abs(gross),
        sys.intern(currency.upper()),  # one string for every GBP and every date: a million notes share them
        sys.intern(date),
        abs(net) if net is not None else None,
        abs(tax) if tax is not None else None,
        line,
    )


def _amount(text: str, header: str) -> Decimal:
    """An amount in whole pennies the store can hold: never NaN, infinite or 1e999999."""
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise BadRow(f"{header} {text[:60]!r} is not an amount") from None
    if not amount.is_finite() or amount.copy_abs() >= LARGEST:
        raise BadRow(f"{header} {text[:60]!r} is not an amount (not finite, or too large)")
    pennies = amount.quantize(PENNY)
    if amount != pennies:
        raise BadRow(f"{header} {text[:60]!r} is not a whole number of pennies")
    return pennies


def _same(first: CreditNote, again: CreditNote) -> bool:
    return (first.associated_ref, first.gross, first.currency, first.net, first.tax) == (
        again.associated_ref,
        again.gross,
        again.currency,
        again.net,
        again.tax,
    )
