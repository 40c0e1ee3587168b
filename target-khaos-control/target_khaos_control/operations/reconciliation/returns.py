"""Reading the store for a reconciliation: each return with its documents, a chunk at a time.

A million returns are never held at once (memory stays flat at any size): the returns are
streamed, and each chunk's documents looked up by return id. Each stored record is decoded
into just the fields the comparison reads (msgspec skips the rest), and its items and the
documents' bodies only when the export has a Tax column, the only time the VAT is checked.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Container, Iterator, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import msgspec
import sqlalchemy as sa
from msgspec import UNSET, UnsetType
from sqlalchemy.engine import Connection

from target_khaos_control.documents_of import of_returns
from target_khaos_control.store import (
    chunks,
    document_bodies,
    documents,
    documents_with_bodies,
    return_versions,
    returns_with_records,
    reveni_returns,
)

CHUNK = 2_000  # returns read, and their documents looked up, at a time


class _Record(msgspec.Struct):
    """The fields of a stored Reveni record the comparison reads; UNSET where the record has none."""

    id: Any = UNSET
    order: Any = UNSET
    currency: Any = UNSET
    refund_method: Any = UNSET
    created_at: Any = UNSET
    refunds: Any = UNSET
    exchange_payments: Any = UNSET
    return_items: msgspec.Raw | UnsetType = UNSET  # checked as JSON, decoded only for the VAT


_FIELDS = _Record.__struct_fields__
_DECODE = msgspec.json.Decoder(_Record)
_DOCUMENT = (
    documents.c.associated_ref,
    documents.c.return_id,
    documents.c.state,
    documents.c.first_served_at,
    documents.c.published_at,
)
# A chunk's documents, by their returns' ids (documents_of: through their indexes). Both join the bodies, so a document counts only with its body, whether it is read or not.
_WITHOUT_BODIES = sa.select(*_DOCUMENT).select_from(documents_with_bodies)
_WITH_BODIES = sa.select(*_DOCUMENT, document_bodies.c.body).select_from(documents_with_bodies)


def read_record(stored: str) -> dict[str, object]:
    """A stored Reveni record (money in it is text, never a float); msgspec reads it fast,
    Python's json whatever msgspec refuses (a NaN kept from an unreadable record)."""
    try:
        found = msgspec.json.decode(stored)
    except msgspec.DecodeError:
        found = json.loads(stored)
    return found if isinstance(found, dict) else {}


def record_of(stored: str, *, with_items: bool) -> dict[str, object]:
    """A stored record as the comparison reads it: the fields it needs, as the full record
    has them; `return_items` only `with_items`."""
    try:
        found = _DECODE.decode(stored)
    except msgspec.MsgspecError:  # not JSON msgspec reads (a NaN), or not an object
        record = read_record(stored)
        return record if with_items else {key: value for key, value in record.items() if key != "return_items"}
    record = {name: value for name in _FIELDS if (value := getattr(found, name)) is not UNSET}
    if "return_items" in record:
        items = record.pop("return_items")
        if with_items:
            record["return_items"] = msgspec.json.decode(items)  # type: ignore[call-overload]
    return record


class Document(NamedTuple):
    """A document as the comparison reads it: a plain tuple, whose fields cost a tenth of a
    SQLAlchemy row's to read (the comparison reads each several times)."""

    associated_ref: str
    return_id: str
    state: str
    first_served_at: datetime | None
    published_at: datetime | None
    body: str = ""  # read only when the VAT is checked (with_vat)


class StoredReturns:
    """Every return in the store (in the store's order) with its documents, streamed."""

    def __init__(self, conn: Connection, *, with_vat: bool) -> None:
        """The store's returns; with_vat, their items and their documents' bodies too."""
        self.conn, self.with_vat = conn, with_vat
        self.count = conn.execute(sa.select(sa.func.count()).select_from(reveni_returns)).scalar_one()

    def __len__(self) -> int:
        """How many returns the store holds (for a progress bar)."""
        return int(self.count)

    def __iter__(self) -> Iterator[tuple[dict[str, object], str, list[Document]]]:
        """Each return as (record, return id, its documents)."""
        query = sa.select(reveni_returns.c.return_id, return_versions.c.record).select_from(returns_with_records)
        result = self.conn.execute(query.execution_options(yield_per=CHUNK))  # a server-side cursor on Postgres
        for rows in result.partitions():
            docs = self._documents([row.return_id for row in rows])
            for row in rows:
                yield record_of(row.record, with_items=self.with_vat), row.return_id, docs.get(row.return_id, [])

    def _documents(self, return_ids: Sequence[str]) -> dict[str, list[Document]]:
        query = _WITH_BODIES if self.with_vat else _WITHOUT_BODIES
        found: dict[str, list[Document]] = defaultdict(list)
        for some in chunks(return_ids):
            for row in self.conn.execute(query.where(of_returns(some))).all():  # one fetchall, not a fetchone a row
                doc = Document(*row)
                found[doc.return_id].append(doc)
        return found


def known_references(conn: Connection, wanted: Container[str]) -> set[str]:
    """Those of the `wanted` references that name a document of this integration."""
    query = sa.select(documents.c.associated_ref).select_from(documents_with_bodies)
    found = conn.execute(query.execution_options(yield_per=50_000)).scalars()
    return {ref for ref in found if ref in wanted}
