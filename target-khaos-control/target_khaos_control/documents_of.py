"""The documents of returns, by the returns' ids: each return's first document by its
reference, `RV-<id>` (unique, indexed), its follow-ups (sequence 2 on) by the index of them
alone, `ix_documents_follow_ups`. No index holds every document's return id: Reveni's ids
are random, and one would cost each new document a page in a grown store (migration 0021).

A first document is also asked for its sequence, 1: return `x`'s second document, `RV-x-2`,
is never taken for the first of a return whose id is `x-2`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from target_khaos_control.batch_reads import ReadIn
from target_khaos_control.documents import associated_ref
from target_khaos_control.store import FOLLOW_UP, documents

FIRST = documents.c.sequence == 1


def of_returns(return_ids: Sequence[str]) -> sa.ColumnElement[bool]:
    """The condition on `documents` that picks the documents of these returns, through their indexes."""
    refs = [associated_ref(return_id) for return_id in return_ids]
    return sa.or_(
        sa.and_(FIRST, documents.c.associated_ref.in_(refs)),
        sa.and_(FOLLOW_UP, documents.c.return_id.in_(return_ids)),
    )


class DocumentsOf:
    """SELECT `query` (of `documents`, joined or not) of the documents of the returns given,
    in statements of 500 ids (batch_reads.ReadIn); each return's first document before its follow-ups."""

    def __init__(self, query: sa.Select[Any]) -> None:
        """Read what `query` selects of the documents of the return ids given."""
        first: sa.BindParameter[int] = sa.bindparam(
            "first", 1, literal_execute=True
        )  # written into the statement, as the index's is
        self.first = ReadIn(query.where(documents.c.sequence == first), documents.c.associated_ref)
        self.follow_ups = ReadIn(query.where(documents.c.sequence > first), documents.c.return_id)

    def rows(self, conn: Connection, return_ids: Sequence[str]) -> list[Any]:
        """The rows (each with its columns by name) of these returns' documents."""
        refs = [associated_ref(return_id) for return_id in return_ids]
        return self.first.rows(conn, refs) + self.follow_ups.rows(conn, return_ids)
