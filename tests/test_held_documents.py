"""What Khaos holds of a return, read from each document's body and line facts: with its
line facts kept, only ProcessReturn is read of the body, and it reads as the whole body
would, whatever the body holds (issue 22: a whole body, read as Decimal, cost more)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from target_khaos_control.batch_writes import insert_documents
from target_khaos_control.khaos_position import read_positions
from target_khaos_control.store import open_store

from tests.khaos_docs import feed_row

LINES = json.dumps({"a1": {"credit": "12.50", "disposition": "restock", "reason": "4"}})
PRICED = {"ReturnedItems": [{"SKU": "S-1", "Quantity": 2, "UnitPrice": {"Gross": 3.25}}]}


@pytest.mark.parametrize(
    ("body", "lines", "credit", "processed"),
    [
        ({"ProcessReturn": True, "Notes": "x"}, LINES, Decimal("12.50"), True),
        ({"ProcessReturn": False}, LINES, Decimal("12.50"), False),
        ({"Notes": "no ProcessReturn"}, LINES, Decimal("12.50"), False),
        ({"ProcessReturn": "true"}, LINES, Decimal("12.50"), False),  # text is not true
        # a document from before line facts were kept: its credit from its gross prices
        ({**PRICED, "ProcessReturn": True}, "{}", Decimal("6.50"), True),
    ],
)
def test_a_held_documents_credit_and_processing_read_from_its_body(
    tmp_path: Path, body: dict[str, object], lines: str, credit: Decimal, processed: bool
) -> None:
    # given a served document with this body and these line facts
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.begin() as conn:
        insert_documents(conn, [feed_row(1, "served") | {"body": json.dumps(body), "lines": lines}])
    # expect what Khaos holds of it: its credit, and whether it was processed on import
    with engine.connect() as conn:
        (held,) = read_positions(conn, ["1"])["1"].documents
    assert (held.credit, held.processed) == (credit, processed)


def test_a_body_only_pythons_json_reads_is_read_as_before(tmp_path: Path) -> None:
    # given a served document with line facts whose body holds a NaN (json.dumps writes one; msgspec reads none)
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    body = '{"ProcessReturn": true, "Weight": NaN}'
    with engine.begin() as conn:
        insert_documents(conn, [feed_row(1, "served") | {"body": body, "lines": LINES}])
    # expect it read as processed, its credit from its lines
    with engine.connect() as conn:
        (held,) = read_positions(conn, ["1"])["1"].documents
    assert (held.credit, held.processed) == (Decimal("12.50"), True)
