"""Reconciliation: Reveni's refunds against Khaos Control's credit notes, return by return.

Four parts: `read` (Khaos's credit-note export, row by row), `returns` (the store's
returns and documents, streamed), `compare` (each return's cash against its credit notes)
and `report` (the gaps, the totals, the report's formats);
`gaps` holds the gaps' names, typed.
Every gap becomes an exception too, so nobody finds at month-end that a refund never
became a credit note.
"""

from __future__ import annotations

from target_khaos_control.operations.reconciliation.compare import StockVat, compare, reconcile
from target_khaos_control.operations.reconciliation.gaps import Gap
from target_khaos_control.operations.reconciliation.read import (
    CreditNote,
    CreditNoteExport,
    CreditNoteFileError,
    read_credit_notes,
    read_export,
)
from target_khaos_control.operations.reconciliation.report import (
    AGING,
    GAP_EXCEPTIONS,
    UNKNOWN_REFERENCE,
    Report,
    ReturnLine,
    gap_problems,
    safe_cell,
    write_csv,
)
from target_khaos_control.operations.reconciliation.returns import read_record

__all__ = [
    "AGING",
    "GAP_EXCEPTIONS",
    "UNKNOWN_REFERENCE",
    "CreditNote",
    "CreditNoteExport",
    "CreditNoteFileError",
    "Gap",
    "Report",
    "ReturnLine",
    "StockVat",
    "compare",
    "gap_problems",
    "read_credit_notes",
    "read_export",
    "read_record",
    "reconcile",
    "safe_cell",
    "write_csv",
]
