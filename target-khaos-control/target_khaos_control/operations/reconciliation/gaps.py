"""The gaps a reconciliation finds between Reveni's cash and Khaos's credit notes.

A gap's value is what the reports print and `docs/finance.md` lists: never rename one.
"""

from __future__ import annotations

from enum import StrEnum


class Gap(StrEnum):
    """Why a return's credit notes do not (yet) match its cash."""

    REFUNDED_NOT_SENT = "refunded_not_sent"  # held back from Khaos by its exceptions or the rules
    NOT_PULLED = "not_pulled"  # waiting in the channel, Khaos has not collected it
    NOT_CONFIRMED = "not_confirmed"  # served to Khaos, no credit note yet
    IMPORT_FAILED = "import_failed"  # Khaos could not import it and asked for it again
    REFUND_WITHOUT_CREDIT_NOTE = "refund_without_credit_note"  # nothing will ever credit it
    CREDIT_NOTE_WITHOUT_REFUND = "credit_note_without_refund"
    AMOUNT_DIFFERENCE = "amount_difference"
    CURRENCY_MISMATCH = "currency_mismatch"
    DUPLICATE_CREDIT_NOTE = "duplicate_credit_note"  # credited beyond the cash, over two or more notes
    CREDIT_NOTE_VAT_SPLIT = "credit_note_vat_split"
