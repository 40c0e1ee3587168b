"""A reconciliation of any size reads the store a chunk at a time and keeps only its gaps.

Given returns read in chunks (here two at a time), returns without a gap tallied rather than
kept, and records decoded into just the fields compared, expect the same gaps, figures and
report as finance worked them out by hand.
"""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from target_khaos_control.operations import commands
from target_khaos_control.operations.reconciliation import CreditNote, Gap, Report, ReturnLine, returns
from target_khaos_control.operations.reconciliation.report import Tally
from target_khaos_control.store import credit_notes

from tests.test_reconciliation_breaks import a_return, gaps, reconcile, run_reconcile, store_with

NO_TAX = "CreditNoteCode,Date,AssociatedRef,Currency,Gross\n"


def test_returns_read_two_at_a_time_each_meet_their_own_documents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Five returns in chunks of two (2, 2, 1): A, C, E matched; B credited 20.00 of 24.00;
    # D served ten days ago with no credit note yet.
    monkeypatch.setattr(returns, "CHUNK", 2)
    engine = store_with(
        tmp_path,
        a_return("A", "24.00"),
        a_return("B", "24.00"),
        a_return("C", "30.00"),
        a_return("D", "12.50"),
        a_return("E", "8.00"),
    )

    report = reconcile(
        engine,
        tmp_path,
        NO_TAX
        + "CN-A,2026-11-21,RV-A,GBP,24.00\nCN-B,2026-11-21,RV-B,GBP,20.00\n"
        + "CN-C,2026-11-21,RV-C,GBP,30.00\nCN-E,2026-11-21,RV-E,GBP,8.00\n",
    )

    assert gaps(report) == {"B": ["amount_difference"], "D": ["not_confirmed"]}
    summary = report.summary()
    assert (summary["returns_compared"], summary["matched"], summary["match_rate"]) == (5, 3, "60.0%")
    # 24.00 + 24.00 + 30.00 + 12.50 + 8.00 = 98.50 paid; 24.00 + 20.00 + 30.00 + 8.00 = 82.00 credited
    assert report.totals() == {"GBP": {"refunded": "98.50", "credited": "82.00", "gap": "16.50"}}
    assert [line.return_id for line in report.returns] == ["B", "D"]  # only the gaps are kept


def test_tallied_returns_count_in_the_summary_as_their_lines_would() -> None:
    # A gap (52.50 refunded, 50.00 credited), two matched returns of 24.00, one within
    # Khaos's time (10.00, no credit note yet) and one that also refunded 5.00 EUR.
    gap = ReturnLine("gap", "#1", "GBP", Decimal("52.50"), "", ["served"], "", ["CN-1"], Decimal("50.00"))
    gap.gaps = [Gap.AMOUNT_DIFFERENCE]
    others = [
        ReturnLine("m1", "#2", "GBP", Decimal("24.00"), "", ["served"], "", ["CN-2"], Decimal("24.00")),
        ReturnLine("m2", "#3", "GBP", Decimal("24.00"), "", ["served"], "", ["CN-3"], Decimal("24.00")),
        ReturnLine("wait", "#4", "GBP", Decimal("10.00"), "", ["published"], "", [], Decimal("0.00")),
    ]
    others[1].refunded_elsewhere = {"EUR": Decimal("5.00")}
    notes = [
        CreditNote("CN-1", "RV-gap", Decimal("50.00"), "GBP", "2026-11-21"),
        CreditNote("CN-2", "RV-m1", Decimal("24.00"), "GBP", "2026-11-21"),
        CreditNote("CN-3", "RV-m2", Decimal("24.00"), "GBP", "2026-11-21"),
    ]
    tally = Tally()
    for line in others:
        tally.add(line)

    tallied = Report("2026-11-30T12:00:00+00:00", [gap], [], notes, tally=tally)

    summary = tallied.summary()
    assert (summary["returns_compared"], summary["matched"], summary["awaiting_khaos"]) == (4, 2, 1)
    assert summary["match_rate"] == "50.0%"
    assert summary["gaps"] == {"amount_difference": 1}
    # GBP: 52.50 + 24.00 + 24.00 + 10.00 = 110.50 paid, 50.00 + 24.00 + 24.00 = 98.00 credited
    assert summary["totals_by_currency"] == {
        "EUR": {"refunded": "5.00", "credited": "0.00", "gap": "5.00"},
        "GBP": {"refunded": "110.50", "credited": "98.00", "gap": "12.50"},
    }
    # and the same report with every line kept says the same
    assert Report("2026-11-30T12:00:00+00:00", [gap, *others], [], notes).summary() == summary


def test_the_json_report_is_indented_as_python_writes_it_with_text_kept_as_it_is() -> None:
    line = ReturnLine("r-1", 'Zoë "quoted"\tnote', "GBP", Decimal("52.50"), "", [], "", ["CN-1"], Decimal("50.00"))
    line.gaps = [Gap.AMOUNT_DIFFERENCE]

    text = Report("2026-11-30T12:00:00+00:00", [line], []).as_json()

    assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    assert text.startswith('{\n  "summary": {\n    "at": "2026-11-30T12:00:00+00:00",\n')
    assert '\n      "order_number": "Zoë \\"quoted\\"\\tnote",\n' in text
    assert '\n      "refunded": "52.50",\n' in text
    assert '\n      "gaps": [\n        "amount_difference"\n      ],\n' in text


def test_a_record_is_read_with_just_the_fields_compared() -> None:
    stored = json.dumps(
        {
            "id": "r-1",
            "customer": {"email": "a@example.com"},
            "currency": "GBP",
            "refunds": [{"amount": "24.00", "status": "completed"}],
            "return_items": [{"sku": "TEE", "tax_rate": "20.00"}],
        }
    )

    assert returns.record_of(stored, with_items=False) == {
        "id": "r-1",
        "currency": "GBP",
        "refunds": [{"amount": "24.00", "status": "completed"}],
    }
    assert returns.record_of(stored, with_items=True)["return_items"] == [{"sku": "TEE", "tax_rate": "20.00"}]


def test_a_record_msgspec_refuses_is_read_by_python_json_and_one_not_an_object_is_empty() -> None:
    # A NaN kept from an unreadable record: Python's json reads it, as before.
    found = returns.record_of('{"id": "r-1", "refunds": [{"amount": NaN}], "return_items": []}', with_items=False)

    assert found["id"] == "r-1"
    assert "return_items" not in found
    assert returns.record_of("[1, 2]", with_items=True) == {}


def test_a_reconciliation_keeps_its_credit_notes_a_chunk_a_transaction_each_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an export of five credit notes and CN-A's line again (the export counts it once,
    # as its first line says), kept two a transaction (a million: 20,000 a transaction; in one, SQLite's write lock
    # was held 8 to 17 s, past the 10 s a pull or a sync's batch waits for it).
    monkeypatch.setattr(commands, "CREDIT_NOTES_CHUNK", 2)
    engine = store_with(tmp_path, a_return("A", "24.00"), a_return("B", "24.00"))
    export = tmp_path / "credit-notes.csv"
    export.write_text(
        NO_TAX + "CN-A,2026-11-21,RV-A,GBP,20.00\nCN-B,2026-11-21,RV-B,GBP,24.00\nCN-X,2026-11-21,RV-X,GBP,1.00\n"
        "CN-Y,2026-11-21,RV-Y,GBP,2.00\nCN-Z,2026-11-21,RV-Z,GBP,3.00\nCN-A,2026-11-21,RV-A,GBP,24.00\n",
        encoding="utf-8",
    )
    kept: list[int] = []  # the credit notes each transaction inserted

    def begun(_conn: Any) -> None:
        kept.append(0)

    def noted(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool) -> None:
        if statement.startswith("INSERT INTO credit_notes"):
            kept[-1] += len(parameters) if many else 1

    sa.event.listen(engine, "begin", begun)
    sa.event.listen(engine, "before_cursor_execute", noted)
    run_reconcile(engine, export, io.StringIO(), fmt="json")

    assert [count for count in kept if count] == [2, 2, 1]
    with engine.connect() as conn:
        stored = dict(conn.execute(sa.select(credit_notes.c.code, credit_notes.c.gross)).tuples().all())
    assert stored == {
        "CN-A": Decimal("20.00"),
        "CN-B": Decimal("24.00"),
        "CN-X": Decimal("1.00"),
        "CN-Y": Decimal("2.00"),
        "CN-Z": Decimal("3.00"),
    }
